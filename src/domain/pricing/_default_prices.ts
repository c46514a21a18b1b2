/** The price table seeded on first start, converted from the providers' USD list prices. */
import { roundEur } from "../usage/mod.ts";
import type { ModelPrice } from "./_types.ts";

// Providers publish their prices in USD per million tokens while the service bills in EUR, so the seeded
// table is a snapshot at this rate; admins edit the table (rows with a later effectiveFrom) when providers
// or the exchange rate move.
/** USD→EUR rate the seed prices were converted at, once, on first start. */
export const USD_TO_EUR_AT_SEED = 0.86;

// Published list prices in USD per million tokens: [input, output, cached input]. Copied from the
// providers' pricing pages, never estimated; every model of DEFAULT_PLANS' allow-lists has a row.
const USD_LIST_PRICES: [ModelPrice["provider"], string, number, number, number][] = [
  ["openai", "gpt-4o-mini", 0.15, 0.6, 0.075],
  ["openai", "gpt-4o", 2.5, 10.0, 1.25],
  ["openai", "gpt-4.1-mini", 0.4, 1.6, 0.1],
  ["openai", "gpt-4.1", 2.0, 8.0, 0.5],
  ["anthropic", "claude-3-5-haiku-latest", 0.8, 4.0, 0.08],
  ["anthropic", "claude-haiku-4-5", 1.0, 5.0, 0.1],
  ["anthropic", "claude-sonnet-4-5", 3.0, 15.0, 0.3],
  ["deepseek", "deepseek-chat", 0.28, 0.42, 0.028],
  ["deepseek", "deepseek-reasoner", 0.28, 0.42, 0.028],
];

/** Seed rows of the price table in EUR per million tokens (6 decimals); the seeder sets effectiveFrom. */
export const DEFAULT_PRICES: Omit<ModelPrice, "effectiveFrom">[] = USD_LIST_PRICES.map(
  ([provider, model, input, output, cachedInput]) => ({
    provider,
    model,
    inputEurPerMTok: roundEur(input * USD_TO_EUR_AT_SEED),
    outputEurPerMTok: roundEur(output * USD_TO_EUR_AT_SEED),
    cachedInputEurPerMTok: roundEur(cachedInput * USD_TO_EUR_AT_SEED),
  }),
);
