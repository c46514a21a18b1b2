// Admin API: usage totals over a range of days (grouped by day or week, optionally one provider), for the
// whole service, one license or one customer — from the daily aggregates, as the analytics page reads them.
import { Elysia, t } from "elysia";
import type { AdminCustomerLicenseQueries } from "../../../adapters/db/admin_customer_license_repos.ts";
import { DbReports } from "../../../adapters/db/report_repos.ts";
import { addDays, parseDay, parseReportQuery, periodOf, periodsOf, utcDay, type DayRange, type ReportGrouping } from "../../../domain/reports/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, Int } from "./_shared.ts";

/** The analytics filters. */
export const UsageQuery = t.Object({
  from: t.Optional(t.String({ maxLength: 10, description: "first day, YYYY-MM-DD (default: 29 days before to)" })),
  to: t.Optional(t.String({ maxLength: 10, description: "last day, YYYY-MM-DD (default: today, UTC)" })),
  group: t.Optional(t.Union([t.Literal("day"), t.Literal("week")])),
  provider: t.Optional(t.String({ maxLength: 32 })),
});

type Query = { from?: string; to?: string; group?: "day" | "week"; provider?: string };

const Totals = {
  requests: Int(),
  errors: Int(),
  tokens: Int(),
  cost_eur: t.Number({ description: "EUR, at most 6 decimals" }),
  avg_latency_ms: t.Number(),
};

/** What every usage route answers. */
export const UsageReport = t.Object({
  from: t.String(),
  to: t.String(),
  group: t.String(),
  provider: t.Nullable(t.String()),
  totals: t.Object(Totals),
  periods: t.Array(t.Object({ period: t.String({ description: "day, or the Monday starting the week" }), ...Totals })),
  by_provider: t.Array(t.Object({ provider: t.String(), ...Totals })),
  by_model: t.Array(t.Object({ provider: t.String(), model: t.String(), ...Totals })),
});

/** One row of the daily aggregates. */
interface Row {
  day: string;
  provider: string;
  model: string;
  requests: number;
  errors: number;
  tokens: number;
  costEur: number;
  totalMsSum: number;
}

function totals(rows: Iterable<Row>) {
  let requests = 0;
  let errorCount = 0;
  let tokens = 0;
  let cost = 0;
  let ms = 0;
  for (const r of rows) {
    requests += r.requests;
    errorCount += r.errors;
    tokens += r.tokens;
    cost += r.costEur;
    ms += r.totalMsSum;
  }
  return { requests, errors: errorCount, tokens, cost_eur: Math.round(cost * 1e6) / 1e6, avg_latency_ms: requests > 0 ? Math.round((ms / requests) * 10) / 10 : 0 };
}

function groupBy(rows: Row[], key: (r: Row) => string): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) out.set(key(r), [...(out.get(key(r)) ?? []), r]);
  return out;
}

/** The validated range and grouping; a bad value is a 422 naming its field. */
function readQuery(deps: AdminApiDeps, query: Query): { range: DayRange; grouping: ReportGrouping; provider: string | null } {
  const parsed = parseReportQuery(query, utcDay(deps.clock.now()));
  const [field, message] = Object.entries(parsed.errors)[0] ?? [];
  if (field) throw new DomainError("invalid_argument", message!, { field });
  return { range: parsed.range, grouping: parsed.grouping, provider: query.provider?.trim() || null };
}

function report(q: ReturnType<typeof readQuery>, rows: Row[]) {
  const byPeriod = groupBy(rows, (r) => periodOf(r.day, q.grouping));
  return {
    from: q.range.from,
    to: q.range.to,
    group: q.grouping,
    provider: q.provider,
    totals: totals(rows),
    periods: periodsOf(q.range, q.grouping).map((period) => ({ period, ...totals(byPeriod.get(period) ?? []) })),
    by_provider: [...groupBy(rows, (r) => r.provider)].map(([provider, rs]) => ({ provider, ...totals(rs) })).sort((a, b) => b.cost_eur - a.cost_eur || b.requests - a.requests),
    by_model: [...groupBy(rows, (r) => `${r.provider}\u0000${r.model}`)]
      .map(([key, rs]) => ({ provider: key.split("\u0000")[0], model: key.split("\u0000")[1], ...totals(rs) }))
      .sort((a, b) => b.cost_eur - a.cost_eur || b.requests - a.requests),
  };
}

async function licenseRows(deps: AdminApiDeps, licenseId: number, q: ReturnType<typeof readQuery>): Promise<Row[]> {
  const until = parseDay(addDays(q.range.to, 1))!;
  return deps.usage.days(licenseId, parseDay(q.range.from)!, until, q.provider ?? undefined);
}

/** Usage of one license. */
export async function licenseUsage(deps: AdminApiDeps, licenseId: number, query: Query) {
  const q = readQuery(deps, query);
  return report(q, await licenseRows(deps, licenseId, q));
}

/** Usage of all of a customer's licenses. */
export async function customerUsage(deps: AdminApiDeps, queries: AdminCustomerLicenseQueries, customerId: number, query: Query) {
  const q = readQuery(deps, query);
  const licenses = await queries.licensesOf(customerId);
  const rows = (await Promise.all(licenses.map((l) => licenseRows(deps, l.id, q)))).flat();
  return report(q, rows);
}

/** Service-wide usage in the admin API. */
export function createUsageApi(deps: AdminApiDeps) {
  const reports = new DbReports(deps.db);
  return new Elysia({ name: "admin-api-usage" }).get(
    "/api/admin/usage",
    async ({ query }) => {
      const q = readQuery(deps, query);
      const slices = await reports.usageSlices(q.range.from, q.range.to);
      const rows = slices
        .filter((s) => q.provider === null || s.provider === q.provider)
        .map((s) => ({ ...s, tokens: s.promptTokens + s.completionTokens }));
      return report(q, rows);
    },
    {
      query: UsageQuery,
      response: { 200: UsageReport, ...errors() },
      detail: detail("Usage totals", "Over inclusive UTC days (at most the analytics range), grouped by day or week, optionally of one provider."),
    },
  );
}
