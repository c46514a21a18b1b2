/** Types and the PriceTable port of the pricing module; re-exported by mod.ts. */
import type { ProviderName } from "../plans/mod.ts";

/** The price of one model from a given instant on, in EUR per million tokens. */
export interface ModelPrice {
  provider: ProviderName;
  model: string;
  inputEurPerMTok: number;
  outputEurPerMTok: number;
  /** Price of prompt tokens served from the provider's cache (they are part of the prompt, not extra). */
  cachedInputEurPerMTok: number;
  effectiveFrom: Date;
}

/** The three rates a cost is computed from; any ModelPrice (or seed row) is one. */
export type PriceRates = Pick<ModelPrice, "inputEurPerMTok" | "outputEurPerMTok" | "cachedInputEurPerMTok">;

/** The price a usage event was charged at, as plain JSON stored with the event (prices change later). */
export interface PriceSnapshot {
  provider: ProviderName;
  model: string;
  inputEurPerMTok: number;
  outputEurPerMTok: number;
  cachedInputEurPerMTok: number;
  /** ISO-8601 UTC. */
  effectiveFrom: string;
}

/** Port: the per-model price table that admins edit. */
export interface PriceTable {
  priceFor(provider: ProviderName, model: string, at: Date): Promise<ModelPrice | null>;
  list(): Promise<ModelPrice[]>;
}
