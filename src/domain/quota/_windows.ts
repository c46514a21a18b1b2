/** Fixed UTC quota windows: a minute, an hour, a calendar month. */
import { monthStart, nextMonthStart } from "../usage/mod.ts";

/** A fixed UTC window that requests are counted in. */
export type QuotaWindow = "minute" | "hour" | "month";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** First instant of the UTC window containing `now` (the month is the calendar month). */
export function windowStart(window: QuotaWindow, now: Date): Date {
  if (window === "month") return monthStart(now);
  const size = window === "minute" ? MINUTE_MS : HOUR_MS;
  // Epoch milliseconds have no leap seconds or offsets, so flooring them yields UTC minute/hour boundaries.
  return new Date(Math.floor(now.getTime() / size) * size);
}

/** First instant after the window containing `now`: when its counters reset. */
export function windowEnd(window: QuotaWindow, now: Date): Date {
  if (window === "month") return nextMonthStart(now);
  const size = window === "minute" ? MINUTE_MS : HOUR_MS;
  return new Date(windowStart(window, now).getTime() + size);
}
