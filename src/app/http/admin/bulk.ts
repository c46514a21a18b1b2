// Bulk operations: CSV import of licenses (dry-run preview, per-row errors, all-or-nothing on validation
// errors) and CSV exports of licenses and customers (key prefixes only, formula-injection safe).
import { Elysia } from "elysia";
import { AdminCustomerLicenseQueries } from "../../../adapters/db/admin_customer_license_repos.ts";
import {
  BULK_IMPORT_MAX_BYTES,
  BULK_IMPORT_MAX_ROWS,
  csvLine,
  effectiveStatus,
  issueLicense,
  planBulkImport,
  type BulkRowError,
} from "../../../domain/licensing/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import bulkTemplate from "../../../../templates/bulk.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { html, page, templateText } from "./render.ts";

/** Rows read per query while exporting. */
const EXPORT_BATCH = 500;

/** The CSV text of an import form: the uploaded file when one was chosen, else the textarea. */
async function csvTextOf(body: unknown): Promise<string> {
  const data = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
  const file = data.file;
  if (file instanceof Blob && file.size > 0) {
    if (file.size > BULK_IMPORT_MAX_BYTES) return "\u0000too-large";
    return await file.text();
  }
  return typeof data.csv === "string" ? data.csv : "";
}

function csvResponse(name: string, body: string): Response {
  return new Response(body, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
      "cache-control": "no-store",
    },
  });
}

/** Bulk import and export pages. */
export function createBulkRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const queries = new AdminCustomerLicenseQueries(deps.db);
  const template = templateText(bulkTemplate);
  const render = (request: Request, view: Record<string, unknown>, status = 200) =>
    html(page(template, { maxRows: BULK_IMPORT_MAX_ROWS, dryRun: true, csvText: "", result: null, ...view }, { title: "Bulk operations", section: "bulk", caller: adminOf(request) }), status);

  return new Elysia({ name: "admin-bulk" })
    .get("/admin/bulk", ({ request }) => render(request, {}))
    .post("/admin/bulk/import", async ({ request, body }) => {
      const caller = adminOf(request);
      const data = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
      const dryRun = typeof data.dry_run === "string" && data.dry_run !== "";
      const raw = await csvTextOf(body);
      const plans = await deps.plans.list();
      const active = new Set(plans.filter((p) => p.active).map((p) => p.name));
      const planned =
        raw === "\u0000too-large"
          ? { rows: [], errors: [{ row: 0, field: "file", message: "The CSV is larger than 1 MiB" }], total: 0 }
          : planBulkImport(raw, (name) => active.has(name));
      const csvText = raw.length <= 64 * 1024 && raw !== "\u0000too-large" ? raw : "";
      const termLabel = (t: { months: number } | { lifetime: true }) => ("lifetime" in t ? "lifetime" : `${t.months} month${t.months === 1 ? "" : "s"}`);
      const preview = planned.rows.map((r) => ({ row: r.row, email: r.email, plan: r.plan, term: termLabel(r.term), domain: r.domain ?? "" }));
      const invalid = planned.errors.length > 0;
      const now = deps.clock.now();
      const errors: BulkRowError[] = [...planned.errors];
      const created: { row: number; email: string; plan: string; key: string }[] = [];
      let customersCreated = 0;
      if (!dryRun && !invalid) {
        for (const row of planned.rows) {
          try {
            const issued = await issueLicense(deps, { email: row.email, planName: row.plan, term: row.term, domain: row.domain, actor: caller.actor, metadata: { source: "bulk_import" } });
            if (issued.customerCreated) customersCreated++;
            created.push({ row: row.row, email: issued.customer.email, plan: row.plan, key: issued.licenseKey });
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
            errors.push({ row: row.row, field: String(error.details.field ?? (error.code === "limit_reached" ? "plan" : "row")), message: error.message });
          }
        }
      }
      await deps.audit.record(
        {
          actor: caller.actor,
          action: "bulk.import",
          targetType: "license",
          targetId: "bulk",
          details: { dry_run: dryRun, rows: planned.total, valid: planned.rows.length, invalid_rows: new Set(planned.errors.map((e) => e.row)).size, created: created.length, customers_created: customersCreated, failed: errors.length - planned.errors.length, refused: !dryRun && invalid },
        },
        now,
      );
      const refused = !dryRun && invalid;
      const heading = dryRun ? "Dry run preview" : refused ? "Import refused" : "Import finished";
      const summary = dryRun
        ? `${planned.total} row(s) read: ${planned.rows.length} valid, ${planned.errors.length} error(s). Nothing was created (dry run).`
        : refused
          ? `${planned.total} row(s) read, ${planned.errors.length} error(s).`
          : `${created.length} license(s) created (${customersCreated} new customer(s)), ${errors.length} row(s) failed.`;
      const result = {
        heading,
        summary,
        refused,
        errors,
        hasErrors: errors.length > 0,
        preview: dryRun || refused ? preview : [],
        hasPreview: (dryRun || refused) && preview.length > 0,
        created,
        hasCreated: created.length > 0,
      };
      return render(request, { result, dryRun, csvText: dryRun || refused ? csvText : "" }, invalid ? 422 : 200);
    })
    .get("/admin/bulk/licenses.csv", async () => {
      const now = deps.clock.now();
      const plans = new Map((await deps.plans.list()).map((p) => [p.id, p.name]));
      const parts = [csvLine(["id", "key_prefix", "customer_email", "plan", "status", "expires_at", "domain", "created_at"])];
      for (let offset = 0; ; offset += EXPORT_BATCH) {
        const { items } = await deps.licenses.list({ offset, limit: EXPORT_BATCH });
        const customers = await queries.customersByIds([...new Set(items.map((l) => l.customerId))]);
        for (const l of items) {
          parts.push(
            csvLine([l.id, l.keyPrefix, customers.get(l.customerId)?.email ?? "", plans.get(l.planId) ?? l.planId, effectiveStatus(l, now), l.expiresAt?.toISOString() ?? "", l.domain ?? "", l.createdAt.toISOString()]),
          );
        }
        if (items.length < EXPORT_BATCH) break;
      }
      return csvResponse("licenses.csv", parts.join(""));
    })
    .get("/admin/bulk/customers.csv", async () => {
      const parts = [csvLine(["id", "email", "name", "company", "status", "created_at", "license_count"])];
      for (let offset = 0; ; offset += EXPORT_BATCH) {
        const { items } = await deps.customers.list({ offset, limit: EXPORT_BATCH });
        const counts = await queries.licenseCounts(items.map((c) => c.id));
        for (const c of items) parts.push(csvLine([c.id, c.email, c.name, c.company ?? "", c.status, c.createdAt.toISOString(), counts.get(c.id) ?? 0]));
        if (items.length < EXPORT_BATCH) break;
      }
      return csvResponse("customers.csv", parts.join(""));
    });
}
