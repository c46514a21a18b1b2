/** Day ranges, week bucketing and usage totals of the analytics. */
import type { DayRange, ReportGrouping, UsageSlice, UsageTotals } from "./_types.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Longest range analytics accept, in days (a year and a day covers a leap year). */
export const MAX_RANGE_DAYS = 367;

// The last day 'YYYY-MM-DD' can name; a range may not end on it, as nothing names the day after.
const LAST_DAY = "9999-12-31";

/** UTC calendar day of an instant as 'YYYY-MM-DD'. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The instant a 'YYYY-MM-DD' day starts (UTC), or null when the text is not a real calendar day. */
export function parseDay(text: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const date = new Date(`${text}T00:00:00.000Z`);
  return Number.isNaN(date.getTime()) || utcDay(date) !== text ? null : date;
}

/** `day` moved by `days` whole days. */
export function addDays(day: string, days: number): string {
  const start = parseDay(day);
  if (!start) throw new RangeError(`not a day: ${day}`);
  return utcDay(new Date(start.getTime() + days * DAY_MS));
}

/** Every day of an inclusive range, in order. */
export function daysOf(range: DayRange): string[] {
  const out: string[] = [];
  if (range.from > range.to) return out;
  // Stops at `to` without computing the day after it: after 9999-12-31 there is no 'YYYY-MM-DD' day.
  for (let day = range.from; ; day = addDays(day, 1)) {
    out.push(day);
    if (day >= range.to) return out;
  }
}

/** The Monday (ISO week start, UTC) of the week containing `day`. */
export function weekStart(day: string): string {
  const start = parseDay(day);
  if (!start) throw new RangeError(`not a day: ${day}`);
  const sinceMonday = (start.getUTCDay() + 6) % 7;
  return addDays(day, -sinceMonday);
}

/** The period a day falls in: the day itself, or its week's Monday. */
export function periodOf(day: string, grouping: ReportGrouping): string {
  return grouping === "week" ? weekStart(day) : day;
}

/** Every period of a range, in order (weeks are labelled by their Monday, which may precede `from`). */
export function periodsOf(range: DayRange, grouping: ReportGrouping): string[] {
  const seen: string[] = [];
  for (const day of daysOf(range)) {
    const period = periodOf(day, grouping);
    if (seen[seen.length - 1] !== period) seen.push(period);
  }
  return seen;
}

/** The range, grouping and field errors read from a query; the default is the last 30 days up to `today`. */
export function parseReportQuery(
  query: { from?: unknown; to?: unknown; group?: unknown },
  today: string,
): { range: DayRange; grouping: ReportGrouping; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const text = (v: unknown) => (typeof v === "string" ? v.trim() : "");
  const fromText = text(query.from) || addDays(today, -29);
  const toText = text(query.to) || today;
  const groupText = text(query.group) || "day";
  if (!parseDay(fromText)) errors.from = "Enter a date as YYYY-MM-DD.";
  if (!parseDay(toText)) errors.to = "Enter a date as YYYY-MM-DD.";
  if (!errors.from && !errors.to) {
    // Callers read a range up to the start of the day after `to` (addDays(to, 1)), which must be a day too.
    if (toText >= LAST_DAY) errors.to = `Choose an end date before ${LAST_DAY}.`;
    else if (fromText > toText) errors.to = "The end date must not be before the start date.";
    else if ((parseDay(toText)!.getTime() - parseDay(fromText)!.getTime()) / DAY_MS + 1 > MAX_RANGE_DAYS) {
      errors.to = `Choose at most ${MAX_RANGE_DAYS} days.`;
    }
  }
  if (groupText !== "day" && groupText !== "week") errors.group = "Group by day or week.";
  return {
    range: { from: fromText, to: toText },
    grouping: groupText === "week" ? "week" : "day",
    errors,
  };
}

/** Sums slices into totals with error rate and average latency. */
export function totalsOf(slices: Iterable<Omit<UsageSlice, "day" | "provider" | "model">>): UsageTotals {
  const t = { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, costEur: 0, totalMsSum: 0 };
  for (const s of slices) {
    t.requests += s.requests;
    t.errors += s.errors;
    t.promptTokens += s.promptTokens;
    t.completionTokens += s.completionTokens;
    t.costEur += s.costEur;
    t.totalMsSum += s.totalMsSum;
  }
  return {
    ...t,
    costEur: Math.round(t.costEur * 1e6) / 1e6,
    tokens: t.promptTokens + t.completionTokens,
    errorRate: t.requests > 0 ? t.errors / t.requests : 0,
    avgLatencyMs: t.requests > 0 ? t.totalMsSum / t.requests : 0,
  };
}

/** Groups slices by a key, keeping the keys' first-seen order, and totals each group. */
export function groupTotals<K extends string>(slices: readonly UsageSlice[], keyOf: (s: UsageSlice) => K): Map<K, UsageTotals> {
  const groups = new Map<K, UsageSlice[]>();
  for (const s of slices) {
    const key = keyOf(s);
    const list = groups.get(key);
    if (list) list.push(s);
    else groups.set(key, [s]);
  }
  return new Map([...groups].map(([k, list]) => [k, totalsOf(list)]));
}
