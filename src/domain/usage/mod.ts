/** Usage: what a license consumed, per calendar month and per day, as the plugin API reports it. */

/** Totals of AI requests in one UTC calendar month. */
export interface MonthUsage {
  requests: number;
  tokens: number;
  costEur: number;
}

/** One day of usage for `GET /api/usage`. */
export interface DayUsage {
  date: string;
  requests: number;
  tokens: number;
  endpoints: Record<string, number>;
}

/** One day, provider and model of the daily aggregates. */
export interface UsageDay {
  day: string;
  provider: string;
  model: string;
  requests: number;
  errors: number;
  tokens: number;
  costEur: number;
  totalMsSum: number;
}

/** One recent call, as `/api/usage/history` lists it. */
export interface RecentCall {
  createdAt: Date;
  provider: string;
  model: string;
  endpoint: string;
  tokens: number;
  costEur: number;
  totalMs: number;
  outcome: string;
  errorCode: string | null;
}

/** Port: read side of the usage ledger (daily aggregates; raw events only for the latest calls). */
export interface UsageLedger {
  monthToDate(licenseId: number, monthStart: Date): Promise<MonthUsage>;
  daily(licenseId: number, from: Date, to: Date): Promise<DayUsage[]>;
  days(licenseId: number, from: Date, to: Date, provider?: string): Promise<UsageDay[]>;
  recent(licenseId: number, since: Date, limit: number, provider?: string): Promise<RecentCall[]>;
}

/** First instant of the UTC calendar month containing `now`. */
export function monthStart(now: Date): Date {
  return firstOfMonth(now.getUTCFullYear(), now.getUTCMonth());
}

/** First instant of the next UTC calendar month, when monthly quotas reset. */
export function nextMonthStart(now: Date): Date {
  return firstOfMonth(now.getUTCFullYear(), now.getUTCMonth() + 1);
}

// Date.UTC reads years 0..99 as 1900..1999, which put the month of 0050-03-10 in 1950; setUTCFullYear
// takes the year as given (and rolls month 12 over into the next year).
function firstOfMonth(year: number, month: number): Date {
  const first = new Date(0);
  first.setUTCFullYear(year, month, 1);
  return first;
}

/** Empty month totals. */
export const NO_USAGE: MonthUsage = Object.freeze({ requests: 0, tokens: 0, costEur: 0 });

/** Money rounded to the contract's six decimals. */
export function roundEur(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** One AI call as the ledger keeps it (one row per call, aggregated per day). */
export interface UsageEvent {
  licenseId: number;
  customerId: number | null;
  provider: string;
  model: string;
  endpoint: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costEur: number;
  priceSnapshot: Record<string, unknown> | null;
  estimated: boolean;
  byok: boolean;
  upstreamMs: number | null;
  totalMs: number;
  /** "partial": a stream that broke after the provider produced output, billed for it. */
  outcome: "ok" | "partial" | "error";
  errorCode: string | null;
  clientIp: string | null;
  userAgent: string | null;
  createdAt: Date;
}

/** Port: write side of the usage ledger; `record` never blocks the request, `flush` persists what is queued. */
export interface UsageRecorder {
  record(event: UsageEvent): void;
  flush(): Promise<void>;
}

/** UTC calendar day of an instant, as the daily aggregates key it. */
export function dayOf(at: Date): string {
  return at.toISOString().slice(0, 10);
}
