// The AI proxy routes: POST /api/chat (the plugin's format), POST /v1/chat/completions and GET /v1/models
// (OpenAI's wire format), and the customer's own provider keys (BYOK).
import { Elysia, t } from "elysia";
import type { AuditLog } from "../../domain/admin/mod.ts";
import { proxyChat, type ChatDeps, type ChatOutcome, type ChatStreaming, type SettledUsage, type StreamEvent } from "../../domain/chat/mod.ts";
import { PROVIDERS, type ProviderName } from "../../domain/plans/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";
import { json } from "./errors.ts";
import type { LicensedCaller } from "./license_guard.ts";
import {
  anthropicChunkTranslator,
  anthropicToCompletion,
  flattenMessages,
  isUsageOnlyChunk,
  modelList,
  openAiError,
  publicModelName,
  splitModel,
} from "./openai_shapes.ts";

/** What the chat routes need. */
export interface ChatApiDeps extends ChatDeps {
  audit: AuditLog;
  clock: Clock;
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

function overheadHeaders(totalMs: number, upstreamMs: number): Record<string, string> {
  return { "x-proxy-overhead-ms": String(Math.max(0, totalMs - upstreamMs)) };
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

// OpenAI parameters forwarded unchanged to OpenAI-compatible providers (others are dropped, not guessed).
const PASS_THROUGH = ["top_p", "stop", "presence_penalty", "frequency_penalty", "seed", "user", "n", "response_format", "logit_bias"];

/** The chat routes. */
export function createChatRoutes(
  deps: ChatApiDeps,
  licenseOf: (request: Request) => LicensedCaller,
  arrivalOf: (request: Request) => number,
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
        const outcome = await proxyChat(deps, caller, {
          messages: body.messages,
          provider: body.api_provider ?? body.provider,
          model: body.model,
          temperature: body.temperature,
          maxTokens: body.max_tokens,
          stream: body.stream,
          endpoint: "chat",
          ...context(request, caller),
        });
        const refused = refusalOf(outcome, false);
        if (refused) return refused;
        if (outcome.kind === "streaming") {
          const elapsed = deps.clock.now().getTime() - context(request, caller).startedAt;
          return sseResponse(outcome, (e) => [e], overheadHeaders(elapsed + outcome.upstreamMs, outcome.upstreamMs));
        }
        if (outcome.kind !== "completed") throw new Error("unexpected chat outcome");
        return json(
          200,
          { success: true, provider: outcome.provider, model: outcome.model, response: outcome.body, usage: usageBody(outcome.settled) },
          overheadHeaders(outcome.settled.totalMs, outcome.settled.upstreamMs),
        );
      },
      { body: ChatBody },
    )
    .post(
      "/v1/chat/completions",
      async ({ request, body }) => {
        const caller = licenseOf(request);
        const { provider, model } = splitModel(body.model);
        const extra = Object.fromEntries(PASS_THROUGH.filter((k) => k in body).map((k) => [k, (body as Record<string, unknown>)[k]]));
        const started = context(request, caller);
        const outcome = await proxyChat(deps, caller, {
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
        const refused = refusalOf(outcome, true);
        if (refused) return refused;
        const created = Math.floor(started.startedAt / 1000);
        if (outcome.kind === "streaming") {
          const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
          const name = publicModelName(outcome.provider, outcome.model);
          const translate =
            outcome.provider === "anthropic"
              ? anthropicChunkTranslator(name, created, includeUsage)
              : (e: StreamEvent) => (!includeUsage && isUsageOnlyChunk(e) ? [] : [e]);
          const elapsed = deps.clock.now().getTime() - started.startedAt;
          return sseResponse(outcome, translate, overheadHeaders(elapsed + outcome.upstreamMs, outcome.upstreamMs));
        }
        if (outcome.kind !== "completed") throw new Error("unexpected chat outcome");
        const answer =
          outcome.provider === "anthropic"
            ? anthropicToCompletion(outcome.body, publicModelName(outcome.provider, outcome.model), outcome.settled.usage, created)
            : outcome.body;
        return json(200, answer, overheadHeaders(outcome.settled.totalMs, outcome.settled.upstreamMs));
      },
      { body: OpenAiBody },
    )
    .get("/v1/models", ({ request }) => modelList(licenseOf(request).plan))
    .get("/api/keys", async ({ request }) => {
      const { license } = licenseOf(request);
      const keys = await deps.providerKeys.listCustomerKeys(license.customerId);
      return { keys: keys.map((k) => ({ provider: k.provider, last4: k.last4, created_at: k.createdAt.toISOString() })) };
    })
    .put(
      "/api/keys/:provider",
      async ({ request, params, body }) => {
        const { license, actor } = licenseOf(request);
        const provider = params.provider.toLowerCase() as ProviderName;
        if (!PROVIDERS.includes(provider)) return json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS });
        const apiKey = body.api_key.trim();
        if (apiKey.length < 8 || /\s/.test(apiKey)) {
          return json(422, { error: "Invalid request: api_key: must be a provider API key", code: "invalid_request", field: "api_key" });
        }
        const now = deps.clock.now();
        await deps.providerKeys.setCustomerKey(license.customerId, provider, apiKey, now);
        await deps.audit.record({ actor, action: "byok.key_set", targetType: "customer", targetId: license.customerId, details: { provider, last4: apiKey.slice(-4) } }, now);
        return { success: true, provider, last4: apiKey.slice(-4) };
      },
      { body: t.Object({ api_key: t.String({ minLength: 1, maxLength: MAX_API_KEY_LENGTH }) }, { additionalProperties: true }) },
    )
    .delete("/api/keys/:provider", async ({ request, params }) => {
      const { license, actor } = licenseOf(request);
      const provider = params.provider.toLowerCase() as ProviderName;
      if (!PROVIDERS.includes(provider)) return json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS });
      const now = deps.clock.now();
      if (!(await deps.providerKeys.deleteCustomerKey(license.customerId, provider))) {
        return json(404, { error: `No ${provider} key stored`, code: "key_not_found" });
      }
      await deps.audit.record({ actor, action: "byok.key_deleted", targetType: "customer", targetId: license.customerId, details: { provider } }, now);
      return { success: true, provider, deleted: true };
    });
}
