import { describe, expect, test } from "bun:test";
import { DEFAULT_PLANS, type PlanLimits } from "../../src/domain/plans/mod.ts";
import {
  ADMISSION_REASONS,
  type AdmissionDecision,
  type AdmissionDenial,
  admissionError,
  decideAdmission,
  limitsStatus,
  type QuotaSnapshot,
  retryAfterSeconds,
  usagePercentages,
  usageWarnings,
  windowEnd,
  windowStart,
} from "../../src/domain/quota/mod.ts";

function limitsOf(name: string): PlanLimits {
  const plan = DEFAULT_PLANS.find((p) => p.name === name);
  if (plan === undefined) throw new Error(`no default plan ${name}`);
  return { ...plan.limits };
}

const PRO = limitsOf("pro"); // 1000 / month, 10 / minute, 200 / hour, 4.00 EUR
const STARTER = limitsOf("starter"); // all unlimited

function snapshot(month: [number, number] = [0, 0], hour = 0, minute = 0): QuotaSnapshot {
  return {
    month: { requests: month[0], costEur: month[1] },
    hour: { requests: hour, costEur: 0 },
    minute: { requests: minute, costEur: 0 },
  };
}

function denied(decision: AdmissionDecision): AdmissionDenial {
  if (decision.allowed) throw new Error("expected a refusal");
  return decision;
}

const CHARGED = { chargeBudget: true };
const BYOK = { chargeBudget: false };
const NOW = new Date("2025-03-14T15:09:26.535Z");

describe("quota windows", () => {
  test("windowStart and windowEnd bound the UTC minute, hour and calendar month", () => {
    expect(windowStart("minute", NOW).toISOString()).toBe("2025-03-14T15:09:00.000Z");
    expect(windowEnd("minute", NOW).toISOString()).toBe("2025-03-14T15:10:00.000Z");
    expect(windowStart("hour", NOW).toISOString()).toBe("2025-03-14T15:00:00.000Z");
    expect(windowEnd("hour", NOW).toISOString()).toBe("2025-03-14T16:00:00.000Z");
    expect(windowStart("month", NOW).toISOString()).toBe("2025-03-01T00:00:00.000Z");
    expect(windowEnd("month", NOW).toISOString()).toBe("2025-04-01T00:00:00.000Z");
  });

  test("a window starts at its first instant and its end belongs to the next window", () => {
    const boundary = new Date("2025-03-14T16:00:00.000Z");
    expect(windowStart("hour", boundary).toISOString()).toBe("2025-03-14T16:00:00.000Z");
    expect(windowEnd("hour", boundary).toISOString()).toBe("2025-03-14T17:00:00.000Z");
    const before = new Date("2025-03-14T15:59:59.999Z");
    expect(windowStart("minute", before).toISOString()).toBe("2025-03-14T15:59:00.000Z");
    expect(windowEnd("minute", before).toISOString()).toBe("2025-03-14T16:00:00.000Z");
    expect(windowEnd("hour", before).toISOString()).toBe("2025-03-14T16:00:00.000Z");
  });

  test("the last instant of December resets every window on the first of January", () => {
    const newYearsEve = new Date("2025-12-31T23:59:59.999Z");
    expect(windowStart("month", newYearsEve).toISOString()).toBe("2025-12-01T00:00:00.000Z");
    for (const window of ["minute", "hour", "month"] as const) {
      expect(windowEnd(window, newYearsEve).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    }
    const newYear = new Date("2026-01-01T00:00:00.000Z");
    expect(windowStart("month", newYear).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(windowEnd("month", newYear).toISOString()).toBe("2026-02-01T00:00:00.000Z");
  });

  test("a leap day belongs to February and February of a leap year ends on March the first", () => {
    const leapDay = new Date("2024-02-29T23:59:30.000Z");
    expect(windowStart("month", leapDay).toISOString()).toBe("2024-02-01T00:00:00.000Z");
    expect(windowEnd("month", leapDay).toISOString()).toBe("2024-03-01T00:00:00.000Z");
    expect(windowEnd("hour", leapDay).toISOString()).toBe("2024-03-01T00:00:00.000Z");
    expect(windowStart("minute", leapDay).toISOString()).toBe("2024-02-29T23:59:00.000Z");
    expect(windowEnd("month", new Date("2025-02-28T12:00:00Z")).toISOString()).toBe("2025-03-01T00:00:00.000Z");
  });

  test("the month window of a year before 100 stays in that year rather than moving to the 1900s", () => {
    const early = new Date("0050-03-10T12:00:00.000Z");
    expect(windowStart("month", early).toISOString()).toBe("0050-03-01T00:00:00.000Z");
    expect(windowEnd("month", early).toISOString()).toBe("0050-04-01T00:00:00.000Z");
    expect(windowEnd("month", new Date("0099-12-31T23:59:59.999Z")).toISOString()).toBe("0100-01-01T00:00:00.000Z");
  });

  test("windows are UTC whatever offset the instant was written with", () => {
    const local = new Date("2025-04-01T01:30:00+02:00"); // still March 31st in UTC
    expect(windowStart("month", local).toISOString()).toBe("2025-03-01T00:00:00.000Z");
    expect(windowStart("hour", local).toISOString()).toBe("2025-03-31T23:00:00.000Z");
  });
});

describe("decideAdmission", () => {
  test("decideAdmission allows a call under every limit", () => {
    expect(decideAdmission(PRO, snapshot([999, 3.99], 199, 9), NOW, CHARGED)).toEqual({ allowed: true });
  });

  test("decideAdmission denies when the monthly limit is used up, resetting on the first of next month", () => {
    expect(decideAdmission(PRO, snapshot([1000, 0]), NOW, CHARGED)).toEqual({
      allowed: false,
      reason: "monthly_limit",
      limit: 1000,
      resetAt: new Date("2025-04-01T00:00:00.000Z"),
    });
  });

  test("decideAdmission denies at the per-minute limit, resetting at the next minute", () => {
    expect(decideAdmission(PRO, snapshot([5, 0], 10, 10), NOW, CHARGED)).toEqual({
      allowed: false,
      reason: "rate_limit_minute",
      limit: 10,
      resetAt: new Date("2025-03-14T15:10:00.000Z"),
    });
  });

  test("decideAdmission denies at the per-hour limit, resetting at the next hour", () => {
    expect(decideAdmission(PRO, snapshot([200, 0], 200, 0), NOW, CHARGED)).toEqual({
      allowed: false,
      reason: "rate_limit_hour",
      limit: 200,
      resetAt: new Date("2025-03-14T16:00:00.000Z"),
    });
  });

  test("decideAdmission denies when the month's cost reaches the budget, with the budget in EUR as limit", () => {
    expect(decideAdmission(PRO, snapshot([10, 4], 1, 1), NOW, CHARGED)).toEqual({
      allowed: false,
      reason: "budget_exceeded",
      limit: 4,
      resetAt: new Date("2025-04-01T00:00:00.000Z"),
    });
    expect(denied(decideAdmission(PRO, snapshot([10, 4.5]), NOW, CHARGED)).reason).toBe("budget_exceeded");
    expect(decideAdmission(PRO, snapshot([10, 3.999999]), NOW, CHARGED)).toEqual({ allowed: true });
  });

  test("decideAdmission does not let float drift slip a spent budget through", () => {
    let drifted = 0;
    for (let i = 0; i < 400; i++) drifted += 0.01; // 400 calls of 0.01 EUR: 3.99999999999996 in floats, 4.00 in money
    expect(drifted).toBeLessThan(4);
    expect(denied(decideAdmission(PRO, snapshot([10, drifted]), NOW, CHARGED)).reason).toBe("budget_exceeded");
  });

  test("decideAdmission counts in-flight reservations already in the snapshot against the budget", () => {
    // 3.95 settled + 0.05 reserved by a concurrent call: the next call waits for the first to settle.
    expect(denied(decideAdmission(PRO, snapshot([10, 3.95 + 0.05]), NOW, CHARGED)).reason).toBe("budget_exceeded");
  });

  test("decideAdmission checks monthly requests first when every limit is hit", () => {
    const all = snapshot([1000, 4], 200, 10);
    expect(denied(decideAdmission(PRO, all, NOW, CHARGED)).reason).toBe("monthly_limit");
  });

  test("decideAdmission checks the minute before the hour and the hour before the budget", () => {
    expect(denied(decideAdmission(PRO, snapshot([0, 4], 200, 10), NOW, CHARGED)).reason).toBe("rate_limit_minute");
    expect(denied(decideAdmission(PRO, snapshot([0, 4], 200, 0), NOW, CHARGED)).reason).toBe("rate_limit_hour");
    expect(denied(decideAdmission(PRO, snapshot([0, 4], 0, 0), NOW, CHARGED)).reason).toBe("budget_exceeded");
  });

  test("decideAdmission skips the budget for BYOK calls but still applies request limits", () => {
    expect(decideAdmission(PRO, snapshot([0, 100]), NOW, BYOK)).toEqual({ allowed: true });
    expect(denied(decideAdmission(PRO, snapshot([0, 100], 0, 10), NOW, BYOK)).reason).toBe("rate_limit_minute");
    expect(denied(decideAdmission(PRO, snapshot([1000, 100]), NOW, BYOK)).reason).toBe("monthly_limit");
  });

  test("decideAdmission treats every 0 limit as unlimited", () => {
    expect(decideAdmission(STARTER, snapshot([1_000_000, 1_000_000], 100_000, 10_000), NOW, CHARGED)).toEqual({ allowed: true });
    const onlyBudget: PlanLimits = { ...PRO, monthlyRequests: 0, requestsPerMinute: 0, requestsPerHour: 0 };
    expect(denied(decideAdmission(onlyBudget, snapshot([5000, 4], 500, 50), NOW, CHARGED)).reason).toBe("budget_exceeded");
    const noBudget: PlanLimits = { ...PRO, monthlyBudgetEur: 0 };
    expect(decideAdmission(noBudget, snapshot([1, 999]), NOW, CHARGED)).toEqual({ allowed: true });
  });

  test("decideAdmission gives a December monthly refusal a January reset", () => {
    const decision = denied(decideAdmission(PRO, snapshot([1000, 0]), new Date("2025-12-31T23:59:59Z"), CHARGED));
    expect(decision.resetAt.toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });
});

describe("admissionError", () => {
  const at = (reason: AdmissionDenial["reason"], limit: number, resetAt: string): AdmissionDenial => ({
    allowed: false,
    reason,
    limit,
    resetAt: new Date(resetAt),
  });

  test("admissionError answers a monthly refusal with the contract's exact 429 body", () => {
    const { status, body } = admissionError(at("monthly_limit", 1000, "2025-04-01T00:00:00Z"));
    expect(status).toBe(429);
    expect(JSON.stringify(body)).toBe(
      '{"error":"Monthly request limit exceeded","code":"monthly_limit","limit":1000,"reset_time":"2025-04-01T00:00:00.000Z"}',
    );
  });

  test("admissionError answers per-minute and per-hour refusals with the contract's exact 429 bodies", () => {
    const minute = admissionError(at("rate_limit_minute", 10, "2025-03-14T15:10:00Z"));
    expect(minute.status).toBe(429);
    expect(JSON.stringify(minute.body)).toBe(
      '{"error":"Rate limit exceeded: too many requests per minute","code":"rate_limit_minute","limit":10,"reset_time":"2025-03-14T15:10:00.000Z"}',
    );
    const hour = admissionError(at("rate_limit_hour", 200, "2025-03-14T16:00:00Z"));
    expect(hour.status).toBe(429);
    expect(JSON.stringify(hour.body)).toBe(
      '{"error":"Rate limit exceeded: too many requests per hour","code":"rate_limit_hour","limit":200,"reset_time":"2025-03-14T16:00:00.000Z"}',
    );
  });

  test("admissionError answers a budget refusal with the contract's exact 402 body", () => {
    const { status, body } = admissionError(at("budget_exceeded", 4.0, "2025-04-01T00:00:00Z"));
    expect(status).toBe(402);
    expect(body).toEqual({
      error: "Monthly budget exceeded",
      code: "budget_exceeded",
      budget_eur: 4.0,
      reset_time: "2025-04-01T00:00:00.000Z",
    });
    expect(Object.keys(body)).toEqual(["error", "code", "budget_eur", "reset_time"]);
  });

  test("admissionError turns a decision straight from decideAdmission into its body", () => {
    const decision = denied(decideAdmission(PRO, snapshot([0, 0], 0, 10), NOW, CHARGED));
    expect(admissionError(decision).body).toEqual({
      error: "Rate limit exceeded: too many requests per minute",
      code: "rate_limit_minute",
      limit: 10,
      reset_time: "2025-03-14T15:10:00.000Z",
    });
  });

  test("retryAfterSeconds counts whole seconds up to the reset, at least one", () => {
    const minute = denied(decideAdmission(PRO, snapshot([0, 0], 0, 10), NOW, CHARGED));
    expect(retryAfterSeconds(minute, NOW)).toBe(34); // 33.465 s to 15:10:00, rounded up
    const month = denied(decideAdmission(PRO, snapshot([1000, 0]), NOW, CHARGED));
    expect(retryAfterSeconds(month, NOW)).toBe(Math.ceil((Date.UTC(2025, 3, 1) - NOW.getTime()) / 1000));
    expect(retryAfterSeconds(minute, new Date("2025-03-14T15:10:00.000Z"))).toBe(1);
  });
});

describe("usage reporting", () => {
  test("usagePercentages reports used shares with one decimal", () => {
    expect(usagePercentages(PRO, { requests: 123, costEur: 1.23456 })).toEqual({ requests: 12.3, budget: 30.9 });
    expect(usagePercentages(PRO, { requests: 800, costEur: 3.2 })).toEqual({ requests: 80, budget: 80 });
    expect(usagePercentages(PRO, { requests: 0, costEur: 0 })).toEqual({ requests: 0, budget: 0 });
  });

  test("usagePercentages is 0 for unlimited limits and is not capped at 100", () => {
    expect(usagePercentages(STARTER, { requests: 5000, costEur: 12 })).toEqual({ requests: 0, budget: 0 });
    expect(usagePercentages(PRO, { requests: 1100, costEur: 4.2 })).toEqual({ requests: 110, budget: 105 });
  });

  test("usageWarnings warns from exactly 80 % of the monthly requests and budget", () => {
    expect(usageWarnings(PRO, { requests: 799, costEur: 3.199999 })).toEqual([]);
    expect(usageWarnings(PRO, { requests: 800, costEur: 0 })).toEqual(["Monthly request limit approaching (>80%)"]);
    expect(usageWarnings(PRO, { requests: 0, costEur: 3.2 })).toEqual(["Monthly budget limit approaching (>80%)"]);
    expect(usageWarnings(PRO, { requests: 1000, costEur: 9 })).toEqual([
      "Monthly request limit approaching (>80%)",
      "Monthly budget limit approaching (>80%)",
    ]);
  });

  test("usageWarnings never warns about unlimited limits", () => {
    expect(usageWarnings(STARTER, { requests: 1_000_000, costEur: 1_000 })).toEqual([]);
  });

  test("limitsStatus reports every limit, nothing blocking and the three reset times", () => {
    expect(limitsStatus(PRO, snapshot([123, 1.2345678], 45, 3), NOW, CHARGED)).toEqual({
      can_make_request: true,
      limits_status: {
        monthly_requests: { passed: true, current: 123, limit: 1000, percentage: 12.3 },
        requests_per_minute: { passed: true, current: 3, limit: 10, percentage: 30 },
        requests_per_hour: { passed: true, current: 45, limit: 200, percentage: 22.5 },
        monthly_budget: { passed: true, current_cost_eur: 1.234568, limit_eur: 4, percentage: 30.9 },
      },
      blocking_factors: [],
      reset_times: {
        monthly: "2025-04-01T00:00:00.000Z",
        hour: "2025-03-14T16:00:00.000Z",
        minute: "2025-03-14T15:10:00.000Z",
      },
    });
  });

  test("limitsStatus lists every blocking factor in the contract's order, the first being decideAdmission's reason", () => {
    const all = snapshot([1000, 4], 200, 10);
    const status = limitsStatus(PRO, all, NOW, CHARGED);
    expect(status.can_make_request).toBe(false);
    expect(status.blocking_factors).toEqual(["monthly_limit", "rate_limit_minute", "rate_limit_hour", "budget_exceeded"]);
    expect(status.blocking_factors).toEqual([...ADMISSION_REASONS]);
    expect(Object.values(status.limits_status).map((row) => row.passed)).toEqual([false, false, false, false]);

    const some = snapshot([10, 4], 200, 0);
    const partial = limitsStatus(PRO, some, NOW, CHARGED);
    expect(partial.blocking_factors).toEqual(["rate_limit_hour", "budget_exceeded"]);
    expect(partial.blocking_factors[0]).toBe(denied(decideAdmission(PRO, some, NOW, CHARGED)).reason);
  });

  test("limitsStatus passes the budget for BYOK calls while still showing what was spent", () => {
    const status = limitsStatus(PRO, snapshot([10, 5]), NOW, BYOK);
    expect(status.can_make_request).toBe(true);
    expect(status.blocking_factors).toEqual([]);
    expect(status.limits_status.monthly_budget).toEqual({ passed: true, current_cost_eur: 5, limit_eur: 4, percentage: 125 });
  });

  test("limitsStatus passes unlimited limits with a 0 percentage", () => {
    const status = limitsStatus(STARTER, snapshot([5000, 12], 400, 40), NOW, CHARGED);
    expect(status.can_make_request).toBe(true);
    expect(status.limits_status).toEqual({
      monthly_requests: { passed: true, current: 5000, limit: 0, percentage: 0 },
      requests_per_minute: { passed: true, current: 40, limit: 0, percentage: 0 },
      requests_per_hour: { passed: true, current: 400, limit: 0, percentage: 0 },
      monthly_budget: { passed: true, current_cost_eur: 12, limit_eur: 0, percentage: 0 },
    });
  });

  test("limitsStatus gives December's reset times in January", () => {
    const status = limitsStatus(PRO, snapshot(), new Date("2025-12-31T23:59:59.500Z"), CHARGED);
    expect(status.reset_times).toEqual({
      monthly: "2026-01-01T00:00:00.000Z",
      hour: "2026-01-01T00:00:00.000Z",
      minute: "2026-01-01T00:00:00.000Z",
    });
  });
});
