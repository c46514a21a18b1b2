/** The admission decision of an AI call against a plan's limits, and its contract error bodies. */
import { isUnlimited, type PlanLimits } from "../plans/mod.ts";
import { retryAfterSeconds as secondsUntil } from "../shared/mod.ts";
import { windowEnd, type QuotaWindow } from "./_windows.ts";

/** Requests and cost counted in one window: settled calls plus in-flight reservations, summed by the adapter. */
export interface WindowCount {
  requests: number;
  costEur: number;
}

/** A license's counts in the three windows at one instant. */
export interface QuotaSnapshot {
  minute: WindowCount;
  hour: WindowCount;
  month: WindowCount;
}

/** Why a call is refused, in the contract's order of checks. */
export type AdmissionReason = "monthly_limit" | "rate_limit_minute" | "rate_limit_hour" | "budget_exceeded";

/** Every refusal reason in the contract's order of checks. */
export const ADMISSION_REASONS: readonly AdmissionReason[] = Object.freeze([
  "monthly_limit",
  "rate_limit_minute",
  "rate_limit_hour",
  "budget_exceeded",
]);

/** A refusal: the limit that was hit (requests, or EUR for the budget) and when its window resets. */
export type AdmissionDenial = { allowed: false; reason: AdmissionReason; limit: number; resetAt: Date };

/** Whether a call may go upstream. */
export type AdmissionDecision = { allowed: true } | AdmissionDenial;

/** One limit check: the limit, whether it blocks now, and the window it resets with. */
interface Check {
  reason: AdmissionReason;
  limit: number;
  blocked: boolean;
  window: QuotaWindow;
}

/** Every check of the contract in order; `blocked` is false for unlimited (0) limits and a skipped budget. */
export function admissionChecks(
  limits: PlanLimits,
  snapshot: QuotaSnapshot,
  options: { chargeBudget: boolean },
): Check[] {
  const requests = (limit: number, used: number) => !isUnlimited(limit) && used >= limit;
  // Money is compared in whole micro-euros so float sums such as 3.9999999999999996 cannot slip under 4.
  const budgetBlocked =
    options.chargeBudget &&
    !isUnlimited(limits.monthlyBudgetEur) &&
    toMicro(snapshot.month.costEur) >= toMicro(limits.monthlyBudgetEur);
  return [
    { reason: "monthly_limit", limit: limits.monthlyRequests, blocked: requests(limits.monthlyRequests, snapshot.month.requests), window: "month" },
    { reason: "rate_limit_minute", limit: limits.requestsPerMinute, blocked: requests(limits.requestsPerMinute, snapshot.minute.requests), window: "minute" },
    { reason: "rate_limit_hour", limit: limits.requestsPerHour, blocked: requests(limits.requestsPerHour, snapshot.hour.requests), window: "hour" },
    { reason: "budget_exceeded", limit: limits.monthlyBudgetEur, blocked: budgetBlocked, window: "month" },
  ];
}

// The snapshot already counts in-flight reservations, so concurrent calls cannot all pass on the last bit
// of quota; BYOK calls (chargeBudget false) skip the budget but not the request limits.
/** Admits a call or names the first limit it hits: monthly requests, per minute, per hour, then the monthly budget. */
export function decideAdmission(
  limits: PlanLimits,
  snapshot: QuotaSnapshot,
  now: Date,
  options: { chargeBudget: boolean },
): AdmissionDecision {
  const hit = admissionChecks(limits, snapshot, options).find((check) => check.blocked);
  if (hit === undefined) return { allowed: true };
  return { allowed: false, reason: hit.reason, limit: hit.limit, resetAt: windowEnd(hit.window, now) };
}

/** The contract's HTTP status and JSON body for a refusal (429 for request limits, 402 for the budget). */
export function admissionError(decision: AdmissionDenial): { status: 429 | 402; body: Record<string, unknown> } {
  const reset_time = decision.resetAt.toISOString();
  switch (decision.reason) {
    case "monthly_limit":
      return {
        status: 429,
        body: { error: "Monthly request limit exceeded", code: "monthly_limit", limit: decision.limit, reset_time },
      };
    case "rate_limit_minute":
    case "rate_limit_hour": {
      const per = decision.reason === "rate_limit_minute" ? "minute" : "hour";
      return {
        status: 429,
        body: { error: `Rate limit exceeded: too many requests per ${per}`, code: decision.reason, limit: decision.limit, reset_time },
      };
    }
    case "budget_exceeded":
      return {
        status: 402,
        body: { error: "Monthly budget exceeded", code: "budget_exceeded", budget_eur: decision.limit, reset_time },
      };
  }
}

/** Seconds for the `Retry-After` header of a refusal (at least 1). */
export function retryAfterSeconds(decision: AdmissionDenial, now: Date): number {
  return secondsUntil(decision.resetAt, now);
}

/** EUR as whole micro-euros, the contract's money precision. */
export function toMicro(eur: number): number {
  return Math.round(eur * 1_000_000);
}
