// Usage analytics (GET /admin/analytics) over a range of days grouped by day or week, from the daily
// aggregates only, with the same data as CSV (GET /admin/analytics.csv).
import { Elysia } from "elysia";
import { DbReports } from "../../../adapters/db/report_repos.ts";
import {
  csvDocument,
  groupTotals,
  parseReportQuery,
  periodOf,
  periodsOf,
  totalsOf,
  utcDay,
  type UsageSlice,
  type UsageTotals,
} from "../../../domain/reports/mod.ts";
import analyticsTemplate from "../../../../templates/analytics.html" with { type: "text" };
import resultsTemplate from "../../../../templates/_analytics_results.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { barChart, lineChart } from "./charts.ts";
import { formatCostEur, fragment, html, page, templateText } from "./render.ts";

type Query = Record<string, string | undefined>;

/** The analytics query, validated: range, grouping, ranking and field errors. */
function readQuery(query: Query, today: string) {
  const parsed = parseReportQuery(query, today);
  const topText = (query.top ?? "").trim() || "cost";
  const errors = { ...parsed.errors };
  if (topText !== "cost" && topText !== "requests") errors.top = "Rank by cost or requests.";
  return { ...parsed, top: (topText === "requests" ? "requests" : "cost") as "cost" | "requests", errors };
}

function latencyText(ms: number): string {
  return `${Math.round(ms)} ms`;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

function totalsView(t: UsageTotals) {
  return {
    ...t,
    requestsText: t.requests.toLocaleString("en-US"),
    tokensText: t.tokens.toLocaleString("en-US"),
    costText: formatCostEur(t.costEur),
    errorRateText: percent(t.errorRate),
    latencyText: latencyText(t.avgLatencyMs),
  };
}

/** The rows of the CSV export: one per period × provider × model with usage. */
export function csvRows(slices: readonly UsageSlice[], grouping: "day" | "week"): Array<Array<string | number>> {
  const groups = groupTotals(slices, (s) => [periodOf(s.day, grouping), s.provider, s.model].join("\u0000"));
  const rows: Array<Array<string | number>> = [
    ["period_start", "provider", "model", "requests", "errors", "error_rate", "prompt_tokens", "completion_tokens", "tokens", "cost_eur", "avg_latency_ms"],
  ];
  const keys = [...groups.keys()].sort();
  for (const key of keys) {
    const t = groups.get(key)!;
    const [period, provider, model] = key.split("\u0000");
    rows.push([
      period,
      provider,
      model,
      t.requests,
      t.errors,
      Math.round(t.errorRate * 1e4) / 1e4,
      t.promptTokens,
      t.completionTokens,
      t.tokens,
      t.costEur,
      Math.round(t.avgLatencyMs * 10) / 10,
    ]);
  }
  return rows;
}

/**
 * True for an htmx request that swaps the results region; a history restore (after a cache miss htmx asks
 * for the page again with HX-Request set) needs the whole page.
 */
function wantsRegion(request: Request): boolean {
  return request.headers.get("hx-request") === "true" && request.headers.get("hx-history-restore-request") !== "true";
}

/** Usage analytics with CSV export. */
export function createAnalyticsRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const reports = new DbReports(deps.db);
  const template = templateText(analyticsTemplate);
  const results = templateText(resultsTemplate);

  async function view(query: Query) {
    const q = readQuery(query, utcDay(deps.clock.now()));
    const base = {
      form: { from: query.from?.trim() || q.range.from, to: query.to?.trim() || q.range.to },
      groupDay: q.grouping === "day",
      groupWeek: q.grouping === "week",
      topCost: q.top === "cost",
      topRequests: q.top === "requests",
      errors: q.errors,
      errorList: Object.values(q.errors),
      hasErrors: Object.keys(q.errors).length > 0,
    };
    if (base.hasErrors) return base;
    const { range, grouping, top } = q;
    const [slices, topLicenses, topCustomers] = await Promise.all([
      reports.usageSlices(range.from, range.to),
      reports.topLicenses(range.from, range.to, top, 10),
      reports.topCustomers(range.from, range.to, top, 10),
    ]);
    const byPeriod = groupTotals(slices, (s) => periodOf(s.day, grouping));
    const periods = periodsOf(range, grouping).map((key) => ({ key, ...totalsView(byPeriod.get(key) ?? totalsOf([])) }));
    const models = [...groupTotals(slices, (s) => `${s.provider}\u0000${s.model}`)]
      .map(([key, t]) => ({ provider: key.split("\u0000")[0], model: key.split("\u0000")[1], ...totalsView(t) }))
      .sort((a, b) => b.costEur - a.costEur || b.requests - a.requests);
    const providers = [...groupTotals(slices, (s) => s.provider)].map(([label, t]) => ({ label, value: t.requests }));
    const unit = grouping === "week" ? "Week starting (UTC)" : "Day (UTC)";
    const chart = grouping === "week" ? barChart : lineChart;
    return {
      ...base,
      range,
      grouping,
      top,
      periodTitle: grouping === "week" ? "Week starting" : "Day",
      csvQuery: new URLSearchParams({ from: range.from, to: range.to, group: grouping }).toString(),
      totals: totalsView(totalsOf(slices)),
      periods,
      models,
      topLicenses: topLicenses.map((r) => ({ ...r, costText: formatCostEur(r.costEur) })),
      topCustomers: topCustomers.map((r) => ({ ...r, costText: formatCostEur(r.costEur) })),
      charts: {
        requests: chart({ title: `Requests per ${grouping}`, xTitle: unit, yTitle: "Requests", points: periods.map((p) => ({ label: p.key.slice(5), value: p.requests })) }),
        cost: chart({
          title: `Cost per ${grouping} (EUR)`,
          xTitle: unit,
          yTitle: "EUR",
          points: periods.map((p) => ({ label: p.key.slice(5), value: p.costEur })),
          format: (v) => formatCostEur(v).slice(1),
        }),
        providers: barChart({ title: "Requests by provider", xTitle: "Provider", yTitle: "Requests", points: providers }),
      },
    };
  }

  return new Elysia({ name: "admin-analytics" })
    .get("/admin/analytics", async ({ request, query }) => {
      const caller = adminOf(request);
      const data = await view(query as Query);
      const status = data.hasErrors ? 422 : 200;
      // htmx swaps only the results region; a plain GET gets the whole page.
      if (wantsRegion(request)) return html(fragment(results, data), status);
      return html(page(template, data, { title: "Analytics", section: "analytics", caller, partials: { results } }), status);
    })
    .get("/admin/analytics.csv", async ({ request, query }) => {
      adminOf(request);
      const q = readQuery(query as Query, utcDay(deps.clock.now()));
      if (Object.keys(q.errors).length > 0) {
        const text = Object.entries(q.errors).map(([k, v]) => `${k}: ${v}`).join("\n");
        return new Response(`${text}\n`, { status: 422, headers: { "content-type": "text/plain; charset=utf-8" } });
      }
      const slices = await reports.usageSlices(q.range.from, q.range.to);
      return new Response(csvDocument(csvRows(slices, q.grouping)), {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="chatello-usage-${q.range.from}-to-${q.range.to}-by-${q.grouping}.csv"`,
        },
      });
    });
}
