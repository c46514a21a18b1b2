/** Types of the reports module; re-exported by mod.ts. */
import type { BillingKind } from "../plans/mod.ts";

/** How analytics group days. */
export type ReportGrouping = "day" | "week";

/** An inclusive range of UTC days ('YYYY-MM-DD'). */
export interface DayRange {
  from: string;
  to: string;
}

/** One plan with the license counts the revenue figures are made of. */
export interface PlanLicenseCounts {
  planId: number;
  name: string;
  displayName: string;
  priceEur: number;
  billing: BillingKind | string;
  isLifetime: boolean;
  lifetimeCap: number | null;
  /** Licenses whose effective status is active (stored active, not past expires_at). */
  active: number;
  /** Licenses that are not cancelled (sold and not refunded). */
  nonCancelled: number;
}

/** Revenue derived from real plan prices. */
export interface RevenueFigures {
  mrrEur: number;
  arrEur: number;
  oneTimeEur: number;
  lifetimeSold: number;
  /** Remaining capacity over capped lifetime plans; null when no lifetime plan has a cap. */
  lifetimeLeft: number | null;
}

/** One row of the daily aggregates, summed over licenses and endpoints. */
export interface UsageSlice {
  day: string;
  provider: string;
  model: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costEur: number;
  totalMsSum: number;
}

/** Usage totals of a group (a period, a provider and model, a license...). */
export interface UsageTotals {
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  tokens: number;
  costEur: number;
  totalMsSum: number;
  /** errors / requests, 0 without requests. */
  errorRate: number;
  /** total_ms_sum / requests in ms, 0 without requests. */
  avgLatencyMs: number;
}
