// The AI proxy routes: POST /api/chat (the plugin's format), POST /v1/chat/completions and GET /v1/models
// (OpenAI's wire format), and the customer's own provider keys (BYOK).
import { Elysia, t } from "elysia";
import type { AuditLog } from "../../domain/admin/mod.ts";
import {
  ProviderError,
  proxyChat,
  type ChatDeps,
  type ChatOutcome,
  type ChatProviders,
  type ChatStreaming,
  type ProviderCall,
  type SettledUsage,
  type StreamEvent,
} from "../../domain/chat/mod.ts";
import { PROVIDERS, type ProviderName } from "../../domain/plans/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";
import { asIs, BODY_ERRORS, errorResponse, LICENSE_ERRORS, LICENSE_SECURITY, openAiErrorResponse, V1_SECURITY } from "./docs.ts";
import { json } from "./errors.ts";
import type { Metrics } from "../metrics.ts";
import type { LicensedCaller } from "./license_guard.ts";
import {
  anthropicChunkTranslator,
  anthropicToCompletion,
  flattenMessages,
  modelList,
  openAiError,
  publicModelName,
  splitModel,
} from "./openai_shapes.ts";

/** What the chat routes need. */
export interface ChatApiDeps extends ChatDeps {
  audit: AuditLog;
  clock: Clock;
  metrics: Metrics;
}

/** Longest provider key accepted for BYOK (real keys are far shorter; this bounds what is sealed). */
const MAX_API_KEY_LENGTH = 512;

function usageBody(s: SettledUsage): Record<string, unknown> {
  const total = s.usage.promptTokens + s.usage.completionTokens;
  return {
    prompt_tokens: s.usage.promptTokens,
    completion_tokens: s.usage.completionTokens,
    total_tokens: total,
    tokens: total,
    cached_tokens: s.usage.cachedTokens,
    cost_eur: s.costEur,
    response_time_ms: s.totalMs,
    estimated: s.usage.estimated,
  };
}

// Refusals that are not admissions: a malformed request, or a provider that failed (counted as upstream errors).
const NOT_ADMISSION = new Set(["invalid_json", "messages_required", "invalid_request", "invalid_provider", "provider_error", "provider_timeout"]);

/**
 * One chat request's view of the providers: each call (fallbacks included) is timed and its failure counted,
 * so the overhead is the request's time minus what it really spent waiting on providers.
 */
function timedProviders(deps: ChatApiDeps): { deps: ChatDeps; waitedSeconds(): number } {
  const { providers, metrics } = deps;
  let waited = 0;
  async function timed<T>(call: ProviderCall, run: (call: ProviderCall) => Promise<T>): Promise<T> {
    const begin = performance.now();
    try {
      return await run(call);
    } catch (error) {
      if (error instanceof ProviderError) metrics.countUpstreamError(call.provider, error.kind);
      throw error;
    } finally {
      const seconds = (performance.now() - begin) / 1000;
      waited += seconds;
      metrics.observeUpstream(call.provider, seconds);
    }
  }
  const timedCalls: ChatProviders = {
    complete: (call) => timed(call, (c) => providers.complete(c)),
    stream: (call) => timed(call, (c) => providers.stream(c)),
  };
  // Everything else is inherited unchanged: no copy of the dependencies per request.
  const requestDeps = Object.create(deps) as ChatDeps;
  requestDeps.providers = timedCalls;
  return { deps: requestDeps, waitedSeconds: () => waited };
}

/** Counts a refusal that kept a call from its provider (quota, rate, budget, plan, configuration). */
function countRefusal(metrics: Metrics, outcome: ChatOutcome): void {
  if (outcome.kind !== "refused") return;
  const reason = String(outcome.body.code);
  if (!NOT_ADMISSION.has(reason)) metrics.countDenied(reason);
}

/** Observes the overhead of an answer about to be sent and returns its X-Proxy-Overhead-Ms header. */
function overheadHeaders(metrics: Metrics, provider: string, endpoint: string, startedAt: number, waitedSeconds: number): Record<string, string> {
  const seconds = Math.max(0, (performance.now() - startedAt) / 1000 - waitedSeconds);
  metrics.observeOverhead(provider, endpoint, seconds);
  return { "x-proxy-overhead-ms": String(Math.round(seconds * 1000)) };
}

/** Counts the tokens and cost of a stream once it has settled, and a provider failure mid-stream. */
function observeStream(metrics: Metrics, outcome: ChatStreaming): ChatStreaming {
  const pump = outcome.pump.bind(outcome);
  outcome.pump = async (forward) => {
    const settled = await pump(forward);
    if (settled.error) metrics.countUpstreamError(outcome.provider, settled.error.kind);
    // A broken stream is billed only for what the provider produced: its cost says whether it was.
    if (!settled.error || settled.costEur > 0) metrics.countUsage(outcome.provider, outcome.model, settled.usage, settled.costEur);
    return settled;
  };
  return outcome;
}

/** Streams `outcome` as server-sent events; the upstream is read to its end even after the client left. */
function sseResponse(outcome: ChatStreaming, translate: (event: StreamEvent) => StreamEvent[], headers: Record<string, string>): Response {
  const encoder = new TextEncoder();
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (event: StreamEvent) => {
        const text = `${event.event ? `event: ${event.event}\n` : ""}data: ${event.data}\n\n`;
        controller.enqueue(encoder.encode(text));
      };
      void outcome
        .pump((event) => {
          if (closed) return false;
          try {
            for (const e of translate(event)) write(e);
            return true;
          } catch {
            closed = true;
            return false;
          }
        })
        .catch(() => undefined)
        .finally(() => {
          if (closed) return;
          closed = true;
          try {
            controller.close();
          } catch {
            // already closed by the client
          }
        });
    },
    cancel() {
      closed = true;
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no", ...headers },
  });
}

function refusalOf(outcome: ChatOutcome, openAi: boolean): Response | null {
  if (outcome.kind !== "refused") return null;
  return json(outcome.status, openAi ? openAiError(outcome.status, outcome.body) : outcome.body, outcome.headers);
}

const ChatBody = t.Object(
  {
    messages: t.Optional(t.Unknown()),
    api_provider: t.Optional(t.Unknown()),
    provider: t.Optional(t.Unknown()),
    model: t.Optional(t.Unknown()),
    temperature: t.Optional(t.Unknown()),
    max_tokens: t.Optional(t.Unknown()),
    stream: t.Optional(t.Unknown()),
  },
  { additionalProperties: true },
);

const OpenAiBody = t.Object(
  {
    model: t.Optional(t.Unknown()),
    messages: t.Optional(t.Unknown()),
    temperature: t.Optional(t.Unknown()),
    max_tokens: t.Optional(t.Unknown()),
    max_completion_tokens: t.Optional(t.Unknown()),
    stream: t.Optional(t.Unknown()),
    stream_options: t.Optional(t.Unknown()),
  },
  { additionalProperties: true },
);

const Open = { additionalProperties: true } as const;
const RESET = "2026-04-01T00:00:00.000Z";

// The refusals of the proxy, in the order the contract checks them (the /v1 route answers them in OpenAI's envelope).
const CHAT_ERROR_EXAMPLES = {
  400: [
    { error: "JSON data required", code: "invalid_json" },
    { error: "Messages required", code: "messages_required" },
    { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: ["openai", "anthropic", "deepseek"] },
    { error: "Model not allowed for your plan", code: "model_not_allowed", model: "gpt-4o", provider: "openai", allowed_models: ["gpt-4o-mini"] },
  ],
  402: [{ error: "Monthly budget exceeded", code: "budget_exceeded", budget_eur: 4.0, reset_time: RESET }],
  403: [{ error: "AI not included in your plan", code: "ai_not_included", plan: "starter", message: "Upgrade to Pro or Agency plan for included AI" }],
  422: [{ error: "Invalid request: temperature: must be a number from 0 to 2", code: "invalid_request", field: "temperature" }],
  429: [
    { error: "Monthly request limit exceeded", code: "monthly_limit", limit: 1000, reset_time: RESET },
    { error: "Rate limit exceeded: too many requests per minute", code: "rate_limit_minute", limit: 10, reset_time: "2026-03-15T12:01:00.000Z" },
    { error: "Rate limit exceeded: too many requests per hour", code: "rate_limit_hour", limit: 200, reset_time: "2026-03-15T13:00:00.000Z" },
    LICENSE_ERRORS[429].examples[0] as Record<string, unknown>,
  ],
  502: [{ error: "AI provider request failed", code: "provider_error", provider_status: 500 }],
  503: [{ error: "openai not configured", code: "provider_not_configured" }],
  504: [{ error: "AI provider timed out", code: "provider_timeout" }],
};

const CHAT_ERROR_TEXT = {
  400: "Malformed JSON, no messages, unknown provider or a model outside the plan's allow-list",
  402: "Monthly budget used up",
  403: "The plan does not include AI and no own key is stored for the provider (BYOK)",
  413: "Body over 1 MiB",
  422: "A field of the wrong type or out of range",
  429: "Monthly quota or per-minute/per-hour rate used up, or too many invalid keys (Retry-After)",
  502: "The provider answered an error (no quota or budget consumed)",
  503: "The provider has no key configured",
  504: "The provider timed out (no quota or budget consumed)",
} as const;

type ChatErrorStatus = keyof typeof CHAT_ERROR_TEXT;
const CHAT_ERROR_STATUSES = Object.keys(CHAT_ERROR_TEXT).map(Number) as ChatErrorStatus[];
const examplesOf = (status: ChatErrorStatus) =>
  status === 413 ? [BODY_ERRORS[413].examples[0] as Record<string, unknown>] : CHAT_ERROR_EXAMPLES[status];

/** The contract's OpenAI envelope of a contract error body (for the /v1 examples). */
function envelope(status: number, body: Record<string, unknown>) {
  return openAiError(status, body);
}

const ChatUsage = t.Object(
  {
    prompt_tokens: t.Number(),
    completion_tokens: t.Number(),
    total_tokens: t.Number(),
    tokens: t.Number(),
    cached_tokens: t.Optional(t.Number()),
    cost_eur: t.Number(),
    response_time_ms: t.Number(),
    estimated: t.Optional(t.Boolean({ description: "True only when the provider reported no usage" })),
  },
  Open,
);

const ChatOk = t.Object(
  {
    success: t.Boolean(),
    provider: t.String(),
    model: t.String(),
    response: t.Unknown({ description: "The provider's own JSON answer, unchanged" }),
    usage: ChatUsage,
  },
  {
    ...Open,
    description: "The provider's answer (with `stream: true`: text/event-stream in the provider's native event format)",
    examples: [
      {
        success: true,
        provider: "openai",
        model: "gpt-4o-mini",
        response: { id: "chatcmpl-1", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }] },
        usage: { prompt_tokens: 20, completion_tokens: 35, total_tokens: 55, tokens: 55, cached_tokens: 0, cost_eur: 0.000041, response_time_ms: 812, estimated: false },
      },
    ],
  },
);

const CompletionOk = t.Object(
  { id: t.Optional(t.String()), object: t.Optional(t.String()), created: t.Optional(t.Number()), model: t.Optional(t.String()), choices: t.Optional(t.Array(t.Unknown())), usage: t.Optional(t.Unknown()) },
  {
    ...Open,
    description: "An OpenAI `chat.completion` (with `stream: true`: text/event-stream of `chat.completion.chunk` events ending with `data: [DONE]`)",
    examples: [
      {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1773576000,
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: 20, completion_tokens: 35, total_tokens: 55 },
      },
    ],
  },
);

const CHAT_RESPONSES = {
  200: ChatOk,
  401: LICENSE_ERRORS[401],
  ...Object.fromEntries(CHAT_ERROR_STATUSES.map((status) => [status, errorResponse(CHAT_ERROR_TEXT[status], ...examplesOf(status))])),
};

const V1_RESPONSES = {
  200: CompletionOk,
  401: openAiErrorResponse("License missing, unknown, inactive or expired", envelope(401, { error: "Invalid or inactive license", code: "license_invalid", status: null })),
  ...Object.fromEntries(
    CHAT_ERROR_STATUSES.map((status) => [status, openAiErrorResponse(CHAT_ERROR_TEXT[status], ...examplesOf(status).map((e) => envelope(status, e)))]),
  ),
};

const ModelList = t.Object(
  { object: t.String(), data: t.Array(t.Object({ id: t.String(), object: t.String(), created: t.Number(), owned_by: t.String() }, Open)) },
  {
    ...Open,
    description: "The models the plan allows (`anthropic/...` for Anthropic)",
    examples: [{ object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 0, owned_by: "openai" }, { id: "anthropic/claude-3-5-haiku-latest", object: "model", created: 0, owned_by: "anthropic" }] }],
  },
);

const ProviderParam = t.Object({ provider: t.String({ description: "openai, anthropic or deepseek", examples: ["openai"] }) });
const InvalidProvider = errorResponse("Unknown provider", { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: ["openai", "anthropic", "deepseek"] });

// OpenAI parameters forwarded unchanged to OpenAI-compatible providers (others are dropped, not guessed).
const PASS_THROUGH = ["top_p", "stop", "presence_penalty", "frequency_penalty", "seed", "user", "n", "response_format", "logit_bias"];

/** The chat routes. */
export function createChatRoutes(
  deps: ChatApiDeps,
  licenseOf: (request: Request) => LicensedCaller,
  arrivalOf: (request: Request) => number,
  /** When the request arrived on `performance.now()`'s clock, for the overhead's precise measure. */
  startedOf: (request: Request) => number = () => performance.now(),
) {
  const context = (request: Request, caller: LicensedCaller) => ({
    clientIp: caller.actor.clientIp ?? null,
    userAgent: request.headers.get("user-agent"),
    startedAt: arrivalOf(request),
  });

  return new Elysia({ name: "chat-api" })
    .post(
      "/api/chat",
      async ({ request, body }) => {
        const caller = licenseOf(request);
        const timing = timedProviders(deps);
        const outcome = await proxyChat(timing.deps, caller, {
          messages: body.messages,
          provider: body.api_provider ?? body.provider,
          model: body.model,
          temperature: body.temperature,
          maxTokens: body.max_tokens,
          stream: body.stream,
          endpoint: "chat",
          ...context(request, caller),
        });
        countRefusal(deps.metrics, outcome);
        const refused = refusalOf(outcome, false);
        if (refused) return refused;
        if (outcome.kind === "streaming") {
          const headers = overheadHeaders(deps.metrics, outcome.provider, "chat", startedOf(request), timing.waitedSeconds());
          return sseResponse(observeStream(deps.metrics, outcome), (e) => [e], headers);
        }
        if (outcome.kind !== "completed") throw new Error("unexpected chat outcome");
        deps.metrics.countUsage(outcome.provider, outcome.model, outcome.settled.usage, outcome.settled.costEur);
        return json(
          200,
          { success: true, provider: outcome.provider, model: outcome.model, response: outcome.body, usage: usageBody(outcome.settled) },
          overheadHeaders(deps.metrics, outcome.provider, "chat", startedOf(request), timing.waitedSeconds()),
        );
      },
      {
        body: ChatBody,
        detail: {
          summary: "Chat with an AI provider",
          description:
            "The plugin's AI proxy. `provider` is an alias of `api_provider`; provider and model default to the plan's; `max_tokens` " +
            "defaults to 1000 and is capped by the plan. Checks, in order: license (401), body (400/422), AI included or own key " +
            "(403), monthly quota and rate limits (429), budget (402), provider configured (503), provider errors (502/504). " +
            "With `stream: true` the 200 is `text/event-stream` in the provider's native format.",
          tags: ["AI"],
          security: LICENSE_SECURITY,
          "x-streaming": true,
        },
        response: CHAT_RESPONSES,
      },
    )
    .post(
      "/v1/chat/completions",
      async ({ request, body }) => {
        const caller = licenseOf(request);
        const { provider, model } = splitModel(body.model);
        const extra = Object.fromEntries(PASS_THROUGH.filter((k) => k in body).map((k) => [k, (body as Record<string, unknown>)[k]]));
        const started = context(request, caller);
        const timing = timedProviders(deps);
        const outcome = await proxyChat(timing.deps, caller, {
          messages: flattenMessages(body.messages),
          provider,
          model,
          temperature: body.temperature,
          maxTokens: body.max_tokens ?? body.max_completion_tokens,
          stream: body.stream,
          extra: provider === "anthropic" ? undefined : extra,
          endpoint: "v1",
          ...started,
        });
        countRefusal(deps.metrics, outcome);
        const refused = refusalOf(outcome, true);
        if (refused) return refused;
        const created = Math.floor(started.startedAt / 1000);
        if (outcome.kind === "streaming") {
          const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
          const name = publicModelName(outcome.provider, outcome.model);
          const translate =
            outcome.provider === "anthropic"
              ? anthropicChunkTranslator(name, created, includeUsage)
              : (e: StreamEvent) => (!includeUsage && e.usageOnly ? [] : [e]);
          const headers = overheadHeaders(deps.metrics, outcome.provider, "v1", startedOf(request), timing.waitedSeconds());
          return sseResponse(observeStream(deps.metrics, outcome), translate, headers);
        }
        if (outcome.kind !== "completed") throw new Error("unexpected chat outcome");
        const answer =
          outcome.provider === "anthropic"
            ? anthropicToCompletion(outcome.body, publicModelName(outcome.provider, outcome.model), outcome.settled.usage, created)
            : outcome.body;
        deps.metrics.countUsage(outcome.provider, outcome.model, outcome.settled.usage, outcome.settled.costEur);
        return json(200, answer, overheadHeaders(deps.metrics, outcome.provider, "v1", startedOf(request), timing.waitedSeconds()));
      },
      {
        body: OpenAiBody,
        detail: {
          summary: "OpenAI-compatible chat completions",
          description:
            "The same proxy in OpenAI's wire format: point an OpenAI SDK at `<service>/v1` with the license key as API key. " +
            "`model` may be `provider/model` (e.g. `anthropic/claude-3-5-haiku-latest`) or a bare OpenAI/DeepSeek model. Errors use " +
            "OpenAI's envelope with the same statuses as /api/chat. With `stream: true` the 200 is `text/event-stream` of " +
            "`chat.completion.chunk` events.",
          tags: ["AI"],
          security: V1_SECURITY,
          "x-streaming": true,
        },
        response: V1_RESPONSES,
      },
    )
    .get("/v1/models", ({ request }) => modelList(licenseOf(request).plan) as { object: string; data: Array<{ id: string; object: string; created: number; owned_by: string }> }, {
      detail: { summary: "List the plan's models", description: "OpenAI's model list: the models the license's plan allows.", tags: ["AI"], security: V1_SECURITY },
      response: {
        200: ModelList,
        401: openAiErrorResponse("License missing, unknown, inactive or expired", envelope(401, { error: "License key required", code: "license_missing" })),
        429: openAiErrorResponse("Too many invalid keys from this address", envelope(429, LICENSE_ERRORS[429].examples[0] as Record<string, unknown>)),
      },
    })
    .get("/api/keys", async ({ request }) => {
      const { license } = licenseOf(request);
      const keys = await deps.providerKeys.listCustomerKeys(license.customerId);
      return { keys: keys.map((k) => ({ provider: k.provider, last4: k.last4, created_at: k.createdAt.toISOString() })) };
    }, {
      detail: { summary: "List own provider keys", description: "The providers the customer stored an own key for; keys are never returned, only their last 4 characters.", tags: ["BYOK"], security: LICENSE_SECURITY },
      response: {
        200: t.Object(
          { keys: t.Array(t.Object({ provider: t.String(), last4: t.String(), created_at: t.String({ format: "date-time" }) }, Open)) },
          { ...Open, description: "Stored keys", examples: [{ keys: [{ provider: "openai", last4: "x9Qz", created_at: "2026-03-15T12:00:00.000Z" }] }] },
        ),
        ...LICENSE_ERRORS,
      },
    })
    .put(
      "/api/keys/:provider",
      async ({ request, params, body }) => {
        const { license, actor } = licenseOf(request);
        const provider = params.provider.toLowerCase() as ProviderName;
        if (!PROVIDERS.includes(provider)) return asIs(json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS }));
        const apiKey = body.api_key.trim();
        if (apiKey.length < 8 || /\s/.test(apiKey)) {
          return asIs(json(422, { error: "Invalid request: api_key: must be a provider API key", code: "invalid_request", field: "api_key" }));
        }
        const now = deps.clock.now();
        await deps.providerKeys.setCustomerKey(license.customerId, provider, apiKey, now);
        await deps.audit.record({ actor, action: "byok.key_set", targetType: "customer", targetId: license.customerId, details: { provider, last4: apiKey.slice(-4) } }, now);
        return { success: true, provider, last4: apiKey.slice(-4) };
      },
      {
        body: t.Object({ api_key: t.String({ minLength: 1, maxLength: MAX_API_KEY_LENGTH }) }, { additionalProperties: true }),
        params: ProviderParam,
        detail: {
          summary: "Store an own provider key",
          description: "Stores the customer's own key for the provider, encrypted. Chat calls with that provider then use it and are not charged to the plan's budget.",
          tags: ["BYOK"],
          security: LICENSE_SECURITY,
        },
        response: {
          200: t.Object(
            { success: t.Boolean(), provider: t.String(), last4: t.String() },
            { ...Open, description: "Stored", examples: [{ success: true, provider: "openai", last4: "x9Qz" }] },
          ),
          ...BODY_ERRORS,
          400: errorResponse("Malformed JSON or unknown provider", BODY_ERRORS[400].examples[0] as Record<string, unknown>, InvalidProvider.examples[0] as Record<string, unknown>),
          422: errorResponse("api_key missing or not a provider key", { error: "Invalid request: api_key: must be a provider API key", code: "invalid_request", field: "api_key" }),
          ...LICENSE_ERRORS,
        },
      },
    )
    .delete("/api/keys/:provider", async ({ request, params }) => {
      const { license, actor } = licenseOf(request);
      const provider = params.provider.toLowerCase() as ProviderName;
      if (!PROVIDERS.includes(provider)) return asIs(json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS }));
      const now = deps.clock.now();
      if (!(await deps.providerKeys.deleteCustomerKey(license.customerId, provider))) {
        return asIs(json(404, { error: `No ${provider} key stored`, code: "key_not_found" }));
      }
      await deps.audit.record({ actor, action: "byok.key_deleted", targetType: "customer", targetId: license.customerId, details: { provider } }, now);
      return { success: true, provider, deleted: true };
    }, {
      params: ProviderParam,
      detail: { summary: "Delete an own provider key", description: "Forgets the customer's own key for the provider.", tags: ["BYOK"], security: LICENSE_SECURITY },
      response: {
        200: t.Object(
          { success: t.Boolean(), provider: t.String(), deleted: t.Boolean() },
          { ...Open, description: "Deleted", examples: [{ success: true, provider: "openai", deleted: true }] },
        ),
        400: InvalidProvider,
        404: errorResponse("No key stored for that provider", { error: "No openai key stored", code: "key_not_found" }),
        ...LICENSE_ERRORS,
      },
    });
}
