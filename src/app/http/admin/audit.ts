// Audit log (GET /admin/audit): newest first, filtered by action, actor, target type and days, 50 a page.
import { Elysia } from "elysia";
import { DbReports, type AuditFilter } from "../../../adapters/db/report_repos.ts";
import { addDays, parseDay } from "../../../domain/reports/mod.ts";
import auditTemplate from "../../../../templates/audit.html" with { type: "text" };
import resultsTemplate from "../../../../templates/_audit_results.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { fragment, html, page, templateText } from "./render.ts";

/** Entries per page of the audit log. */
export const AUDIT_PAGE_SIZE = 50;

type Query = Record<string, string | undefined>;

/** The filters of a query, validated (dates are inclusive UTC days). */
function readFilter(query: Query) {
  const text = (name: string, max = 254) => (query[name] ?? "").trim().slice(0, max);
  const form = { action: text("action", 64), actor: text("actor"), target: text("target", 32), from: text("from", 10), to: text("to", 10) };
  const errors: Record<string, string> = {};
  const from = form.from ? parseDay(form.from) : null;
  const to = form.to ? parseDay(form.to) : null;
  if (form.from && !from) errors.from = "Enter a date as YYYY-MM-DD.";
  if (form.to && !to) errors.to = "Enter a date as YYYY-MM-DD.";
  if (from && to && from.getTime() > to.getTime()) errors.to = "The end date must not be before the start date.";
  const pageNumber = /^\d{1,6}$/.test(text("page")) ? Math.max(1, Number(text("page"))) : 1;
  const filter: AuditFilter = {
    action: form.action || undefined,
    actor: form.actor || undefined,
    targetType: form.target || undefined,
    from: from ?? undefined,
    // The day after 9999-12-31 has no YYYY-MM-DD name (parseDay answers null): no upper bound is then the same range.
    until: to ? (parseDay(addDays(form.to, 1)) ?? undefined) : undefined,
  };
  return { form, filter, errors, page: pageNumber };
}

/**
 * True for an htmx request that swaps the results region; a history restore (after a cache miss htmx asks
 * for the page again with HX-Request set) needs the whole page.
 */
function wantsRegion(request: Request): boolean {
  return request.headers.get("hx-request") === "true" && request.headers.get("hx-history-restore-request") !== "true";
}

/** Audit log, filterable. */
export function createAuditRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const reports = new DbReports(deps.db);
  const template = templateText(auditTemplate);
  const results = templateText(resultsTemplate);

  return new Elysia({ name: "admin-audit" }).get("/admin/audit", async ({ request, query }) => {
    const caller = adminOf(request);
    const q = readFilter(query as Query);
    const hasErrors = Object.keys(q.errors).length > 0;
    const facets = await reports.auditFacets();
    let listing: Record<string, unknown> = {};
    if (!hasErrors) {
      const { items, total } = await reports.auditPage(q.filter, (q.page - 1) * AUDIT_PAGE_SIZE, AUDIT_PAGE_SIZE);
      const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
      const link = (n: number) => {
        const params = new URLSearchParams(Object.entries(q.form).filter(([, v]) => v !== ""));
        params.set("page", String(n));
        return params.toString();
      };
      listing = {
        total,
        entries: items.map((e) => ({
          id: e.id,
          when: e.createdAt.toISOString(),
          actorType: e.actorType,
          actorLabel: e.actorLabel ?? e.actorId ?? "",
          action: e.action,
          target: e.targetType ? `${e.targetType}${e.targetId != null ? ` #${e.targetId}` : ""}` : "",
          clientIp: e.clientIp ?? "",
          // Shown as text (escaped like everything else), never interpreted.
          details: e.details && Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : "",
        })),
        pager: pages > 1 || q.page > 1 ? { page: q.page, pages, prev: q.page > 1 ? link(q.page - 1) : null, next: q.page < pages ? link(q.page + 1) : null } : null,
      };
    }
    const view = {
      filter: q.form,
      errors: q.errors,
      errorList: Object.values(q.errors),
      hasErrors,
      actions: facets.actions.map((value) => ({ value, selected: value === q.form.action })),
      targetTypes: facets.targetTypes.map((value) => ({ value, selected: value === q.form.target })),
      ...listing,
    };
    const status = hasErrors ? 422 : 200;
    if (wantsRegion(request)) return html(fragment(results, view), status);
    return html(page(template, view, { title: "Audit log", section: "audit", caller, partials: { results } }), status);
  });
}
