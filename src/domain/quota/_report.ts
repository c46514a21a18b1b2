/** Usage reporting for `/api/usage/current` and `/api/limits/check`: percentages, warnings, limit status. */
import { isUnlimited, type PlanLimits } from "../plans/mod.ts";
import { roundEur } from "../usage/mod.ts";
import { admissionChecks, toMicro, type AdmissionReason, type QuotaSnapshot, type WindowCount } from "./_admission.ts";
import { windowEnd } from "./_windows.ts";

/** Share of the monthly request limit and budget used, in percent with one decimal; 0 when unlimited. */
export interface UsagePercentages {
  requests: number;
  budget: number;
}

/** One request limit of `/api/limits/check`. */
export interface RequestLimitStatus {
  passed: boolean;
  current: number;
  limit: number;
  percentage: number;
}

/** The budget row of `/api/limits/check`. */
export interface BudgetLimitStatus {
  passed: boolean;
  current_cost_eur: number;
  limit_eur: number;
  percentage: number;
}

/** The computed part of the `/api/limits/check` answer, keys exactly as the contract spells them. */
export interface LimitsCheck {
  can_make_request: boolean;
  limits_status: {
    monthly_requests: RequestLimitStatus;
    requests_per_minute: RequestLimitStatus;
    requests_per_hour: RequestLimitStatus;
    monthly_budget: BudgetLimitStatus;
  };
  blocking_factors: AdmissionReason[];
  reset_times: { monthly: string; hour: string; minute: string };
}

/** The contract's warning when at least 80 % of the monthly requests are used. */
export const REQUESTS_WARNING = "Monthly request limit approaching (>80%)";

/** The contract's warning when at least 80 % of the monthly budget is used. */
export const BUDGET_WARNING = "Monthly budget limit approaching (>80%)";

/** Percent of the monthly request limit and budget used (one decimal, not capped at 100); 0 for unlimited. */
export function usagePercentages(
  limits: PlanLimits,
  month: Pick<WindowCount, "requests" | "costEur">,
): UsagePercentages {
  return {
    requests: percentage(month.requests, limits.monthlyRequests),
    budget: percentage(month.costEur, limits.monthlyBudgetEur),
  };
}

/** The contract's warnings for a month at or above 80 % of its request limit or budget (none for unlimited). */
export function usageWarnings(limits: PlanLimits, month: Pick<WindowCount, "requests" | "costEur">): string[] {
  const warnings: string[] = [];
  // Integer comparisons (x/limit ≥ 4/5 ⇔ 5x ≥ 4·limit) so exactly 80 % warns whatever the float rounding.
  if (!isUnlimited(limits.monthlyRequests) && month.requests * 5 >= limits.monthlyRequests * 4) {
    warnings.push(REQUESTS_WARNING);
  }
  if (!isUnlimited(limits.monthlyBudgetEur) && toMicro(month.costEur) * 5 >= toMicro(limits.monthlyBudgetEur) * 4) {
    warnings.push(BUDGET_WARNING);
  }
  return warnings;
}

/** Status of every limit, what blocks (in the contract's order, same rules as decideAdmission) and when each window resets. */
export function limitsStatus(
  limits: PlanLimits,
  snapshot: QuotaSnapshot,
  now: Date,
  options: { chargeBudget: boolean },
): LimitsCheck {
  const checks = admissionChecks(limits, snapshot, options);
  const passed = (reason: AdmissionReason) => !checks.some((check) => check.reason === reason && check.blocked);
  const requestRow = (reason: AdmissionReason, current: number, limit: number): RequestLimitStatus => ({
    passed: passed(reason),
    current,
    limit,
    percentage: percentage(current, limit),
  });
  const blocking = checks.filter((check) => check.blocked).map((check) => check.reason);
  return {
    can_make_request: blocking.length === 0,
    limits_status: {
      monthly_requests: requestRow("monthly_limit", snapshot.month.requests, limits.monthlyRequests),
      requests_per_minute: requestRow("rate_limit_minute", snapshot.minute.requests, limits.requestsPerMinute),
      requests_per_hour: requestRow("rate_limit_hour", snapshot.hour.requests, limits.requestsPerHour),
      monthly_budget: {
        passed: passed("budget_exceeded"),
        current_cost_eur: roundEur(snapshot.month.costEur),
        limit_eur: limits.monthlyBudgetEur,
        percentage: percentage(snapshot.month.costEur, limits.monthlyBudgetEur),
      },
    },
    blocking_factors: blocking,
    reset_times: {
      monthly: windowEnd("month", now).toISOString(),
      hour: windowEnd("hour", now).toISOString(),
      minute: windowEnd("minute", now).toISOString(),
    },
  };
}

function percentage(used: number, limit: number): number {
  if (isUnlimited(limit)) return 0;
  // One division then one rounding (×1000 / limit, then /10) keeps 3.2 of 4 at exactly 80.
  return Math.round((used * 1000) / limit) / 10;
}
