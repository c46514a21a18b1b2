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

/** Port: read side of the usage ledger. */
export interface UsageLedger {
  monthToDate(licenseId: number, monthStart: Date): Promise<MonthUsage>;
  daily(licenseId: number, from: Date, to: Date): Promise<DayUsage[]>;
}

/** First instant of the UTC calendar month containing `now`. */
export function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** First instant of the next UTC calendar month, when monthly quotas reset. */
export function nextMonthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/** Empty month totals. */
export const NO_USAGE: MonthUsage = Object.freeze({ requests: 0, tokens: 0, costEur: 0 });

/** Money rounded to the contract's six decimals. */
export function roundEur(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
