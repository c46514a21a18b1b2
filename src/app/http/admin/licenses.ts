// Licenses pages: list with filters, create (the key shown once), show (the full key), lifecycle actions,
// plan changes, deletion and site releases; and the old dashboard's POST /api/create_license.
import { Elysia, t } from "elysia";
import { AdminCustomerLicenseQueries, DbLicenseStore } from "../../../adapters/db/admin_customer_license_repos.ts";
import {
  changeLicensePlan,
  changeLicenseStatus,
  deleteLicense,
  effectiveStatus,
  extendLicense,
  EXTENSION_MONTHS,
  isLicenseStatus,
  issueLicense,
  LICENSE_STATUSES,
  releaseSite,
  type License,
  type LicenseAction,
  type LicenseTerm,
} from "../../../domain/licensing/mod.ts";
import type { Plan } from "../../../domain/plans/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import { monthStart } from "../../../domain/usage/mod.ts";
import licenseTableTemplate from "../../../../templates/_license_table.html" with { type: "text" };
import licensePanelTemplate from "../../../../templates/_license_panel.html" with { type: "text" };
import licensesTemplate from "../../../../templates/licenses.html" with { type: "text" };
import licensesCreatedTemplate from "../../../../templates/licenses_created.html" with { type: "text" };
import licensesDeleteTemplate from "../../../../templates/licenses_delete.html" with { type: "text" };
import licensesNewTemplate from "../../../../templates/licenses_new.html" with { type: "text" };
import licensesShowTemplate from "../../../../templates/licenses_show.html" with { type: "text" };
import { ADMIN_SESSION_WRITE, BODY_ERRORS, errorResponse } from "../docs.ts";
import { domainErrorResponse, errorBody, json } from "../errors.ts";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import {
  day,
  fieldErrors,
  moment,
  notFoundPage,
  PAGE_SIZE,
  PAGER_PARTIAL,
  pageNumber,
  pageOrFragment,
  pagerView,
  parseId,
  wantsFragment,
} from "./customers.ts";
import { field, formatCostEur, fragment, html, page, redirect, templateText } from "./render.ts";

const TERM_CHOICES = [
  { value: "", label: "Plan default" },
  ...EXTENSION_MONTHS.map((m) => ({ value: String(m), label: `${m} month${m === 1 ? "" : "s"}` })),
  { value: "lifetime", label: "Lifetime" },
];

/** The term chosen in the form: the plan's default, a number of months, or lifetime. */
function termOf(raw: string): LicenseTerm | undefined {
  if (raw === "") return undefined;
  if (raw === "lifetime") return { lifetime: true };
  const months = Number(raw);
  if (!EXTENSION_MONTHS.includes(months)) throw new DomainError("invalid_argument", "Choose a term from the list", { field: "term" });
  return { months };
}

/** Form fields of domain errors that the forms name differently. */
function formErrors(error: DomainError): Record<string, string> {
  const errors = fieldErrors(error);
  if (errors.months) return { term: errors.months };
  return errors;
}

const FLASHES: Record<string, { kind: string; message: string }> = {
  deleted: { kind: "ok", message: "License deleted." },
};

/** Licenses pages: list, create, show, lifecycle actions, sites. */
export function createLicenseRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const store = new DbLicenseStore(deps.db);
  const queries = new AdminCustomerLicenseQueries(deps.db);
  const useCaseDeps = { ...deps, licenseStore: store };
  const list = templateText(licensesTemplate);
  const table = templateText(licenseTableTemplate);
  const newForm = templateText(licensesNewTemplate);
  const created = templateText(licensesCreatedTemplate);
  const show = templateText(licensesShowTemplate);
  const panel = templateText(licensePanelTemplate);
  const confirmDelete = templateText(licensesDeleteTemplate);
  const listPartials = { table, pager: PAGER_PARTIAL };

  const planLabel = (plans: Plan[], id: number) => plans.find((p) => p.id === id)?.displayName ?? String(id);

  async function listView(query: Record<string, string | undefined>) {
    const now = deps.clock.now();
    const plans = await deps.plans.list();
    const q = (query.q ?? "").trim().slice(0, 200);
    const status = isLicenseStatus(query.status) ? query.status : "";
    const plan = plans.find((p) => p.name === query.plan) ?? null;
    const current = pageNumber(query.page);
    const { items, total } = await queries.listLicenses({
      offset: (current - 1) * PAGE_SIZE,
      limit: PAGE_SIZE,
      now,
      status: status || undefined,
      planId: plan?.id,
      search: q || undefined,
    });
    const [customers, sites] = await Promise.all([queries.customersByIds(items.map((l) => l.customerId)), queries.activeSiteCounts(items.map((l) => l.id))]);
    return {
      q,
      total,
      statuses: LICENSE_STATUSES.map((s) => ({ value: s, selected: s === status })),
      plans: plans.map((p) => ({ name: p.name, label: p.displayName, selected: p.id === plan?.id })),
      items: items.map((l) => ({
        id: l.id,
        prefix: l.keyPrefix,
        customerId: l.customerId,
        email: customers.get(l.customerId)?.email ?? "",
        plan: planLabel(plans, l.planId),
        status: effectiveStatus(l, now),
        expires: l.expiresAt ? day(l.expiresAt) : "never",
        sites: sites.get(l.id) ?? 0,
        created: day(l.createdAt),
      })),
      pager: pagerView("/admin/licenses", { q, status, plan: plan?.name ?? "" }, current, total),
    };
  }

  async function newFormView(values: Record<string, string>, errors: Record<string, string>) {
    const plans = (await deps.plans.list()).filter((p) => p.active);
    const plan = values.plan || "pro";
    return {
      values,
      errors,
      plans: plans.map((p) => ({ name: p.name, label: `${p.displayName} (€${p.priceEur.toFixed(2)}${p.lifetimeCap != null ? `, at most ${p.lifetimeCap}` : ""})`, selected: p.name === plan })),
      terms: TERM_CHOICES.map((t) => ({ ...t, selected: t.value === (values.term ?? "") })),
    };
  }

  async function panelView(license: License, notice: { kind: string; message: string } | null, errors: Record<string, string>) {
    const now = deps.clock.now();
    const [key, customer, plans, sites, usage] = await Promise.all([
      deps.keyring.open(license.keySealed, "license_key"),
      deps.customers.byId(license.customerId),
      deps.plans.list(),
      deps.sites.activeFor(license.id),
      deps.usage.monthToDate(license.id, monthStart(now)),
    ]);
    const status = effectiveStatus(license, now);
    const plan = plans.find((p) => p.id === license.planId);
    const metadata = Object.keys(license.metadata ?? {}).length ? JSON.stringify(license.metadata, null, 2) : "";
    return {
      notice,
      errors,
      license: {
        id: license.id,
        key,
        prefix: license.keyPrefix,
        status,
        storedStatus: license.status,
        domain: license.domain ?? "—",
        expires: license.expiresAt ? moment(license.expiresAt) : "never (lifetime)",
        lifetime: license.expiresAt === null,
        created: moment(license.createdAt),
        activated: moment(license.activatedAt),
        validated: moment(license.lastValidatedAt),
        metadata,
      },
      customer: customer ? { id: customer.id, name: customer.name, email: customer.email } : null,
      plan: plan ? { name: plan.name, label: plan.displayName, maxSites: plan.limits.maxSites <= 0 ? "unlimited" : plan.limits.maxSites } : null,
      plans: plans.filter((p) => p.active || p.id === license.planId).map((p) => ({ name: p.name, label: p.displayName, selected: p.id === license.planId })),
      months: EXTENSION_MONTHS.map((m) => ({ value: m, label: `${m} month${m === 1 ? "" : "s"}` })),
      canSuspend: status === "active",
      canReactivate: status === "suspended",
      canCancel: status !== "cancelled",
      sites: sites.map((s) => ({ host: s.host, exempt: s.exempt, activated: moment(s.activatedAt) })),
      usage: { month: now.toISOString().slice(0, 7), requests: usage.requests, tokens: usage.tokens, cost: formatCostEur(usage.costEur).slice(1) },
    };
  }

  async function renderPanel(request: Request, license: License, notice: { kind: string; message: string } | null, errors: Record<string, string> = {}, status = 200) {
    const caller = adminOf(request);
    const view = await panelView(license, notice, errors);
    if (wantsFragment(request)) return html(fragment(panel, { ...view, csrf: caller.csrf }), status);
    return html(page(show, view, { title: `License ${license.keyPrefix}`, section: "licenses", caller, partials: { panel } }), status);
  }

  async function licenseOf(raw: string): Promise<License | null> {
    const id = parseId(raw);
    return id ? deps.licenses.byId(id) : null;
  }

  /** Runs one action on a license and answers with the re-rendered panel: a notice, or field errors and 422. */
  async function act(request: Request, rawId: string, run: (license: License) => Promise<string>): Promise<Response> {
    const caller = adminOf(request);
    const license = await licenseOf(rawId);
    if (!license) return notFoundPage(caller, "This license", "licenses");
    try {
      const message = await run(license);
      const fresh = (await deps.licenses.byId(license.id)) ?? license;
      return renderPanel(request, fresh, { kind: "ok", message });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.code === "not_found" && !error.details.field) return notFoundPage(caller, "This license", "licenses");
      const errors = fieldErrors(error);
      return renderPanel(request, license, { kind: "error", message: error.message }, errors, 422);
    }
  }

  return new Elysia({ name: "admin-licenses" })
    .get("/admin/licenses", async ({ request, query }) => {
      const caller = adminOf(request);
      const view = await listView(query as Record<string, string | undefined>);
      if (wantsFragment(request)) return html(fragment(table, view, listPartials));
      const flash = FLASHES[String((query as Record<string, unknown>).done ?? "")] ?? null;
      return html(page(list, view, { title: "Licenses", section: "licenses", caller, partials: listPartials, flash }));
    })
    .get("/admin/licenses/new", async ({ request, query }) => {
      const email = typeof (query as Record<string, unknown>).email === "string" ? String((query as Record<string, unknown>).email).slice(0, 254) : "";
      const view = await newFormView({ email, plan: "", term: "", domain: "" }, {});
      return pageOrFragment(request, newForm, view, { title: "New license", section: "licenses", caller: adminOf(request) });
    })
    .post("/admin/licenses", async ({ request, body }) => {
      const caller = adminOf(request);
      const values = { email: field(body, "email"), plan: field(body, "plan"), term: field(body, "term"), domain: field(body, "domain") };
      try {
        const issued = await issueLicense(deps, {
          email: values.email,
          planName: values.plan,
          term: termOf(values.term),
          domain: values.domain || null,
          actor: caller.actor,
        });
        const plans = await deps.plans.list();
        const view = {
          key: issued.licenseKey,
          licenseId: issued.license.id,
          customer: { id: issued.customer.id, email: issued.customer.email, created: issued.customerCreated },
          plan: planLabel(plans, issued.license.planId),
          expires: issued.license.expiresAt ? moment(issued.license.expiresAt) : "never (lifetime)",
        };
        return pageOrFragment(request, created, view, { title: "License created", section: "licenses", caller });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const view = await newFormView(values, formErrors(error));
        return pageOrFragment(request, newForm, view, { title: "New license", section: "licenses", caller, status: 422 });
      }
    })
    .get("/admin/licenses/:id", async ({ request, params }) => {
      const license = await licenseOf(params.id);
      if (!license) return notFoundPage(adminOf(request), "This license", "licenses");
      return renderPanel(request, license, null);
    })
    .post("/admin/licenses/:id/status", ({ request, params, body }) =>
      act(request, params.id, async (license) => {
        const action = field(body, "action");
        if (action !== "suspend" && action !== "reactivate" && action !== "cancel") {
          throw new DomainError("invalid_argument", "Unknown action", { field: "action" });
        }
        const key = await deps.keyring.open(license.keySealed, "license_key");
        await changeLicenseStatus(deps, { key, action: action as LicenseAction, actor: adminOf(request).actor });
        return { suspend: "License suspended.", reactivate: "License reactivated.", cancel: "License cancelled." }[action];
      }),
    )
    .post("/admin/licenses/:id/extend", ({ request, params, body }) =>
      act(request, params.id, async (license) => {
        const result = await extendLicense(useCaseDeps, { licenseId: license.id, months: Number(field(body, "months")), actor: adminOf(request).actor });
        if (!result.changed) return "Lifetime licenses never expire; nothing changed.";
        return `License extended to ${day(result.license.expiresAt)}.`;
      }),
    )
    .post("/admin/licenses/:id/plan", ({ request, params, body }) =>
      act(request, params.id, async (license) => {
        const result = await changeLicensePlan(useCaseDeps, { licenseId: license.id, planName: field(body, "plan"), actor: adminOf(request).actor });
        return result.changed ? "Plan changed." : "The license is already on that plan.";
      }),
    )
    .post("/admin/licenses/:id/sites/release", ({ request, params, body }) =>
      act(request, params.id, async (license) => {
        const released = await releaseSite(deps, { licenseId: license.id, host: field(body, "host"), actor: adminOf(request).actor });
        return released ? `Site ${field(body, "host")} released.` : "That site was not active.";
      }),
    )
    .get("/admin/licenses/:id/delete", async ({ request, params }) => {
      const caller = adminOf(request);
      const license = await licenseOf(params.id);
      if (!license) return notFoundPage(caller, "This license", "licenses");
      const [customer, sites] = await Promise.all([deps.customers.byId(license.customerId), deps.sites.activeFor(license.id)]);
      const view = { license: { id: license.id, prefix: license.keyPrefix }, customer, sites: sites.length };
      return html(page(confirmDelete, view, { title: `Delete ${license.keyPrefix}`, section: "licenses", caller }));
    })
    .post("/admin/licenses/:id/delete", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      if (!id) return notFoundPage(caller, "This license", "licenses");
      try {
        await deleteLicense(useCaseDeps, { licenseId: id, actor: caller.actor });
      } catch (error) {
        if (error instanceof DomainError && error.code === "not_found") return notFoundPage(caller, "This license", "licenses");
        throw error;
      }
      return redirect(request, "/admin/licenses?done=deleted");
    })
    // The old dashboard's JSON route: the customer is found by e-mail or created from it.
    .post("/api/create_license", async ({ request, body }) => {
      const data = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
      if (!data) return json(400, errorBody("JSON data required", "invalid_json"));
      const email = data.email ?? data.customer_email;
      if (typeof email !== "string" || email.trim() === "") return json(422, errorBody("Invalid request: email is required", "invalid_request", { field: "email" }));
      const planInput = data.plan ?? data.plan_id;
      const plans = await deps.plans.list();
      const plan =
        typeof planInput === "number" || (typeof planInput === "string" && /^\d+$/.test(planInput))
          ? plans.find((p) => p.id === Number(planInput))
          : typeof planInput === "string"
            ? plans.find((p) => p.name === planInput.trim().toLowerCase())
            : undefined;
      if (!plan || !plan.active) return json(422, errorBody("Invalid request: unknown plan", "invalid_request", { field: "plan" }));
      const months = data.duration_months;
      if (months != null && (!Number.isSafeInteger(months) || (months as number) < 1 || (months as number) > 120)) {
        return json(422, errorBody("Invalid request: duration_months must be a whole number from 1 to 120", "invalid_request", { field: "duration_months" }));
      }
      if (data.domain != null && typeof data.domain !== "string") return json(422, errorBody("Invalid request: domain must be text", "invalid_request", { field: "domain" }));
      try {
        const issued = await issueLicense(deps, {
          email,
          planName: plan.name,
          term: months != null ? { months: months as number } : undefined,
          domain: (data.domain as string | undefined) || null,
          actor: adminOf(request).actor,
        });
        return json(200, {
          success: true,
          license_key: issued.licenseKey,
          customer_id: issued.customer.id,
          expires_at: issued.license.expiresAt?.toISOString() ?? null,
          message: "License created and assigned automatically",
        });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const mapped = domainErrorResponse(error);
        return json(mapped.status, mapped.body);
      }
    }, {
      detail: {
        summary: "Create a license (old dashboard)",
        description:
          "Finds the customer by e-mail or creates it (named after the e-mail's local part), then issues a license on the plan. " +
          "`customer_email` and `plan_id` are accepted as aliases. Admin session and X-CSRF-Token.",
        tags: ["Admin (compatibility)"],
        security: ADMIN_SESSION_WRITE,
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                type: "object",
                additionalProperties: true,
                properties: {
                  email: { type: "string", format: "email" },
                  customer_email: { type: "string", format: "email", description: "Alias of email" },
                  plan: { type: "string", description: "Plan name, e.g. pro" },
                  plan_id: { anyOf: [{ type: "integer" }, { type: "string" }], description: "Alias of plan: the plan's id" },
                  duration_months: { type: "integer", minimum: 1, maximum: 120, description: "Omitted: the plan's billing term" },
                  domain: { type: "string" },
                },
              },
              example: { email: "mario@example.com", plan: "pro", duration_months: 12 },
            },
          },
        } as const,
      },
      response: {
        200: t.Object(
          { success: t.Boolean(), license_key: t.String(), customer_id: t.Number(), expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]), message: t.String() },
          {
            additionalProperties: true,
            description: "Created; the key is shown here once",
            examples: [
              { success: true, license_key: "CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4", customer_id: 7, expires_at: "2027-03-15T12:00:00.000Z", message: "License created and assigned automatically" },
            ],
          },
        ),
        ...BODY_ERRORS,
        401: errorResponse("No valid admin session", { error: "Sign in required", code: "admin_session_required" }),
        403: errorResponse("Missing or invalid X-CSRF-Token, or a cross-origin request", { error: "Missing or invalid CSRF token", code: "forbidden" }),
        409: errorResponse("The plan's cap is reached (e.g. founders lifetime deals)", { error: "Lifetime licenses sold out", code: "limit_reached", field: "plan", cap: 500, sold: 500 }),
        422: errorResponse(
          "email missing, unknown plan, or a bad duration_months or domain",
          { error: "Invalid request: email is required", code: "invalid_request", field: "email" },
          { error: "Invalid request: unknown plan", code: "invalid_request", field: "plan" },
        ),
      },
    });
}
