// A fake AI provider on 127.0.0.1 that speaks OpenAI/DeepSeek Chat Completions and Anthropic Messages,
// as JSON and as SSE, so proxy tests and benchmarks never touch the network. Each POST to a chat endpoint
// takes the next scripted behaviour (or `defaultBehaviour`) and is recorded in `requests`.
// Standalone: `bun tests/support/fake_upstream.ts --port 9100`.
import { parseArgs } from "node:util";

/** How the fake answers one request; every field is optional. */
export interface FakeBehaviour {
  /** HTTP status to answer (default 200); non-2xx answers the provider's error JSON. */
  status?: number;
  /** Wait before sending response headers (for timeout tests). */
  delayMs?: number;
  /** Assistant text (default "Hello from the fake upstream"). */
  content?: string;
  /** Token counts; defaults 12 / 7 / 0. `prompt` includes `cached`, as OpenAI counts it. */
  usage?: { prompt?: number; completion?: number; cached?: number };
  /** Send no usage at all (JSON and stream). */
  omitUsage?: boolean;
  /** Pause between stream chunks (default 0). */
  chunkDelayMs?: number;
  /** Streaming: cut the connection abruptly after N content chunks. */
  failAfterChunks?: number;
  /** Never send response headers: hold the request until the client gives up. */
  hang?: boolean;
  /** Streaming: after N content chunks send nothing more, never ending the stream, until the client gives up. */
  stallAfterChunks?: number;
  /** Custom error JSON for non-2xx; a string is sent verbatim. */
  errorBody?: unknown;
  /** Extra response headers (e.g. `retry-after` on a 429). */
  headers?: Record<string, string>;
}

/** One request as the fake received it; header names are lowercase, `body` is parsed JSON (or null). */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
}

/** A running fake upstream started by `startFakeUpstream`. */
export interface FakeUpstream {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** url + "/v1" (what OPENAI_BASE_URL / DEEPSEEK_BASE_URL point at). */
  openaiBaseUrl: string;
  /** url (the Anthropic client posts to baseUrl + "/v1/messages"). */
  anthropicBaseUrl: string;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Queue behaviours for the next requests, in order; when the queue is empty `defaultBehaviour` applies. */
  script(...behaviours: FakeBehaviour[]): void;
  /** Behaviour used when the script queue is empty. */
  defaultBehaviour: FakeBehaviour;
  /** Clears requests, queue, and defaultBehaviour back to {}. */
  reset(): void;
  /** Requests whose answer has not been sent completely yet (a hanging or stalled one stays until its client leaves). */
  openRequests(): number;
  /** How many requests their client abandoned before the answer was complete (an aborted wait or a cancelled stream). */
  abandoned: number;
  /** Stops listening and closes open connections; safe to call twice. */
  stop(): Promise<void>;
}

const defaultContent = "Hello from the fake upstream";
const defaultPrompt = 12;
const defaultCompletion = 7;
const encoder = new TextEncoder();
// Gives the socket time to flush the chunks already written before the connection is reset.
const cutFlushMs = 20;

/** Models listed by `GET /v1/models`. */
const models = [
  { id: "gpt-4o-mini", owned_by: "openai" },
  { id: "gpt-4o", owned_by: "openai" },
  { id: "deepseek-chat", owned_by: "deepseek" },
  { id: "deepseek-reasoner", owned_by: "deepseek" },
  { id: "claude-sonnet-4-5", owned_by: "anthropic" },
];

/** Resolved token counts of one answer. */
interface Tokens {
  prompt: number;
  completion: number;
  cached: number;
}

/** One server-sent event frame, the point where the connection is cut, or where the stream stalls for good. */
type Frame = string | "cut" | "stall";

function tokensOf(behaviour: FakeBehaviour): Tokens {
  return {
    prompt: behaviour.usage?.prompt ?? defaultPrompt,
    completion: behaviour.usage?.completion ?? defaultCompletion,
    cached: behaviour.usage?.cached ?? 0,
  };
}

/** Splits text into word-sized pieces whose concatenation is the text itself. */
function splitContent(text: string): string[] {
  return text.split(/(?=\s)/).filter((piece) => piece.length > 0);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers });
}

function customError(status: number, body: unknown): Response {
  if (typeof body === "string") {
    let isJson = true;
    try {
      JSON.parse(body);
    } catch {
      isJson = false;
    }
    return new Response(body, {
      status,
      headers: { "content-type": isJson ? "application/json" : "text/plain; charset=utf-8" },
    });
  }
  return json(status, body);
}

/**
 * Inserts the cut marker after `failAfterChunks` content frames (or after the last one when there are fewer),
 * or the stall marker after `stallAfterChunks`.
 */
function withCut(preamble: Frame[], content: Frame[], rest: Frame[], failAfterChunks: number | undefined, stallAfterChunks?: number): Frame[] {
  if (stallAfterChunks !== undefined) return [...preamble, ...content.slice(0, Math.max(0, stallAfterChunks)), "stall"];
  if (failAfterChunks === undefined) return [...preamble, ...content, ...rest];
  const kept = content.slice(0, Math.max(0, failAfterChunks));
  return [...preamble, ...kept, "cut"];
}


/**
 * Streams frames one per pull; on "cut" it errors the body, which makes Bun reset the TCP connection; on
 * "stall" it never pulls again, so only the client can end the stream.
 */
function sseResponse(frames: Frame[], chunkDelayMs: number, headers: Record<string, string>, abandoned: () => void): Response {
  let next = 0;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next > 0 && chunkDelayMs > 0) await Bun.sleep(chunkDelayMs);
      const frame = frames[next++];
      try {
        if (frame === "stall") return await new Promise<void>(() => undefined);
        if (frame === "cut") {
          done = true;
          await Bun.sleep(cutFlushMs);
          // An undefined reason resets the socket without Bun logging an error.
          controller.error(undefined);
          return;
        }
        if (frame !== undefined) controller.enqueue(encoder.encode(frame));
        if (next >= frames.length) {
          done = true;
          controller.close();
        }
      } catch {
        // The client went away while we were sleeping; nothing left to do.
      }
    },
    cancel() {
      if (!done) abandoned();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...headers },
  });
}

// ---------------------------------------------------------------- OpenAI / DeepSeek

function openaiError(status: number, message: string, type: string, code: string | null): Response {
  return json(status, { error: { message, type, param: null, code } });
}

function openaiStatusError(status: number): Response {
  if (status === 400) return openaiError(status, "Bad request (fake upstream)", "invalid_request_error", "invalid_request_error");
  if (status === 401) return openaiError(status, "Incorrect API key provided (fake upstream)", "invalid_request_error", "invalid_api_key");
  if (status === 403) return openaiError(status, "Permission denied (fake upstream)", "permission_error", "permission_denied");
  if (status === 404) return openaiError(status, "The model does not exist (fake upstream)", "invalid_request_error", "model_not_found");
  if (status === 429) return openaiError(status, "Rate limit reached (fake upstream)", "rate_limit_exceeded", "rate_limit_exceeded");
  if (status >= 500) return openaiError(status, "The server had an error while processing your request (fake upstream)", "server_error", "server_error");
  return openaiError(status, `Upstream answered ${status} (fake upstream)`, "api_error", "api_error");
}

function openaiUsage(model: string, tokens: Tokens): Record<string, unknown> {
  const usage: Record<string, unknown> = {
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
    total_tokens: tokens.prompt + tokens.completion,
    prompt_tokens_details: { cached_tokens: tokens.cached },
  };
  if (model.toLowerCase().startsWith("deepseek")) {
    usage.prompt_cache_hit_tokens = tokens.cached;
    usage.prompt_cache_miss_tokens = tokens.prompt - tokens.cached;
  }
  return usage;
}

function openaiCompletion(id: string, model: string, behaviour: FakeBehaviour): Response {
  const content = behaviour.content ?? defaultContent;
  const completion: Record<string, unknown> = {
    id,
    object: "chat.completion",
    created: nowSeconds(),
    model,
    choices: [
      { index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" },
    ],
  };
  if (!behaviour.omitUsage) completion.usage = openaiUsage(model, tokensOf(behaviour));
  return json(200, completion, { "x-request-id": `req_${id}` });
}

function openaiStream(id: string, model: string, behaviour: FakeBehaviour, includeUsage: boolean, abandoned: () => void): Response {
  const created = nowSeconds();
  const sendUsage = includeUsage && !behaviour.omitUsage;
  const frame = (payload: Record<string, unknown>) => `data: ${JSON.stringify(payload)}\n\n`;
  const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
    frame({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      // With include_usage OpenAI sends `usage: null` on every chunk but the last.
      ...(sendUsage ? { usage: null } : {}),
    });
  const preamble = [chunk({ role: "assistant", content: "" }, null)];
  const content = splitContent(behaviour.content ?? defaultContent).map((piece) => chunk({ content: piece }, null));
  const rest = [chunk({}, "stop")];
  if (sendUsage) {
    rest.push(frame({ id, object: "chat.completion.chunk", created, model, choices: [], usage: openaiUsage(model, tokensOf(behaviour)) }));
  }
  rest.push("data: [DONE]\n\n");
  const frames = withCut(preamble, content, rest, behaviour.failAfterChunks, behaviour.stallAfterChunks);
  return sseResponse(frames, behaviour.chunkDelayMs ?? 0, { "x-request-id": `req_${id}` }, abandoned);
}

async function chatCompletions(request: Request, body: any, behaviour: FakeBehaviour, nextId: () => number, abandoned: () => void): Promise<Response> {
  const authorization = request.headers.get("authorization") ?? "";
  if (!/^Bearer\s+\S/i.test(authorization)) {
    return openaiError(401, "You didn't provide an API key (fake upstream)", "invalid_request_error", "invalid_api_key");
  }
  if (body === undefined) return openaiError(400, "The request body is not valid JSON (fake upstream)", "invalid_request_error", "invalid_json");
  if (!body || typeof body !== "object" || !Array.isArray(body.messages)) {
    return openaiError(400, "Missing required parameter: 'messages' (fake upstream)", "invalid_request_error", "missing_required_parameter");
  }
  const status = behaviour.status ?? 200;
  if (status < 200 || status > 299) {
    return behaviour.errorBody !== undefined ? customError(status, behaviour.errorBody) : openaiStatusError(status);
  }
  const id = `chatcmpl-fake-${nextId()}`;
  const model = String(body.model ?? "");
  if (body.stream === true) return openaiStream(id, model, behaviour, body.stream_options?.include_usage === true, abandoned);
  return openaiCompletion(id, model, behaviour);
}

// ---------------------------------------------------------------- Anthropic

function anthropicError(status: number, type: string, message: string): Response {
  return json(status, { type: "error", error: { type, message } });
}

function anthropicStatusError(status: number): Response {
  const types: Record<number, string> = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
  };
  const type = types[status] ?? "api_error";
  return anthropicError(status, type, `Upstream answered ${status}: ${type} (fake upstream)`);
}

function anthropicUsage(tokens: Tokens): Record<string, number> {
  return {
    input_tokens: tokens.prompt - tokens.cached,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: tokens.cached,
    output_tokens: tokens.completion,
  };
}

function anthropicMessage(id: string, model: string, behaviour: FakeBehaviour): Response {
  const message: Record<string, unknown> = {
    id,
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: behaviour.content ?? defaultContent }],
    stop_reason: "end_turn",
    stop_sequence: null,
  };
  if (!behaviour.omitUsage) message.usage = anthropicUsage(tokensOf(behaviour));
  return json(200, message, { "request-id": `req_${id}` });
}

function anthropicStream(id: string, model: string, behaviour: FakeBehaviour, abandoned: () => void): Response {
  const tokens = tokensOf(behaviour);
  const event = (name: string, payload: Record<string, unknown>) => `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
  const startMessage: Record<string, unknown> = {
    id,
    type: "message",
    role: "assistant",
    model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
  };
  if (!behaviour.omitUsage) startMessage.usage = { ...anthropicUsage(tokens), output_tokens: 1 };
  const preamble = [
    event("message_start", { type: "message_start", message: startMessage }),
    event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    event("ping", { type: "ping" }),
  ];
  const content = splitContent(behaviour.content ?? defaultContent).map((text) =>
    event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }),
  );
  const rest = [
    event("content_block_stop", { type: "content_block_stop", index: 0 }),
    event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      ...(behaviour.omitUsage ? {} : { usage: { output_tokens: tokens.completion } }),
    }),
    event("message_stop", { type: "message_stop" }),
  ];
  const frames = withCut(preamble, content, rest, behaviour.failAfterChunks, behaviour.stallAfterChunks);
  return sseResponse(frames, behaviour.chunkDelayMs ?? 0, { "request-id": `req_${id}` }, abandoned);
}

async function messages(request: Request, body: any, behaviour: FakeBehaviour, nextId: () => number, abandoned: () => void): Promise<Response> {
  if (!request.headers.get("x-api-key")) {
    return anthropicError(401, "authentication_error", "x-api-key header is required (fake upstream)");
  }
  if (!request.headers.get("anthropic-version")) {
    return anthropicError(401, "authentication_error", "anthropic-version header is required (fake upstream)");
  }
  if (body === undefined) return anthropicError(400, "invalid_request_error", "The request body is not valid JSON (fake upstream)");
  if (!body || typeof body !== "object" || !Array.isArray(body.messages)) {
    return anthropicError(400, "invalid_request_error", "messages: Field required (fake upstream)");
  }
  if (body.messages.some((message: any) => message?.role === "system")) {
    return anthropicError(
      400,
      "invalid_request_error",
      'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.',
    );
  }
  const status = behaviour.status ?? 200;
  if (status < 200 || status > 299) {
    return behaviour.errorBody !== undefined ? customError(status, behaviour.errorBody) : anthropicStatusError(status);
  }
  const id = `msg_fake_${nextId()}`;
  const model = String(body.model ?? "");
  if (body.stream === true) return anthropicStream(id, model, behaviour, abandoned);
  return anthropicMessage(id, model, behaviour);
}

// ---------------------------------------------------------------- server

/** Parses a request body as JSON: null when empty, undefined when it is not valid JSON. */
async function readBody(request: Request): Promise<{ recorded: any; parsed: any }> {
  const text = await request.text();
  if (text.length === 0) return { recorded: null, parsed: null };
  try {
    const parsed = JSON.parse(text);
    return { recorded: parsed, parsed };
  } catch {
    return { recorded: text, parsed: undefined };
  }
}

/** Starts the fake upstream on 127.0.0.1 (a free port unless `port` is given). */
export async function startFakeUpstream(options: { port?: number; hostname?: string } = {}): Promise<FakeUpstream> {
  const hostname = options.hostname ?? "127.0.0.1";
  const queue: FakeBehaviour[] = [];
  let counter = 0;
  const nextId = () => ++counter;

  async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const { recorded, parsed } = await readBody(request);
    upstream.requests.push({
      method: request.method,
      path,
      headers: Object.fromEntries(request.headers),
      body: recorded,
    });
    const route = `${request.method} ${path.replace(/\/+$/, "")}`;
    if (route === "GET /v1/models") {
      const created = nowSeconds();
      return json(200, { object: "list", data: models.map((model) => ({ ...model, object: "model", created })) });
    }
    if (route !== "POST /v1/chat/completions" && route !== "POST /v1/messages") {
      return openaiError(404, `Unknown request URL: ${request.method} ${path} (fake upstream)`, "invalid_request_error", "unknown_url");
    }
    const behaviour = queue.shift() ?? upstream.defaultBehaviour;
    if (behaviour.hang) {
      await new Promise<void>((resolve) => {
        if (request.signal.aborted) return resolve();
        request.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      upstream.abandoned += 1;
      return new Response(null, { status: 499 });
    }
    if (behaviour.delayMs && behaviour.delayMs > 0) await Bun.sleep(behaviour.delayMs);
    const abandoned = () => {
      upstream.abandoned += 1;
    };
    const response = await (route === "POST /v1/messages"
      ? messages(request, parsed, behaviour, nextId, abandoned)
      : chatCompletions(request, parsed, behaviour, nextId, abandoned));
    for (const [name, value] of Object.entries(behaviour.headers ?? {})) response.headers.set(name, value);
    return response;
  }

  const server = Bun.serve({
    hostname,
    port: options.port ?? 0,
    // Long delays and slow streams are the point of this server; Bun's 10 s idle timeout would cut them.
    idleTimeout: 0,
    fetch: handle,
  });

  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `http://${host}:${server.port}`;
  let stopped: Promise<void> | undefined;
  const upstream: FakeUpstream = {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    requests: [],
    defaultBehaviour: {},
    abandoned: 0,
    openRequests: () => server.pendingRequests,
    script(...behaviours) {
      queue.push(...behaviours);
    },
    reset() {
      upstream.abandoned = 0;
      upstream.requests.length = 0;
      queue.length = 0;
      upstream.defaultBehaviour = {};
    },
    stop() {
      stopped ??= server.stop(true).then(() => undefined);
      return stopped;
    },
  };
  return upstream;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { port: { type: "string", default: "9100" }, hostname: { type: "string", default: "127.0.0.1" } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`fake upstream: --port must be a TCP port number, got ${values.port}`);
    process.exit(2);
  }
  const upstream = await startFakeUpstream({ port, hostname: values.hostname });
  console.log(`fake upstream listening on ${upstream.url} (OpenAI base /v1, Anthropic base /)`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      void upstream.stop().then(() => process.exit(0));
    });
  }
}
