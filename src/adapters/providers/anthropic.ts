/** Anthropic's Messages API over fetch: system prompts moved to `system`, native JSON and SSE passed through. */

import type {
  ChatProviders,
  ProviderAnswer,
  ProviderCall,
  ProviderStream,
  StreamEvent,
  TokenUsage,
} from "../../domain/chat/mod.ts";
import {
  AttemptControl,
  count,
  elapsedSince,
  httpError,
  isRecord,
  networkError,
  type ProviderOptions,
  retryPolicyOf,
  withRetries,
} from "./_shared.ts";
import { readServerSentEvents } from "./_sse.ts";

/** The Messages API version the adapter speaks. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** Builds the Messages API request body: system messages joined into `system`, the rest in order. */
export function anthropicRequestBody(call: ProviderCall, stream: boolean): Record<string, unknown> {
  const system = call.messages.filter((message) => message.role === "system").map((message) => message.content);
  const body: Record<string, unknown> = {
    model: call.model,
    max_tokens: call.maxTokens,
    messages: call.messages
      .filter((message) => message.role !== "system")
      .map((message) => ({ role: message.role, content: message.content })),
  };
  if (system.length > 0) body.system = system.join("\n\n");
  if (call.temperature !== undefined) body.temperature = call.temperature;
  // Only the OpenAI-style parameters the Messages API also has; the others would make it answer 400.
  const extra = call.extra ?? {};
  if (typeof extra.top_p === "number") body.top_p = extra.top_p;
  if (typeof extra.top_k === "number") body.top_k = extra.top_k;
  if (typeof extra.stop === "string") body.stop_sequences = [extra.stop];
  else if (Array.isArray(extra.stop)) body.stop_sequences = extra.stop;
  if (stream) body.stream = true;
  return body;
}

/** Reads a Messages API usage object; prompt tokens include cache reads and cache writes. */
export function anthropicUsage(raw: unknown): TokenUsage | null {
  if (!isRecord(raw)) return null;
  const input = count(raw.input_tokens);
  const output = count(raw.output_tokens);
  if (input === null && output === null) return null;
  const cacheRead = count(raw.cache_read_input_tokens) ?? 0;
  const cacheWrite = count(raw.cache_creation_input_tokens) ?? 0;
  return {
    promptTokens: (input ?? 0) + cacheRead + cacheWrite,
    completionTokens: output ?? 0,
    cachedTokens: cacheRead,
    estimated: false,
  };
}

/** Builds the ChatProviders adapter for Anthropic. */
export function createAnthropicProvider(options: ProviderOptions = {}): ChatProviders {
  const policy = retryPolicyOf(options);
  const fetchImpl = options.fetch ?? fetch;

  /** Sends one attempt and returns the 2xx response with its control still live; everything else throws. */
  async function send(call: ProviderCall, stream: boolean): Promise<{ response: Response; control: AttemptControl }> {
    const control = new AttemptControl(call);
    control.arm();
    let response: Response;
    try {
      response = await fetchImpl(`${call.baseUrl.replace(/\/+$/, "")}/v1/messages`, {
        method: "POST",
        headers: {
          "x-api-key": call.apiKey,
          "anthropic-version": ANTHROPIC_VERSION,
          "content-type": "application/json",
          accept: stream ? "text/event-stream" : "application/json",
        },
        body: JSON.stringify(anthropicRequestBody(call, stream)),
        signal: control.signal,
      });
    } catch {
      control.dispose();
      throw control.failure(() => networkError(call.provider));
    }
    if (!response.ok) {
      control.dispose();
      // The error body is the upstream's own text; it is not read, so it cannot end up in a message.
      response.body?.cancel().catch(() => undefined);
      throw httpError(call.provider, response.status, response.headers);
    }
    if (stream && !response.body) {
      control.dispose();
      throw networkError(call.provider, "sent no body");
    }
    return { response, control };
  }

  async function complete(call: ProviderCall): Promise<ProviderAnswer> {
    const started = performance.now();
    const body = await withRetries(call, policy, async () => {
      const { response, control } = await send(call, false);
      try {
        // Still under the timer armed before the request: a complete answer is bounded as a whole.
        return (await response.json()) as unknown;
      } catch (error) {
        throw control.failure(() =>
          error instanceof SyntaxError
            ? networkError(call.provider, "sent a malformed answer")
            : networkError(call.provider, "answer broke off"),
        );
      } finally {
        control.dispose();
      }
    });
    return { body, usage: anthropicUsage(isRecord(body) ? body.usage : null), upstreamMs: elapsedSince(started) };
  }

  async function stream(call: ProviderCall): Promise<ProviderStream> {
    const started = performance.now();
    const { response, control } = await withRetries(call, policy, async () => {
      const sent = await send(call, true);
      sent.control.disarm();
      return sent;
    });
    const upstreamMs = elapsedSince(started);

    let input: { input: number; cacheRead: number; cacheWrite: number } | null = null;
    let output: number | null = null;
    const usage = (): TokenUsage | null => {
      if (input === null && output === null) return null;
      const seen = input ?? { input: 0, cacheRead: 0, cacheWrite: 0 };
      return {
        promptTokens: seen.input + seen.cacheRead + seen.cacheWrite,
        completionTokens: output ?? 0,
        cachedTokens: seen.cacheRead,
        estimated: false,
      };
    };
    const takeInput = (raw: Record<string, unknown>) => {
      const previous = input ?? { input: 0, cacheRead: 0, cacheWrite: 0 };
      input = {
        input: count(raw.input_tokens) ?? previous.input,
        cacheRead: count(raw.cache_read_input_tokens) ?? previous.cacheRead,
        cacheWrite: count(raw.cache_creation_input_tokens) ?? previous.cacheWrite,
      };
    };

    async function* events(): AsyncGenerator<StreamEvent> {
      let stopped = false;
      for await (const message of readServerSentEvents(response.body!, control, call.provider)) {
        const name = message.event;
        if (name === "error") throw networkError(call.provider, "reported an error mid-stream");
        if (name === "content_block_delta") {
          // Only the length of the text is read here (for an estimate when no usage comes), so a malformed
          // delta is forwarded as it came rather than ending the stream.
          const payload = jsonOrUndefined(message.data);
          const text = isRecord(payload) && isRecord(payload.delta) ? payload.delta.text : undefined;
          yield { event: name, data: message.data, generatedChars: typeof text === "string" ? text.length : 0 };
          continue;
        }
        if (name === "message_start" || name === "message_delta") {
          const payload = jsonOrUndefined(message.data);
          if (payload === undefined) throw networkError(call.provider, "sent a malformed stream event");
          if (isRecord(payload)) {
            const raw = name === "message_start" ? (isRecord(payload.message) ? payload.message.usage : null) : payload.usage;
            if (isRecord(raw)) {
              // message_start carries input and cache counts; message_delta the running output count (last wins),
              // and newer API versions repeat cumulative input counts there too.
              if (name === "message_start" || raw.input_tokens !== undefined) takeInput(raw);
              output = count(raw.output_tokens) ?? output;
            }
          }
        }
        yield message.event === undefined ? { data: message.data } : { event: message.event, data: message.data };
        if (name === "message_stop") {
          stopped = true;
          break;
        }
      }
      if (!stopped) throw networkError(call.provider, "stream broke off");
    }

    return { events: events(), usage, upstreamMs };
  }

  return { complete, stream };
}

/** The JSON value of `text`, or undefined when it is not JSON. */
function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
