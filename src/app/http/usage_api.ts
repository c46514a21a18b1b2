// Usage routes of the plugin API: this month by day, the current windows, history, and a limits check.
import { Elysia, t } from "elysia";
import { PROVIDERS } from "../../domain/plans/mod.ts";
import { admissionError, decideAdmission, limitsStatus, retryAfterSeconds, usagePercentages, usageWarnings, windowEnd, type QuotaLedger } from "../../domain/quota/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";
import { monthStart, nextMonthStart, roundEur, type UsageLedger } from "../../domain/usage/mod.ts";
import { json } from "./errors.ts";
import type { LicensedCaller } from "./license_guard.ts";

/** What the usage routes read. */
export interface UsageApiDeps {
  usage: UsageLedger;
  quota: QuotaLedger;
  clock: Clock;
}

const DAY_MS = 24 * 60 * 60 * 1000;

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
    })
    .get(
      "/api/usage/history",
      async ({ request, query }) => {
        const { license } = licenseOf(request);
        const now = deps.clock.now();
        // Checked here rather than in the schema: Elysia's range errors on coerced query values lose the field name.
        const days = query.days === undefined ? 30 : Number(query.days);
        if (!/^\d+$/.test(query.days ?? "30") || days < 1 || days > 90) {
          return json(422, { error: "Invalid request: days: must be an integer between 1 and 90", code: "invalid_request", field: "days" });
        }
        const provider = query.provider?.toLowerCase();
        if (provider && !PROVIDERS.includes(provider as never)) {
          return json(400, { error: "Invalid AI provider", code: "invalid_provider", allowed_providers: PROVIDERS });
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
          days: t.Optional(t.String({ maxLength: 8 })),
          provider: t.Optional(t.String({ maxLength: 16 })),
        }),
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
        : json(admissionError(decision).status, body, { "retry-after": String(retryAfterSeconds(decision, now)) });
    });
}
