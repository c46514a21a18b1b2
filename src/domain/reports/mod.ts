/** Public face of the reports module: revenue from plan prices, day ranges and weeks, usage totals, CSV. */
export type { DayRange, PlanLicenseCounts, ReportGrouping, RevenueFigures, UsageSlice, UsageTotals } from "./_types.ts";
export { monthlyValueEur, revenueFigures } from "./_revenue.ts";
export {
  addDays,
  daysOf,
  groupTotals,
  MAX_RANGE_DAYS,
  parseDay,
  parseReportQuery,
  periodOf,
  periodsOf,
  totalsOf,
  utcDay,
  weekStart,
} from "./_periods.ts";
export { csvCell, csvDocument } from "./_csv.ts";
