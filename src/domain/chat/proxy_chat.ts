import type { License } from "../licensing/mod.ts";
import { PROVIDERS, type Plan, type ProviderName } from "../plans/mod.ts";
import { costOfUsage, estimateTokens, estimateUsage, priceSnapshot, type ModelPrice, type PriceTable } from "../pricing/mod.ts";
import { admissionError, decideAdmission, retryAfterSeconds, type AdmissionDenial, type QuotaLedger, type QuotaSnapshot } from "../quota/mod.ts";
import type { Clock } from "../shared/mod.ts";
import type { UsageRecorder } from "../usage/mod.ts";
import type { ProviderKeys } from "./_keys.ts";
import { ProviderError, type ChatMessage, type ChatProviders, type ProviderCall, type StreamEvent, type TokenUsage } from "./_ports.ts";

/** Default `max_tokens` when the request names none (the plan's cap still applies). */
export const DEFAULT_MAX_TOKENS = 1000;

/** Everything a chat call needs. */
export interface ChatDeps {
  providers: ChatProviders;
  providerKeys: ProviderKeys;
  prices: PriceTable;
  quota: QuotaLedger;
  usageRecorder: UsageRecorder;
  clock: Clock;
  /** Configured base URL per provider (vendor keys may carry their own; BYOK calls always use these). */
  baseUrls: Record<ProviderName, string>;
  timeoutMs: number;
  /** Told about bookkeeping that failed after the provider answered (the client still gets its answer). */
  reportError?: (error: unknown, context: string) => void;
}

/** A chat request as received, before validation (both endpoints map onto it). */
export interface ChatInput {
  messages: unknown;
  provider?: unknown;
  model?: unknown;
  temperature?: unknown;
  maxTokens?: unknown;
  stream?: unknown;
  extra?: Record<string, unknown>;
  endpoint: "chat" | "v1";
  clientIp: string | null;
  userAgent: string | null;
  /** When the request arrived (for the total time and the proxy overhead). */
  startedAt: number;
}

/** Who calls. */
export interface ChatCaller {
  license: License;
  plan: Plan;
}

/** The contract's refusal: a status, a body, and headers such as Retry-After. */
export interface ChatRefusal {
  kind: "refused";
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** The field at fault, for 422 answers. */
  field?: string;
}

/** Usage of a finished call as reported to the client. */
export interface SettledUsage {
  usage: TokenUsage;
  costEur: number;
  upstreamMs: number;
  totalMs: number;
}

/** A complete answer. */
export interface ChatCompleted {
  kind: "completed";
  provider: ProviderName;
  model: string;
  body: unknown;
  settled: SettledUsage;
}

/** A stream whose upstream answered; `pump` forwards events and settles when the upstream ends. */
export interface ChatStreaming {
  kind: "streaming";
  provider: ProviderName;
  model: string;
  upstreamMs: number;
  /**
   * Reads the upstream to its end, handing each event to `forward` while the client listens (forward returns
   * false once it has gone), then bills the provider's usage; resolves with it. Never retries mid-stream.
   */
  pump(forward: (event: StreamEvent) => boolean): Promise<SettledUsage & { error: ProviderError | null }>;
}

/** What `proxyChat` answers. */
export type ChatOutcome = ChatRefusal | ChatCompleted | ChatStreaming;

function refuse(status: number, error: string, code: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): ChatRefusal {
  return { kind: "refused", status, body: { error, code, ...extra }, headers };
}

function invalid(field: string, message: string): ChatRefusal {
  return { ...refuse(422, `Invalid request: ${field}: ${message}`, "invalid_request", { field }), field };
}

interface Resolved {
  messages: ChatMessage[];
  provider: ProviderName;
  model: string;
  temperature?: number;
  maxTokens: number;
  stream: boolean;
}

/** Checks the body in the contract's order; a refusal or the resolved request. */
export function resolveChatRequest(plan: Plan, input: ChatInput): Resolved | ChatRefusal {
  if (input.messages == null || (Array.isArray(input.messages) && input.messages.length === 0)) {
    return refuse(400, "Messages required", "messages_required");
  }
  if (!Array.isArray(input.messages)) return invalid("messages", "must be an array of {role, content}");
  const messages: ChatMessage[] = [];
  for (const [i, m] of input.messages.entries()) {
    const msg = m as { role?: unknown; content?: unknown };
    if (typeof m !== "object" || m === null) return invalid(`messages.${i}`, "must be an object");
    if (msg.role !== "system" && msg.role !== "user" && msg.role !== "assistant") {
      return invalid(`messages.${i}.role`, "must be system, user or assistant");
    }
    if (typeof msg.content !== "string") return invalid(`messages.${i}.content`, "must be a string");
    messages.push({ role: msg.role, content: msg.content });
  }
  if (!messages.some((m) => m.role !== "system")) return refuse(400, "Messages required", "messages_required");
  const providerRaw = input.provider ?? plan.defaultProvider;
  if (typeof providerRaw !== "string" || !PROVIDERS.includes(providerRaw.toLowerCase() as ProviderName)) {
    return refuse(400, "Invalid AI provider", "invalid_provider", { allowed_providers: PROVIDERS });
  }
  const provider = providerRaw.toLowerCase() as ProviderName;
  const allowed = plan.allowedModels[provider] ?? [];
  const model = input.model ?? plan.defaultModels[provider];
  if (typeof model !== "string" || model === "" || !allowed.includes(model)) {
    return refuse(400, "Model not allowed for your plan", "model_not_allowed", { model: model ?? null, provider, allowed_models: allowed });
  }
  let temperature: number | undefined;
  if (input.temperature != null) {
    if (typeof input.temperature !== "number" || !(input.temperature >= 0 && input.temperature <= 2)) {
      return invalid("temperature", "must be a number between 0 and 2");
    }
    temperature = input.temperature;
  }
  let maxTokens = DEFAULT_MAX_TOKENS;
  if (input.maxTokens != null) {
    if (typeof input.maxTokens !== "number" || !Number.isInteger(input.maxTokens) || input.maxTokens < 1) {
      return invalid("max_tokens", "must be a positive integer");
    }
    maxTokens = input.maxTokens;
  }
  if (plan.maxTokens > 0) maxTokens = Math.min(maxTokens, plan.maxTokens);
  if (input.stream != null && typeof input.stream !== "boolean") return invalid("stream", "must be a boolean");
  return { messages, provider, model, temperature, maxTokens, stream: input.stream === true };
}

function denial(decision: AdmissionDenial, now: Date): ChatRefusal {
  const { status, body } = admissionError(decision);
  return { kind: "refused", status, body, headers: { "retry-after": String(retryAfterSeconds(decision, now)) } };
}

function upstreamRefusal(error: ProviderError): ChatRefusal {
  if (error.kind === "timeout") return refuse(504, "AI provider timed out", "provider_timeout");
  return refuse(502, "AI provider request failed", "provider_error", { provider_status: error.status });
}

/** The generated text of a complete answer (OpenAI or Anthropic shape), for an estimate when no usage came. */
function answerText(body: unknown): string {
  const b = body as Record<string, any> | null;
  if (Array.isArray(b?.content)) return b.content.map((part: any) => String(part?.text ?? "")).join("");
  return String(b?.choices?.[0]?.message?.content ?? "");
}

/**
 * Proxies one chat call for an authenticated license: validation, the plan's AI or the customer's own key,
 * atomic admission (monthly, minute, hour, budget), the upstream call (with the plan's fallback provider
 * before any byte was sent), then settlement of the real usage and one usage event. A failed call
 * consumes no quota and no budget.
 */
export async function proxyChat(deps: ChatDeps, caller: ChatCaller, input: ChatInput): Promise<ChatOutcome> {
  const { license, plan } = caller;
  const request = resolveChatRequest(plan, input);
  if ("kind" in request) return request;

  const ownKey = await deps.providerKeys.customerKey(license.customerId, request.provider);
  if (!plan.aiIncluded && !ownKey) {
    return refuse(403, "AI not included in your plan", "ai_not_included", {
      plan: plan.name,
      message: "Upgrade to Pro or Agency plan for included AI",
    });
  }
  const byok = ownKey != null;
  const chargeBudget = !byok;
  const now = deps.clock.now();
  const decide = (snapshot: QuotaSnapshot) => decideAdmission(plan.limits, snapshot, now, { chargeBudget });

  const vendor = byok ? null : await deps.providerKeys.vendorKey(request.provider);
  if (!byok && !vendor) {
    // The contract answers quota refusals before a missing key; nothing is reserved for a call that cannot run.
    const decision = decide(await deps.quota.snapshot(license.id, now));
    if (!decision.allowed) return denial(decision, now);
    return refuse(503, `${request.provider} not configured`, "provider_not_configured");
  }

  const price = await deps.prices.priceFor(request.provider, request.model, now);
  const estimateEur = chargeBudget && price ? costOfUsage(estimateUsage(request.messages, request.maxTokens), price) : 0;
  const { decision, reservation } = await deps.quota.reserve({ licenseId: license.id, now, estimateEur, decide });
  if (!decision.allowed) return denial(decision, now);
  if (!reservation) throw new Error("quota ledger admitted a call without a reservation");

  const callFor = (provider: ProviderName, model: string, key: { apiKey: string; baseUrl: string | null }): ProviderCall => ({
    provider,
    model,
    messages: request.messages,
    temperature: request.temperature,
    maxTokens: request.maxTokens,
    apiKey: key.apiKey,
    baseUrl: key.baseUrl ?? deps.baseUrls[provider],
    timeoutMs: deps.timeoutMs,
    extra: input.extra,
  });
  let served: { provider: ProviderName; model: string; price: ModelPrice | null } = { provider: request.provider, model: request.model, price };
  const primary = callFor(request.provider, request.model, byok ? { apiKey: ownKey!, baseUrl: null } : vendor!);

  // Only vendor-paid calls fall back: a customer's own key is for its own provider.
  const fallback = async (): Promise<ProviderCall | null> => {
    const provider = plan.fallbackProvider;
    if (byok || !provider || provider === request.provider) return null;
    const model = plan.defaultModels[provider];
    const key = await deps.providerKeys.vendorKey(provider);
    if (!key || !model || !(plan.allowedModels[provider] ?? []).includes(model)) return null;
    served = { provider, model, price: await deps.prices.priceFor(provider, model, now) };
    return callFor(provider, model, key);
  };

  const record = (usage: TokenUsage, costEur: number, upstreamMs: number | null, error: ProviderError | null, totalMs: number, billed = false) =>
    deps.usageRecorder.record({
      licenseId: license.id,
      customerId: license.customerId,
      provider: served.provider,
      model: served.model,
      endpoint: input.endpoint,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cachedTokens: usage.cachedTokens,
      costEur,
      priceSnapshot: served.price ? { ...priceSnapshot(served.price) } : null,
      estimated: usage.estimated,
      byok,
      upstreamMs,
      totalMs,
      // A stream cut after the provider produced something is billed: "partial", not an error.
      outcome: !error ? "ok" : billed ? "partial" : "error",
      errorCode: error ? (error.kind === "timeout" ? "provider_timeout" : "provider_error") : null,
      clientIp: input.clientIp,
      userAgent: input.userAgent,
      createdAt: now,
    });
  const elapsed = () => Math.max(0, deps.clock.now().getTime() - input.startedAt);
  // The provider has answered by now: failing the client over our own bookkeeping would lose the answer too.
  const settle = (outcome: { tokens: number; costEur: number } | null) =>
    deps.quota.settle(reservation, outcome, deps.clock.now()).catch((error) => deps.reportError?.(error, "settling a chat call"));
  const noUsage: TokenUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, estimated: false };
  const costOf = (usage: TokenUsage) => (chargeBudget && served.price ? costOfUsage(usage, served.price) : 0);

  async function attempt<T>(run: (call: ProviderCall) => Promise<T>): Promise<T | ChatRefusal> {
    try {
      return await run(primary);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      const second = error.kind === "aborted" ? null : await fallback();
      if (second) {
        try {
          return await run(second);
        } catch (again) {
          if (!(again instanceof ProviderError)) throw again;
          error = again;
        }
      }
      await settle(null);
      record(noUsage, 0, null, error as ProviderError, elapsed());
      return upstreamRefusal(error as ProviderError);
    }
  }

  if (!request.stream) {
    const answer = await attempt((call) => deps.providers.complete(call));
    if ("kind" in answer) return answer;
    const usage = answer.usage ?? { ...estimateUsage(request.messages, 0), completionTokens: estimateTokens(answerText(answer.body)) };
    const costEur = costOf(usage);
    await settle({ tokens: usage.promptTokens + usage.completionTokens, costEur });
    const totalMs = elapsed();
    record(usage, costEur, answer.upstreamMs, null, totalMs);
    return {
      kind: "completed",
      provider: served.provider,
      model: served.model,
      body: answer.body,
      settled: { usage, costEur, upstreamMs: answer.upstreamMs, totalMs },
    };
  }

  const stream = await attempt((call) => deps.providers.stream(call));
  if ("kind" in stream) return stream;
  return {
    kind: "streaming",
    provider: served.provider,
    model: served.model,
    upstreamMs: stream.upstreamMs,
    async pump(forward) {
      let listening = true;
      let chars = 0;
      let failure: ProviderError | null = null;
      try {
        for await (const event of stream.events) {
          chars += event.generatedChars ?? 0;
          if (listening) listening = forward(event);
        }
      } catch (error) {
        failure = error instanceof ProviderError ? error : new ProviderError("network", "stream interrupted");
      }
      // What the provider produced is billed, even when the client left or the stream broke.
      const reported = stream.usage();
      const estimated = estimateUsage(request.messages, 0);
      const usage: TokenUsage = reported ?? { ...estimated, completionTokens: Math.ceil(chars / 4), estimated: true };
      const produced = usage.promptTokens + usage.completionTokens > 0 && (reported != null || chars > 0);
      const costEur = produced ? costOf(usage) : 0;
      await settle(produced ? { tokens: usage.promptTokens + usage.completionTokens, costEur } : null);
      const totalMs = elapsed();
      record(produced ? usage : noUsage, costEur, stream.upstreamMs, failure, totalMs, produced);
      return { usage, costEur, upstreamMs: stream.upstreamMs, totalMs, error: failure };
    },
  };
}
