/** Pure pricing rules: the cost of a usage, which price applies when, and token estimates. */
import type { ChatMessage, TokenUsage } from "../chat/mod.ts";
import { isProviderName, type ProviderName } from "../plans/mod.ts";
import { DomainError } from "../shared/mod.ts";
import type { ModelPrice, PriceRates, PriceSnapshot } from "./_types.ts";

// Rates are held as integer nano-euro per million tokens, so tokens × rate is an exact integer in
// femto-euro (1e-15 EUR); BigInt keeps it exact however large the counts get, and one final rounding
// to micro-euro (half up) means no float drift can move a cost by a micro-euro.
const NANO_PER_EUR = 1_000_000_000;
const FEMTO_PER_MICRO = 1_000_000_000n;

/** Cost in EUR (6 decimals, rounded half up) of a usage at the given rates; cached prompt tokens are charged once, at the cached rate. */
export function costOfUsage(usage: TokenUsage, price: PriceRates): number {
  const prompt = tokenCount(usage.promptTokens);
  // A provider reporting more cache hits than prompt tokens cannot make the prompt cheaper than all-cached.
  const cached = Math.min(tokenCount(usage.cachedTokens), prompt);
  const completion = tokenCount(usage.completionTokens);
  const femto =
    BigInt(prompt - cached) * nanoRate(price.inputEurPerMTok, "inputEurPerMTok") +
    BigInt(cached) * nanoRate(price.cachedInputEurPerMTok, "cachedInputEurPerMTok") +
    BigInt(completion) * nanoRate(price.outputEurPerMTok, "outputEurPerMTok");
  const micro = (femto + FEMTO_PER_MICRO / 2n) / FEMTO_PER_MICRO;
  return Number(micro) / 1_000_000;
}

/** The price as plain JSON, stored with each usage event so past costs stay explainable after price changes. */
export function priceSnapshot(price: ModelPrice): PriceSnapshot {
  return {
    provider: price.provider,
    model: price.model,
    inputEurPerMTok: price.inputEurPerMTok,
    outputEurPerMTok: price.outputEurPerMTok,
    cachedInputEurPerMTok: price.cachedInputEurPerMTok,
    effectiveFrom: price.effectiveFrom.toISOString(),
  };
}

/** The price of provider/model in force at `at`: the latest effectiveFrom ≤ at (a later row wins a tie); null when none. */
export function pickPrice(prices: ModelPrice[], provider: ProviderName, model: string, at: Date): ModelPrice | null {
  const instant = at.getTime();
  let best: ModelPrice | null = null;
  for (const price of prices) {
    if (price.provider !== provider || price.model !== model) continue;
    const from = price.effectiveFrom.getTime();
    // NaN (an invalid date) fails both comparisons, so such a row never applies.
    if (!(from <= instant)) continue;
    if (best === null || from >= best.effectiveFrom.getTime()) best = price;
  }
  return best;
}

/** Rough token count of a text (about four characters per token), for estimates only. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

// The completion is passed in: max_tokens for a reservation, or estimateTokens(answer text) when a provider
// reported no usage.
/** Estimated usage of a call (flagged `estimated`): ceil(chars / 4) + 4 per message of prompt, the given completion. */
export function estimateUsage(messages: ChatMessage[], maxTokens: number): TokenUsage {
  const chars = messages.reduce((sum, message) => sum + message.content.length, 0);
  return {
    promptTokens: Math.ceil(chars / 4) + 4 * messages.length,
    completionTokens: tokenCount(maxTokens),
    cachedTokens: 0,
    estimated: true,
  };
}

/** Names of the fields of a price row that break its invariants; empty when the row is valid (for admin edits). */
export function validatePrice(price: Omit<ModelPrice, "effectiveFrom"> & { effectiveFrom?: Date }): string[] {
  const p = price as unknown as Record<string, unknown>;
  const invalid: string[] = [];
  if (!isProviderName(p.provider)) invalid.push("provider");
  if (typeof p.model !== "string" || p.model.trim() === "") invalid.push("model");
  for (const field of ["inputEurPerMTok", "outputEurPerMTok", "cachedInputEurPerMTok"]) {
    if (!isRate(p[field])) invalid.push(field);
  }
  if ("effectiveFrom" in p && !(p.effectiveFrom instanceof Date && !Number.isNaN(p.effectiveFrom.getTime()))) {
    invalid.push("effectiveFrom");
  }
  return invalid;
}

function isRate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

// Token counts come from providers; a missing or nonsensical figure counts as none rather than failing a settlement.
// A huge figure is capped at the largest exact count: 1e308 "tokens" would otherwise price at Infinity EUR,
// which no money column stores.
function tokenCount(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.min(Math.round(value), Number.MAX_SAFE_INTEGER) : 0;
}

function nanoRate(value: number, field: string): bigint {
  if (!isRate(value)) {
    throw new DomainError("invalid_argument", `Price ${field} must be a non-negative number`, { field });
  }
  return BigInt(Math.round(value * NANO_PER_EUR));
}
