// Dashboard (GET /admin): headline figures, revenue from real plan prices and SVG charts, every number
// computed from the database on each load.
import { Elysia } from "elysia";
import { DbReports } from "../../../adapters/db/report_repos.ts";
import { effectiveStatus } from "../../../domain/licensing/mod.ts";
import { PROVIDERS } from "../../../domain/plans/mod.ts";
import { addDays, daysOf, revenueFigures, utcDay } from "../../../domain/reports/mod.ts";
import dashboardTemplate from "../../../../templates/dashboard.html" with { type: "text" };
import recentTemplate from "../../../../templates/_dashboard_recent.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { barChart, lineChart } from "./charts.ts";
import { formatCostEur, html, page, templateText } from "./render.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Euros with cents for display. */
export function formatEur(value: number, decimals = 2): string {
  return `€${value.toFixed(decimals)}`;
}

/** A whole number with thousands separators for display. */
export function formatCount(value: number): string {
  return value.toLocaleString("en-US");
}

/** Dashboard (GET /admin) with real figures and SVG charts. */
export function createDashboardRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const reports = new DbReports(deps.db);
  const template = templateText(dashboardTemplate);
  const partials = { recent: templateText(recentTemplate) };

  return new Elysia({ name: "admin-dashboard" }).get("/admin", async ({ request }) => {
    const caller = adminOf(request);
    const now = deps.clock.now();
    const today = utcDay(now);
    const monthFirst = `${today.slice(0, 8)}01`;
    const last30 = { from: addDays(today, -29), to: today };

    const [counts, plans, billed24h, month, slices, recent] = await Promise.all([
      reports.licenseCounts(now),
      reports.planLicenseCounts(now),
      // Exact rolling window from the raw events (bounded by the created_at index), not whole days.
      reports.billedCallsBetween(new Date(now.getTime() - DAY_MS), now),
      reports.usageSums(monthFirst, today),
      reports.usageSlices(last30.from, last30.to),
      reports.recentLicenses(10),
    ]);
    const revenue = revenueFigures(plans);
    const lifetimePlans = plans.filter((p) => p.isLifetime).map((p) => p.displayName).join(", ");

    const stats = [
      { key: "customers", label: "Customers", raw: counts.customers, display: formatCount(counts.customers), hint: "" },
      { key: "active_licenses", label: "Active licenses", raw: counts.activeLicenses, display: formatCount(counts.activeLicenses), hint: "Active and not past their expiry" },
      { key: "expired_licenses", label: "Expired licenses", raw: counts.expiredLicenses, display: formatCount(counts.expiredLicenses), hint: "Marked expired, or past their expiry and not cancelled" },
      { key: "requests_24h", label: "AI requests, last 24 h", raw: billed24h, display: formatCount(billed24h), hint: "Answered calls (ok or partial)" },
      { key: "tokens_month", label: "Tokens this month", raw: month.tokens, display: formatCount(month.tokens), hint: `Prompt + completion since ${monthFirst}` },
      { key: "cost_month", label: "AI cost this month", raw: month.costEur, display: formatCostEur(month.costEur), hint: `Provider cost since ${monthFirst}` },
      { key: "mrr", label: "MRR", raw: revenue.mrrEur, display: formatEur(revenue.mrrEur), hint: "Active monthly licenses × price + active yearly × price / 12" },
      { key: "arr", label: "ARR", raw: revenue.arrEur, display: formatEur(revenue.arrEur), hint: "12 × MRR" },
      { key: "one_time_revenue", label: "One-time revenue", raw: revenue.oneTimeEur, display: formatEur(revenue.oneTimeEur), hint: "Prices of all non-cancelled one-time licenses" },
      { key: "founders_sold", label: "Founders licenses sold", raw: revenue.lifetimeSold, display: formatCount(revenue.lifetimeSold), hint: lifetimePlans ? `Non-cancelled on ${lifetimePlans}` : "No lifetime plan" },
      {
        key: "founders_left",
        label: "Founders licenses left",
        raw: revenue.lifetimeLeft ?? "",
        display: revenue.lifetimeLeft == null ? "unlimited" : formatCount(revenue.lifetimeLeft),
        hint: "Cap − sold",
      },
    ];

    const perDay = new Map(daysOf(last30).map((d) => [d, 0]));
    const perProvider = new Map<string, number>(PROVIDERS.map((p) => [p, 0]));
    for (const s of slices) {
      const billed = s.requests - s.errors;
      perDay.set(s.day, (perDay.get(s.day) ?? 0) + billed);
      perProvider.set(s.provider, (perProvider.get(s.provider) ?? 0) + billed);
    }
    const charts = {
      perDay: lineChart({
        title: "Answered AI requests per day, last 30 days",
        xTitle: "Day (UTC)",
        yTitle: "Requests",
        points: [...perDay].map(([day, value]) => ({ label: day.slice(5), value })),
      }),
      byProvider: barChart({
        title: "Answered AI requests by provider, last 30 days",
        xTitle: "Provider",
        yTitle: "Requests",
        points: [...perProvider].map(([label, value]) => ({ label, value })),
      }),
      byPlan: barChart({
        title: "Licenses by plan (not cancelled)",
        xTitle: "Plan",
        yTitle: "Licenses",
        points: plans.map((p) => ({ label: p.displayName, value: p.nonCancelled })),
      }),
    };

    const view = {
      now: now.toISOString(),
      stats,
      charts,
      recent: recent.map((l) => ({
        ...l,
        // Cancelled stays cancelled here, as the expired count leaves cancelled licenses out.
        status: l.status === "cancelled" ? "cancelled" : effectiveStatus({ status: l.status as never, expiresAt: l.expiresAt }, now),
        createdAt: l.createdAt.toISOString(),
      })),
    };
    return html(page(template, view, { title: "Dashboard", section: "dashboard", caller, partials }));
  });
}
