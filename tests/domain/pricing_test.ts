import { describe, expect, test } from "bun:test";
import type { ChatMessage, TokenUsage } from "../../src/domain/chat/mod.ts";
import { DEFAULT_PLANS, PROVIDERS } from "../../src/domain/plans/mod.ts";
import {
  costOfUsage,
  DEFAULT_PRICES,
  estimateTokens,
  estimateUsage,
  type ModelPrice,
  pickPrice,
  priceSnapshot,
  USD_TO_EUR_AT_SEED,
  validatePrice,
} from "../../src/domain/pricing/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";

function seed(model: string): Omit<ModelPrice, "effectiveFrom"> {
  const found = DEFAULT_PRICES.find((p) => p.model === model);
  if (found === undefined) throw new Error(`no default price for ${model}`);
  return found;
}

function usage(promptTokens: number, cachedTokens: number, completionTokens: number): TokenUsage {
  return { promptTokens, cachedTokens, completionTokens, estimated: false };
}

function price(model: string, effectiveFrom: string, input: number): ModelPrice {
  return {
    provider: "openai",
    model,
    inputEurPerMTok: input,
    outputEurPerMTok: input * 4,
    cachedInputEurPerMTok: input / 2,
    effectiveFrom: new Date(effectiveFrom),
  };
}

describe("DEFAULT_PRICES", () => {
  test("DEFAULT_PRICES converts the published USD list prices at 0.86 and rounds to six decimals", () => {
    expect(USD_TO_EUR_AT_SEED).toBe(0.86);
    const rows = DEFAULT_PRICES.map((p) => [p.provider, p.model, p.inputEurPerMTok, p.outputEurPerMTok, p.cachedInputEurPerMTok]);
    expect(rows).toEqual([
      ["openai", "gpt-4o-mini", 0.129, 0.516, 0.0645],
      ["openai", "gpt-4o", 2.15, 8.6, 1.075],
      ["openai", "gpt-4.1-mini", 0.344, 1.376, 0.086],
      ["openai", "gpt-4.1", 1.72, 6.88, 0.43],
      ["anthropic", "claude-3-5-haiku-latest", 0.688, 3.44, 0.0688],
      ["anthropic", "claude-haiku-4-5", 0.86, 4.3, 0.086],
      ["anthropic", "claude-sonnet-4-5", 2.58, 12.9, 0.258],
      ["deepseek", "deepseek-chat", 0.2408, 0.3612, 0.02408],
      ["deepseek", "deepseek-reasoner", 0.2408, 0.3612, 0.02408],
    ]);
  });

  test("DEFAULT_PRICES has exactly one row for every model in the default plans' allow-lists", () => {
    const allowed = new Set<string>();
    for (const plan of DEFAULT_PLANS) {
      for (const provider of PROVIDERS) for (const model of plan.allowedModels[provider]) allowed.add(`${provider}/${model}`);
    }
    const priced = DEFAULT_PRICES.map((p) => `${p.provider}/${p.model}`);
    expect(new Set(priced).size).toBe(priced.length);
    expect([...priced].sort()).toEqual([...allowed].sort());
  });

  test("DEFAULT_PRICES rows are all valid price rows", () => {
    for (const row of DEFAULT_PRICES) expect(validatePrice(row)).toEqual([]);
  });
});

describe("costOfUsage", () => {
  test("costOfUsage charges uncached prompt, cached prompt and completion tokens at their own rates", () => {
    // (1034 × 0.129 + 200 × 0.0645 + 567 × 0.516) / 1e6 = 0.000438858 EUR → 0.000439
    expect(costOfUsage(usage(1234, 200, 567), seed("gpt-4o-mini"))).toBe(0.000439);
  });

  test("costOfUsage gives exact figures for a million tokens of each kind", () => {
    const gpt4o = seed("gpt-4o");
    expect(costOfUsage(usage(1_000_000, 0, 0), gpt4o)).toBe(2.15);
    expect(costOfUsage(usage(1_000_000, 1_000_000, 0), gpt4o)).toBe(1.075);
    expect(costOfUsage(usage(0, 0, 1_000_000), gpt4o)).toBe(8.6);
    expect(costOfUsage(usage(1_000_000, 250_000, 1_000_000), gpt4o)).toBe(10.48125);
  });

  test("costOfUsage rounds an exact half micro-euro up where float arithmetic would round it down", () => {
    // 470 × 2.15 = 1010.5 micro-euro exactly; 470 * 2.15 / 1e6 in floats lands just below the half.
    expect(costOfUsage(usage(470, 0, 0), seed("gpt-4o"))).toBe(0.001011);
    expect(costOfUsage(usage(1830, 0, 0), seed("gpt-4o"))).toBe(0.003935);
    expect(costOfUsage(usage(1525, 0, 0), seed("claude-sonnet-4-5"))).toBe(0.003935);
  });

  test("costOfUsage rounds below half a micro-euro down and matches the contract's tiny costs", () => {
    // 20 × 0.129 + 35 × 0.516 = 20.64 micro-euro
    expect(costOfUsage(usage(20, 0, 35), seed("gpt-4o-mini"))).toBe(0.000021);
    expect(costOfUsage(usage(1, 0, 0), seed("gpt-4o-mini"))).toBe(0);
    expect(costOfUsage(usage(0, 0, 0), seed("gpt-4o-mini"))).toBe(0);
  });

  test("costOfUsage counts cached tokens once, inside the prompt, never on top of it", () => {
    const rates = { inputEurPerMTok: 1, cachedInputEurPerMTok: 0.1, outputEurPerMTok: 0 };
    expect(costOfUsage(usage(1_000_000, 400_000, 0), rates)).toBe(0.64);
  });

  test("costOfUsage clamps cached tokens above the prompt to the prompt", () => {
    const rates = seed("deepseek-chat");
    expect(costOfUsage(usage(1000, 5000, 100), rates)).toBe(costOfUsage(usage(1000, 1000, 100), rates));
    // 1000 × 0.02408 + 100 × 0.3612 = 60.2 micro-euro
    expect(costOfUsage(usage(1000, 5000, 100), rates)).toBe(0.00006);
  });

  test("costOfUsage treats negative or non-finite token counts as none", () => {
    const rates = seed("gpt-4o-mini");
    expect(costOfUsage(usage(-5, -1, Number.NaN), rates)).toBe(0);
    expect(costOfUsage(usage(1_000_000, Number.POSITIVE_INFINITY, 0), rates)).toBe(0.129);
  });

  test("costOfUsage caps absurd token counts at the largest exact count instead of costing Infinity", () => {
    const rates = { inputEurPerMTok: 2.15, outputEurPerMTok: 8.6, cachedInputEurPerMTok: 1.075 };
    const cost = costOfUsage(usage(1.7e308, 0, 1.7e308), rates);
    expect(Number.isFinite(cost)).toBe(true);
    expect(cost).toBe(costOfUsage(usage(Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER), rates));
  });

  test("costOfUsage stays exact for very large counts", () => {
    expect(costOfUsage(usage(0, 0, 3_000_000_000), seed("claude-sonnet-4-5"))).toBe(38700);
  });

  test("costOfUsage refuses a negative or non-finite price with an invalid_argument DomainError", () => {
    const bad = { inputEurPerMTok: -1, cachedInputEurPerMTok: 0, outputEurPerMTok: 0 };
    expect(() => costOfUsage(usage(1, 0, 0), bad)).toThrow(DomainError);
    try {
      costOfUsage(usage(1, 0, 0), { ...bad, inputEurPerMTok: 1, outputEurPerMTok: Number.NaN });
      throw new Error("expected a DomainError");
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).code).toBe("invalid_argument");
      expect((error as DomainError).details).toEqual({ field: "outputEurPerMTok" });
    }
  });
});

describe("pickPrice", () => {
  const prices: ModelPrice[] = [
    price("gpt-4o-mini", "2025-01-01T00:00:00Z", 1),
    price("gpt-4o-mini", "2025-06-01T00:00:00Z", 3),
    price("gpt-4o-mini", "2025-03-01T00:00:00Z", 2),
    price("gpt-4o", "2025-02-01T00:00:00Z", 10),
    { ...price("gpt-4o-mini", "2025-04-01T00:00:00Z", 99), provider: "deepseek" },
  ];

  test("pickPrice picks the latest price already in effect, whatever the list order", () => {
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2025-02-15T00:00:00Z"))?.inputEurPerMTok).toBe(1);
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2025-05-31T23:59:59Z"))?.inputEurPerMTok).toBe(2);
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2030-01-01T00:00:00Z"))?.inputEurPerMTok).toBe(3);
  });

  test("pickPrice applies a price from its effectiveFrom instant on", () => {
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2025-03-01T00:00:00Z"))?.inputEurPerMTok).toBe(2);
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2025-02-28T23:59:59.999Z"))?.inputEurPerMTok).toBe(1);
  });

  test("pickPrice returns null before the first price and for unknown models", () => {
    expect(pickPrice(prices, "openai", "gpt-4o-mini", new Date("2024-12-31T23:59:59Z"))).toBeNull();
    expect(pickPrice(prices, "openai", "gpt-5", new Date("2025-06-01T00:00:00Z"))).toBeNull();
    expect(pickPrice([], "openai", "gpt-4o", new Date())).toBeNull();
  });

  test("pickPrice matches provider and model together", () => {
    expect(pickPrice(prices, "deepseek", "gpt-4o-mini", new Date("2025-05-01T00:00:00Z"))?.inputEurPerMTok).toBe(99);
    expect(pickPrice(prices, "anthropic", "gpt-4o", new Date("2025-05-01T00:00:00Z"))).toBeNull();
  });

  test("pickPrice lets the later row win a tie on effectiveFrom and ignores invalid dates", () => {
    const tied = [price("m", "2025-01-01T00:00:00Z", 1), price("m", "2025-01-01T00:00:00Z", 2), price("m", "garbage", 7)];
    expect(pickPrice(tied, "openai", "m", new Date("2025-01-02T00:00:00Z"))?.inputEurPerMTok).toBe(2);
  });
});

describe("priceSnapshot", () => {
  test("priceSnapshot is plain JSON that survives a round trip unchanged", () => {
    const snapshot = priceSnapshot({ ...seed("gpt-4o-mini"), effectiveFrom: new Date("2025-01-01T00:00:00Z") });
    expect(snapshot).toEqual({
      provider: "openai",
      model: "gpt-4o-mini",
      inputEurPerMTok: 0.129,
      outputEurPerMTok: 0.516,
      cachedInputEurPerMTok: 0.0645,
      effectiveFrom: "2025-01-01T00:00:00.000Z",
    });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });
});

describe("estimateUsage", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: "You are helpful." }, // 16 chars
    { role: "user", content: "Hello there, how are you?" }, // 25 chars
  ];

  test("estimateUsage counts a quarter token per character, rounded up, plus four per message", () => {
    // ceil(41 / 4) + 2 × 4 = 11 + 8
    expect(estimateUsage(messages, 500)).toEqual({ promptTokens: 19, completionTokens: 500, cachedTokens: 0, estimated: true });
  });

  test("estimateUsage of no messages is an empty prompt", () => {
    expect(estimateUsage([], 0)).toEqual({ promptTokens: 0, completionTokens: 0, cachedTokens: 0, estimated: true });
  });

  test("estimateUsage treats a negative or non-finite completion as none", () => {
    expect(estimateUsage(messages, -3).completionTokens).toBe(0);
    expect(estimateUsage(messages, Number.NaN).completionTokens).toBe(0);
  });

  test("estimateTokens gives a completion estimate for answers without reported usage", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("abcd")).toBe(1);
    expect(estimateTokens("abcde")).toBe(2);
    expect(estimateUsage(messages, estimateTokens("x".repeat(100))).completionTokens).toBe(25);
  });

  test("estimateUsage priced at the seed rates gives a reservation estimate", () => {
    // 19 × 0.129 + 500 × 0.516 = 260.451 micro-euro
    expect(costOfUsage(estimateUsage(messages, 500), seed("gpt-4o-mini"))).toBe(0.00026);
  });
});

describe("validatePrice", () => {
  test("validatePrice names every broken field", () => {
    const bad = {
      provider: "mistral",
      model: " ",
      inputEurPerMTok: -1,
      outputEurPerMTok: Number.POSITIVE_INFINITY,
      cachedInputEurPerMTok: "0.1",
      effectiveFrom: new Date("nope"),
    } as unknown as ModelPrice;
    expect(validatePrice(bad)).toEqual([
      "provider",
      "model",
      "inputEurPerMTok",
      "outputEurPerMTok",
      "cachedInputEurPerMTok",
      "effectiveFrom",
    ]);
  });

  test("validatePrice accepts a free model and a dated row", () => {
    expect(validatePrice({ ...seed("gpt-4o"), inputEurPerMTok: 0, effectiveFrom: new Date("2025-01-01T00:00:00Z") })).toEqual([]);
  });
});
