// Property-based tests of pricing: the cost of a usage against an exact integer oracle, its monotonicity and
// additivity, cached tokens, nonsense token counts, estimates and which price applies when.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { ChatMessage, TokenUsage } from "../../src/domain/chat/mod.ts";
import type { ProviderName } from "../../src/domain/plans/mod.ts";
import { costOfUsage, DEFAULT_PRICES, estimateTokens, estimateUsage, type ModelPrice, pickPrice, type PriceRates } from "../../src/domain/pricing/mod.ts";

const RUNS = 500;

/** A rate in EUR per million tokens, held as whole nano-euros so the oracle knows it exactly. */
const nanoRate = fc.oneof(
  fc.integer({ min: 0, max: 100_000_000_000 }), // up to 100 EUR per million tokens
  fc.constantFrom(0, 1, 500_000_000, 129_000_000, 64_500_000),
  fc.constantFrom(...DEFAULT_PRICES.flatMap((p) => [p.inputEurPerMTok, p.outputEurPerMTok, p.cachedInputEurPerMTok].map((eur) => Math.round(eur * 1e9)))),
);
const ratesArb = fc.record({ input: nanoRate, output: nanoRate, cached: nanoRate });
const tokens = fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const usageArb = fc.record({ prompt: tokens, cached: tokens, completion: tokens });

type Rates = { input: number; output: number; cached: number };
type Counts = { prompt: number; cached: number; completion: number };

function priceOf(r: Rates): PriceRates {
  return { inputEurPerMTok: r.input / 1e9, outputEurPerMTok: r.output / 1e9, cachedInputEurPerMTok: r.cached / 1e9 };
}

function usageOf(u: Counts): TokenUsage {
  return { promptTokens: u.prompt, cachedTokens: u.cached, completionTokens: u.completion, estimated: false };
}

/** The exact cost in femto-euros (tokens × nano-euro per million tokens), computed without the domain. */
function femtoOf(u: Counts, r: Rates): bigint {
  const cached = u.cached < u.prompt ? u.cached : u.prompt;
  return BigInt(u.prompt - cached) * BigInt(r.input) + BigInt(cached) * BigInt(r.cached) + BigInt(u.completion) * BigInt(r.output);
}

/** Whole micro-euros of a cost, as the contract rounds them (half up). */
function microOf(u: Counts, r: Rates): bigint {
  return (femtoOf(u, r) + 500_000_000n) / 1_000_000_000n;
}

function micro(eur: number): number {
  return Math.round(eur * 1e6);
}

describe("cost properties", () => {
  test("the cost is the exact price rounded half up to a whole micro-euro, never negative or NaN", () => {
    fc.assert(
      fc.property(usageArb, ratesArb, (u, r) => {
        const cost = costOfUsage(usageOf(u), priceOf(r));
        expect(Number.isFinite(cost)).toBe(true);
        expect(cost).toBeGreaterThanOrEqual(0);
        const expected = microOf(u, r);
        expect(cost).toBe(Number(expected) / 1e6);
        // Six decimals exactly: the value printed with six decimals reads back as itself.
        if (expected < 2n ** 53n) expect(Number(cost.toFixed(6))).toBe(cost);
      }),
      { numRuns: RUNS },
    );
  });

  test("more tokens of any kind never cost less", () => {
    fc.assert(
      fc.property(usageArb, ratesArb, fc.constantFrom("prompt", "completion"), fc.integer({ min: 0, max: 1_000_000 }), (u, r, kind, extra) => {
        const more = { ...u, [kind]: u[kind as "prompt" | "completion"] + extra };
        fc.pre(Number.isSafeInteger(more.prompt) && Number.isSafeInteger(more.completion));
        expect(costOfUsage(usageOf(more), priceOf(r))).toBeGreaterThanOrEqual(costOfUsage(usageOf(u), priceOf(r)));
      }),
      { numRuns: RUNS },
    );
  });

  test("the cost of two calls together differs from the sum of their costs by at most one micro-euro of rounding", () => {
    const small = fc.record({ prompt: fc.nat(1_000_000), cached: fc.nat(1_000_000), completion: fc.nat(1_000_000) });
    fc.assert(
      fc.property(small, small, ratesArb, (a, b, r) => {
        fc.pre(a.cached <= a.prompt && b.cached <= b.prompt);
        const joint = { prompt: a.prompt + b.prompt, cached: a.cached + b.cached, completion: a.completion + b.completion };
        const together = micro(costOfUsage(usageOf(joint), priceOf(r)));
        const apart = micro(costOfUsage(usageOf(a), priceOf(r))) + micro(costOfUsage(usageOf(b), priceOf(r)));
        expect(Math.abs(together - apart)).toBeLessThanOrEqual(1);
        // Whole micro-euro amounts add exactly.
        if (femtoOf(a, r) % 1_000_000_000n === 0n && femtoOf(b, r) % 1_000_000_000n === 0n) expect(together).toBe(apart);
      }),
      { numRuns: RUNS },
    );
  });

  test("cached prompt tokens are charged once, at the cached rate, and never more than the prompt", () => {
    fc.assert(
      fc.property(usageArb, ratesArb, (u, r) => {
        const price = priceOf(r);
        const cost = costOfUsage(usageOf(u), price);
        // Cached at the input rate is the same as not cached at all.
        expect(costOfUsage(usageOf(u), { ...price, cachedInputEurPerMTok: price.inputEurPerMTok })).toBe(
          costOfUsage(usageOf({ ...u, cached: 0 }), price),
        );
        // More cache hits than prompt tokens count as an all-cached prompt.
        expect(costOfUsage(usageOf({ ...u, cached: u.prompt + u.cached }), price)).toBe(costOfUsage(usageOf({ ...u, cached: u.prompt }), price));
        // A cheaper cached rate makes cache hits save money, never cost extra.
        if (r.cached <= r.input) expect(cost).toBeLessThanOrEqual(costOfUsage(usageOf({ ...u, cached: 0 }), price));
      }),
      { numRuns: RUNS },
    );
  });

  test("missing, negative, fractional and non-finite token counts never make a cost NaN or negative", () => {
    const odd = fc.oneof(
      tokens,
      fc.double({ noNaN: false }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, -1, 0.5, 1.5, -0),
      fc.constant(undefined as unknown as number),
    );
    fc.assert(
      fc.property(fc.record({ prompt: odd, cached: odd, completion: odd }), ratesArb, (u, r) => {
        const cost = costOfUsage(usageOf(u), priceOf(r));
        expect(Number.isFinite(cost)).toBe(true);
        expect(cost).toBeGreaterThanOrEqual(0);
        // Nonsense counts as none, fractions round, absurd counts stop at the largest exact one.
        const clean = (n: number) => (Number.isFinite(n) && n > 0 ? Math.min(Math.round(n), Number.MAX_SAFE_INTEGER) : 0);
        const cleaned = { prompt: clean(u.prompt), cached: clean(u.cached), completion: clean(u.completion) };
        expect(cost).toBe(costOfUsage(usageOf(cleaned), priceOf(r)));
      }),
      { numRuns: RUNS },
    );
  });

  test("a free price costs nothing and no tokens cost nothing", () => {
    fc.assert(
      fc.property(usageArb, ratesArb, (u, r) => {
        expect(costOfUsage(usageOf(u), priceOf({ input: 0, output: 0, cached: 0 }))).toBe(0);
        expect(costOfUsage(usageOf({ prompt: 0, cached: 0, completion: 0 }), priceOf(r))).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe("estimate properties", () => {
  const message = fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: fc.string({ maxLength: 400 }) }) as fc.Arbitrary<ChatMessage>;

  test("a token estimate is a quarter of the characters rounded up, and splitting text never loses tokens", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), fc.string({ maxLength: 500 }), (a, b) => {
        expect(estimateTokens(a)).toBe(Math.ceil(a.length / 4));
        const whole = estimateTokens(a + b);
        expect(estimateTokens(a) + estimateTokens(b)).toBeGreaterThanOrEqual(whole);
        expect(estimateTokens(a) + estimateTokens(b)).toBeLessThanOrEqual(whole + 1);
      }),
      { numRuns: RUNS },
    );
  });

  test("an estimated usage grows with every message and its cost bounds the cost of any shorter answer", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 6 }), message, fc.nat(8000), fc.nat(8000), ratesArb, (messages, extra, maxTokens, answered, r) => {
        const estimate = estimateUsage(messages, maxTokens);
        expect(estimate.estimated).toBe(true);
        expect(estimate.cachedTokens).toBe(0);
        expect(estimate.completionTokens).toBe(maxTokens);
        expect(estimateUsage([...messages, extra], maxTokens).promptTokens).toBeGreaterThan(estimate.promptTokens);
        const actual = { ...estimate, completionTokens: Math.min(answered, maxTokens) };
        expect(costOfUsage(actual, priceOf(r))).toBeLessThanOrEqual(costOfUsage(estimate, priceOf(r)));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("price selection properties", () => {
  const providers: ProviderName[] = ["openai", "anthropic", "deepseek"];
  const row = fc.record({
    provider: fc.constantFrom(...providers),
    model: fc.constantFrom("m1", "m2"),
    inputEurPerMTok: fc.nat(100),
    outputEurPerMTok: fc.nat(100),
    cachedInputEurPerMTok: fc.nat(100),
    effectiveFrom: fc.oneof(
      fc.date({ min: new Date("2024-01-01T00:00:00Z"), max: new Date("2026-01-01T00:00:00Z"), noInvalidDate: true }),
      fc.constant(new Date(Number.NaN)),
    ),
  }) as fc.Arbitrary<ModelPrice>;

  test("the price in force is the latest one that started at or before the instant, later rows winning a tie", () => {
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 12 }),
        fc.constantFrom(...providers),
        fc.constantFrom("m1", "m2"),
        fc.date({ min: new Date("2023-06-01T00:00:00Z"), max: new Date("2026-06-01T00:00:00Z"), noInvalidDate: true }),
        (prices, provider, model, at) => {
          const picked = pickPrice(prices, provider, model, at);
          const candidates = prices.filter((p) => p.provider === provider && p.model === model && p.effectiveFrom.getTime() <= at.getTime());
          if (candidates.length === 0) {
            expect(picked).toBeNull();
            return;
          }
          const latest = Math.max(...candidates.map((p) => p.effectiveFrom.getTime()));
          const winners = candidates.filter((p) => p.effectiveFrom.getTime() === latest);
          expect(picked).toBe(winners[winners.length - 1]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
