/** Public face of the pricing module: per-model prices in EUR, the seeded table, cost of a usage and the PriceTable port. */
export type { ModelPrice, PriceRates, PriceSnapshot, PriceTable } from "./_types.ts";
export { DEFAULT_PRICES, USD_TO_EUR_AT_SEED } from "./_default_prices.ts";
export { costOfUsage, estimateTokens, estimateUsage, pickPrice, priceSnapshot, validatePrice } from "./_cost.ts";
