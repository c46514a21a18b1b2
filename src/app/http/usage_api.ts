// Usage routes of the plugin API: this month by day, the current windows, history, and a limits check.
import { Elysia, t, type TSchema } from "elysia";
import { PROVIDERS } from "../../domain/plans/mod.ts";
import { admissionError, decideAdmission, limitsStatus, retryAfterSeconds, usagePercentages, usageWarnings, windowEnd, type QuotaLedger } from "../../domain/quota/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";
import { monthStart, nextMonthStart, roundEur, type UsageLedger } from "../../domain/usage/mod.ts";
import { asIs, errorResponse, LICENSE_ERRORS, LICENSE_SECURITY } from "./docs.ts";
import { json } from "./errors.ts";
import type { LicensedCaller } from "./license_guard.ts";

/** What the usage routes read. */
export interface UsageApiDeps {
  usage: UsageLedger;
  quota: QuotaLedger;
  clock: Clock;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const Open = { additionalProperties: true } as const;
const Nullable = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);

const UsageByDay = t.Object(
  {
    license_id: t.Number(),
    plan: t.String(),
    monthly_limit: t.Number({ description: "0 = unlimited" }),
    usage: t.Record(t.String(), t.Object({ requests: t.Number(), tokens: t.Number(), endpoints: t.Record(t.String(), t.Number()) }, Open)),
  },
  {
    ...Open,
    description: "AI requests of the current UTC month, by day",
    examples: [{ license_id: 42, plan: "pro", monthly_limit: 1000, usage: { "2026-03-15": { requests: 12, tokens: 3456, endpoints: { chat: 10, v1: 2 } } } }],
  },
);

const UsageCurrent = t.Object(
  {
    status: t.String(),
    plan: t.Object({ name: t.String(), display_name: t.String(), price: t.Number() }, Open),
    current_usage: t.Object(
      {
        current_month: t.Object({ requests: t.Number(), tokens: t.Number(), cost_eur: t.Number(), avg_response_time_ms: t.Number() }, Open),
        current_hour: t.Object({ requests: t.Number() }, Open),
        current_minute: t.Object({ requests: t.Number() }, Open),
        limits: t.Object({ monthly_requests: t.Number(), requests_per_minute: t.Number(), requests_per_hour: t.Number(), monthly_budget_eur: t.Number() }, Open),
        usage_percentages: t.Object({ requests: t.Number(), budget: t.Number() }, Open),
      },
      Open,
    ),
    warnings: t.Array(t.String()),
    timestamp: t.String({ format: "date-time" }),
  },
  {
    ...Open,
    description: "This month, hour and minute, the plan's limits and warnings at 80 %",
    examples: [
      {
        status: "success",
        plan: { name: "pro", display_name: "Pro - AI Included", price: 7.99 },
        current_usage: {
          current_month: { requests: 850, tokens: 120000, cost_eur: 1.2345, avg_response_time_ms: 812 },
          current_hour: { requests: 3 },
          current_minute: { requests: 1 },
          limits: { monthly_requests: 1000, requests_per_minute: 10, requests_per_hour: 200, monthly_budget_eur: 4.0 },
          usage_percentages: { requests: 85, budget: 30.9 },
        },
        warnings: ["Monthly request limit approaching (>80%)"],
        timestamp: "2026-03-15T12:00:00.000Z",
      },
    ],
  },
);

const UsageHistory = t.Object(
  {
    status: t.String(),
    period: t.Object({ start: t.String({ format: "date-time" }), end: t.String({ format: "date-time" }), days: t.Number() }, Open),
    daily_usage: t.Record(
      t.String(),
      t.Object(
        {
          total_requests: t.Number(),
          total_tokens: t.Number(),
          total_cost_eur: t.Number(),
          avg_response_time: t.Number(),
          by_provider: t.Record(t.String(), t.Object({ requests: t.Number(), tokens: t.Number(), cost_eur: t.Number() }, Open)),
        },
        Open,
      ),
    ),
    recent_requests: t.Array(
      t.Object(
        {
          timestamp: t.String({ format: "date-time" }),
          provider: Nullable(t.String()),
          model: Nullable(t.String()),
          endpoint: Nullable(t.String()),
          tokens: t.Number(),
          cost_eur: t.Number(),
          response_time_ms: Nullable(t.Number()),
          success: t.Boolean(),
          error_code: Nullable(t.String()),
        },
        Open,
      ),
      { maxItems: 50 },
    ),
    summary: t.Object({ total_requests: t.Number(), total_tokens: t.Number(), days_with_usage: t.Number(), avg_requests_per_day: t.Number() }, Open),
  },
  {
    ...Open,
    description: "Daily usage of the period (today inclusive), the last 50 requests and a summary",
    examples: [
      {
        status: "success",
        period: { start: "2026-02-14T00:00:00.000Z", end: "2026-03-16T00:00:00.000Z", days: 30 },
        daily_usage: {
          "2026-03-15": { total_requests: 12, total_tokens: 3456, total_cost_eur: 0.0123, avg_response_time: 812, by_provider: { openai: { requests: 12, tokens: 3456, cost_eur: 0.0123 } } },
        },
        recent_requests: [
          { timestamp: "2026-03-15T11:59:00.000Z", provider: "openai", model: "gpt-4o-mini", endpoint: "chat", tokens: 55, cost_eur: 0.000041, response_time_ms: 812, success: true, error_code: null },
        ],
        summary: { total_requests: 12, total_tokens: 3456, days_with_usage: 1, avg_requests_per_day: 0.4 },
      },
    ],
  },
);

const RequestLimit = t.Object({ passed: t.Boolean(), current: t.Number(), limit: t.Number(), percentage: t.Number() }, Open);
const LIMITS_EXAMPLE = {
  status: "success",
  can_make_request: true,
  limits_status: {
    monthly_requests: { passed: true, current: 12, limit: 1000, percentage: 1.2 },
    requests_per_minute: { passed: true, current: 0, limit: 10, percentage: 0 },
    requests_per_hour: { passed: true, current: 2, limit: 200, percentage: 1 },
    monthly_budget: { passed: true, current_cost_eur: 0.0123, limit_eur: 4.0, percentage: 0.3 },
  },
  blocking_factors: [],
  reset_times: { monthly: "2026-04-01T00:00:00.000Z", hour: "2026-03-15T13:00:00.000Z", minute: "2026-03-15T12:01:00.000Z" },
};

function limitsCheck(description: string, example: Record<string, unknown>) {
  return t.Object(
    {
      status: t.String(),
      can_make_request: t.Boolean(),
      limits_status: t.Object(
        {
          monthly_requests: RequestLimit,
          requests_per_minute: RequestLimit,
          requests_per_hour: RequestLimit,
          monthly_budget: t.Object({ passed: t.Boolean(), current_cost_eur: t.Number(), limit_eur: t.Number(), percentage: t.Number() }, Open),
        },
        Open,
      ),
      blocking_factors: t.Array(t.String()),
      reset_times: t.Object({ monthly: t.String({ format: "date-time" }), hour: t.String({ format: "date-time" }), minute: t.String({ format: "date-time" }) }, Open),
    },
    { ...Open, description, examples: [example] },
  );
}

const blocked = (factor: string, passedKey: "monthly_requests" | "monthly_budget") => ({
  ...LIMITS_EXAMPLE,
  can_make_request: false,
  limits_status: { ...LIMITS_EXAMPLE.limits_status, [passedKey]: { ...LIMITS_EXAMPLE.limits_status[passedKey], passed: false } },
  blocking_factors: [factor],
});

/** The usage routes. */
export function createUsageRoutes(deps: UsageApiDeps, licenseOf: (request: Request) => LicensedCaller) {
  return new Elysia({ name: "usage-api" })
    .get("/api/usage", async ({ request }) => {
      const { license, plan } = licenseOf(request);
      const now = deps.clock.now();
      const days = await deps.usage.daily(license.id, monthStart(now), nextMonthStart(now));
      return {
        license_id: license.id,
        plan: plan.name,
        monthly_limit: plan.limits.monthlyRequests,
        usage: Object.fromEntries(days.map((d) => [d.date, { requests: d.requests, tokens: d.tokens, endpoints: d.endpoints }])),
      };
    }, {
      detail: { summary: "This month's usage by day", description: "AI requests and tokens of the current UTC calendar month, by day and endpoint.", tags: ["Usage"], security: LICENSE_SECURITY },
      response: { 200: UsageByDay, ...LICENSE_ERRORS },
    })
    .get("/api/usage/current", async ({ request }) => {
      const { license, plan } = licenseOf(request);
      const now = deps.clock.now();
      const [month, snapshot, days] = await Promise.all([
        deps.usage.monthToDate(license.id, monthStart(now)),
        deps.quota.snapshot(license.id, now),
        deps.usage.days(license.id, monthStart(now), nextMonthStart(now)),
      ]);
      const calls = days.reduce((n, d) => n + d.requests, 0);
      const totalMs = days.reduce((n, d) => n + d.totalMsSum, 0);
      return {
        status: "success",
        plan: { name: plan.name, display_name: plan.displayName, price: plan.priceEur },
        current_usage: {
          current_month: {
            requests: month.requests,
            tokens: month.tokens,
            cost_eur: month.costEur,
            avg_response_time_ms: calls ? Math.round(totalMs / calls) : 0,
          },
          current_hour: { requests: snapshot.hour.requests },
          current_minute: { requests: snapshot.minute.requests },
          limits: {
            monthly_requests: plan.limits.monthlyRequests,
            requests_per_minute: plan.limits.requestsPerMinute,
            requests_per_hour: plan.limits.requestsPerHour,
            monthly_budget_eur: plan.limits.monthlyBudgetEur,
          },
          usage_percentages: usagePercentages(plan.limits, month),
        },
        warnings: usageWarnings(plan.limits, month),
        timestamp: now.toISOString(),
      };
    }, {
      detail: {
        summary: "Current usage and limits",
        description: "This month's requests, tokens and cost, the current hour and minute, the plan's limits, and warnings from 80 % of the request limit or budget.",
        tags: ["Usage"],
        security: LICENSE_SECURITY,
      },
      response: { 200: UsageCurrent, ...LICENSE_ERRORS },
    })
    .get(
      "/api/usage/history",
      async ({ request, query }) => {
        const { license } = licenseOf(request);
        const now = deps.clock.now();
        // Checked here rather than in the schema: Elysia's range errors on coerced query values lose the field name.
        const days = query.days === undefined ? 30 : Number(query.days);
        if (!/^\d+$/.test(query.days ?? "30") || days < 1 || days > 90) {
          return asIs(json(422, { error: "Invalid request: days: must be an integer between 1 and 90", code: "invalid_request", field: "days" }));
        }
        const provider = query.provider?.toLowerCase();
        if (provider && !PROVIDERS.includes(provider as never)) {
          return asIs(json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS }));
        }
        // The period ends today (inclusive) and starts `days` UTC days earlier.
        const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS);
        const start = new Date(end.getTime() - days * DAY_MS);
        const [rows, recent] = await Promise.all([
          deps.usage.days(license.id, start, end, provider),
          deps.usage.recent(license.id, start, 50, provider),
        ]);
        const daily: Record<string, { total_requests: number; total_tokens: number; total_cost_eur: number; avg_response_time: number; ms: number; by_provider: Record<string, { requests: number; tokens: number; cost_eur: number }> }> = {};
        for (const r of rows) {
          const d = (daily[r.day] ??= { total_requests: 0, total_tokens: 0, total_cost_eur: 0, avg_response_time: 0, ms: 0, by_provider: {} });
          d.total_requests += r.requests;
          d.total_tokens += r.tokens;
          d.total_cost_eur = roundEur(d.total_cost_eur + r.costEur);
          d.ms += r.totalMsSum;
          const p = (d.by_provider[r.provider] ??= { requests: 0, tokens: 0, cost_eur: 0 });
          p.requests += r.requests;
          p.tokens += r.tokens;
          p.cost_eur = roundEur(p.cost_eur + r.costEur);
        }
        const daily_usage = Object.fromEntries(
          Object.entries(daily).map(([day, { ms, ...d }]) => [day, { ...d, avg_response_time: d.total_requests ? Math.round(ms / d.total_requests) : 0 }]),
        );
        const total_requests = rows.reduce((n, r) => n + r.requests, 0);
        return {
          status: "success",
          period: { start: start.toISOString(), end: end.toISOString(), days },
          daily_usage,
          recent_requests: recent.map((c) => ({
            timestamp: c.createdAt.toISOString(),
            provider: c.provider,
            model: c.model,
            endpoint: c.endpoint,
            tokens: c.tokens,
            cost_eur: c.costEur,
            response_time_ms: c.totalMs,
            success: c.outcome === "ok",
            error_code: c.errorCode,
          })),
          summary: {
            total_requests,
            total_tokens: rows.reduce((n, r) => n + r.tokens, 0),
            days_with_usage: Object.keys(daily_usage).length,
            avg_requests_per_day: Math.round((total_requests / days) * 100) / 100,
          },
        };
      },
      {
        query: t.Object({
          days: t.Optional(t.String({ maxLength: 8, description: "Days back from today, 1..90 (default 30)", examples: ["30"] })),
          provider: t.Optional(t.String({ maxLength: 16, description: "Only this provider: openai, anthropic or deepseek" })),
        }),
        detail: { summary: "Usage history", description: "Daily usage of the last `days` days (today inclusive), optionally of one provider, the last 50 requests and a summary.", tags: ["Usage"], security: LICENSE_SECURITY },
        response: {
          200: UsageHistory,
          400: errorResponse("Unknown provider", { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: [...PROVIDERS] }),
          422: errorResponse("days is not an integer from 1 to 90", { error: "Invalid request: days: must be an integer between 1 and 90", code: "invalid_request", field: "days" }),
          ...LICENSE_ERRORS,
        },
      },
    )
    .get("/api/limits/check", async ({ request }) => {
      const { license, plan } = licenseOf(request);
      const now = deps.clock.now();
      const snapshot = await deps.quota.snapshot(license.id, now);
      const options = { chargeBudget: plan.aiIncluded };
      const check = limitsStatus(plan.limits, snapshot, now, options);
      const decision = decideAdmission(plan.limits, snapshot, now, options);
      const body = {
        status: "success",
        ...check,
        reset_times: check.reset_times ?? {
          monthly: windowEnd("month", now).toISOString(),
          hour: windowEnd("hour", now).toISOString(),
          minute: windowEnd("minute", now).toISOString(),
        },
      };
      // The status follows the reason a chat call would get now: 429 for a request limit, 402 for the budget.
      return decision.allowed
        ? body
        : asIs(json(admissionError(decision).status, body, { "retry-after": String(retryAfterSeconds(decision, now)) }));
    }, {
      detail: {
        summary: "Check the limits",
        description: "Whether a chat call would be admitted now, the status of every limit, what blocks and when each window resets. 200 when allowed, 402 when the budget blocks, 429 for a request limit (same body, with Retry-After).",
        tags: ["Usage"],
        security: LICENSE_SECURITY,
      },
      response: {
        200: limitsCheck("A chat call would be admitted", LIMITS_EXAMPLE),
        401: LICENSE_ERRORS[401],
        402: limitsCheck("The monthly budget blocks", blocked("budget_exceeded", "monthly_budget")),
        429: t.Union([limitsCheck("A request limit blocks", blocked("monthly_limit", "monthly_requests")), LICENSE_ERRORS[429]], {
          description: "A request limit blocks (the limits body), or too many invalid keys from this address (an error body); Retry-After",
        }),
      },
    });
}
