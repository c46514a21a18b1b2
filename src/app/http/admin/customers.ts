// Customers pages (list, search, detail, add, edit, delete) and the old dashboard's customer JSON routes.
// Also the small view helpers the licenses area shares (pager, dates, field errors, page-or-fragment).
import { Elysia, t } from "elysia";
import { DbCustomerStore, AdminCustomerLicenseQueries } from "../../../adapters/db/admin_customer_license_repos.ts";
import { createCustomer, deleteCustomer, updateCustomer, type Customer } from "../../../domain/customers/mod.ts";
import { effectiveStatus, type License } from "../../../domain/licensing/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import { monthStart } from "../../../domain/usage/mod.ts";
import customersTemplate from "../../../../templates/customers.html" with { type: "text" };
import customersDeleteTemplate from "../../../../templates/customers_delete.html" with { type: "text" };
import customersFormTemplate from "../../../../templates/customers_form.html" with { type: "text" };
import customersShowTemplate from "../../../../templates/customers_show.html" with { type: "text" };
import pagerTemplate from "../../../../templates/_customer_pager.html" with { type: "text" };
import tableTemplate from "../../../../templates/_customer_table.html" with { type: "text" };
import { ADMIN_SESSION_READ, ADMIN_SESSION_WRITE, BODY_ERRORS, errorResponse } from "../docs.ts";
import { domainErrorResponse, errorBody, json } from "../errors.ts";
import type { AdminCaller } from "./admin_guard.ts";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { field, formatCostEur, fragment, html, page, redirect, templateText } from "./render.ts";

/** Rows per page of the customer and license lists. */
export const PAGE_SIZE = 25;

/** The pager partial, shared by the licenses list. */
export const PAGER_PARTIAL = templateText(pagerTemplate);

/** A positive integer id from a path segment, or null. */
export function parseId(raw: unknown): number | null {
  return typeof raw === "string" && /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : null;
}

/** The 1-based page number of a query value. */
export function pageNumber(raw: unknown): number {
  const n = typeof raw === "string" && /^\d{1,6}$/.test(raw) ? Number(raw) : 1;
  return Math.max(1, n);
}

/** The pager's view: page x of y, the total and the neighbouring pages' links (other query values kept). */
export function pagerView(base: string, params: Record<string, string>, page: number, total: number) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const href = (p: number) => {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ""));
    if (p > 1) q.set("page", String(p));
    const s = q.toString();
    return s ? `${base}?${s}` : base;
  };
  return { page, pages, total, prev: page > 1 ? href(page - 1) : null, next: page < pages ? href(page + 1) : null };
}

/** A date as the admin shows it (UTC), or "—". */
export function day(date: Date | null | undefined): string {
  return date ? date.toISOString().slice(0, 10) : "—";
}

/** A timestamp as the admin shows it (UTC, minutes). */
export function moment(date: Date | null | undefined): string {
  return date ? `${date.toISOString().slice(0, 16).replace("T", " ")} UTC` : "—";
}

/** Field errors of a domain error: its field (or "form") → its message. */
export function fieldErrors(error: DomainError): Record<string, string> {
  return { [String(error.details.field ?? "form")]: error.message };
}

/** True for an htmx request that wants a fragment (history restores want the whole page). */
export function wantsFragment(request: Request): boolean {
  return request.headers.get("hx-request") === "true" && !request.headers.get("hx-history-restore-request");
}

/** A full page, or for htmx only the template (the swapped region), with the given status. */
export function pageOrFragment(
  request: Request,
  template: string,
  view: Record<string, unknown>,
  options: { title: string; section: string; caller: AdminCaller; partials?: Record<string, string>; status?: number },
): Response {
  const body = wantsFragment(request)
    ? fragment(template, { ...view, csrf: options.caller.csrf }, options.partials)
    : page(template, view, options);
  return html(body, options.status ?? 200);
}

/** The admin's 404 page. */
export function notFoundPage(caller: AdminCaller, what: string, section: string): Response {
  return html(page("<section class=\"card\"><h1>Not found</h1><p>{{what}} does not exist (any more).</p></section>", { what }, { title: "Not found", section, caller }), 404);
}

/** The customer as the compatibility JSON routes answer it. */
function customerJson(customer: Customer) {
  return {
    id: customer.id,
    email: customer.email,
    name: customer.name,
    company: customer.company,
    notes: customer.notes,
    status: customer.status,
    created_at: customer.createdAt.toISOString(),
    updated_at: customer.updatedAt.toISOString(),
  };
}

function jsonBodyOf(body: unknown): Record<string, unknown> | null {
  return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
}

function jsonError(error: unknown): Response {
  if (!(error instanceof DomainError)) throw error;
  const mapped = domainErrorResponse(error);
  return json(mapped.status, mapped.body);
}

// OpenAPI documentation of the compatibility JSON routes (they answer Response objects, so Elysia sends them as they are).
const Open = { additionalProperties: true } as const;
const NullableText = t.Union([t.String(), t.Null()]);
const CUSTOMER_EXAMPLE = {
  id: 7,
  email: "mario@example.com",
  name: "Mario Rossi",
  company: "Rossi Srl",
  notes: null,
  status: "active",
  created_at: "2026-03-15T12:00:00.000Z",
  updated_at: "2026-03-15T12:00:00.000Z",
};
const CustomerFields = {
  id: t.Number(),
  email: t.String(),
  name: t.String(),
  company: NullableText,
  notes: NullableText,
  status: t.String(),
  created_at: t.String({ format: "date-time" }),
  updated_at: t.String({ format: "date-time" }),
};
const CustomerJson = t.Object(CustomerFields, Open);
const CustomerInput = {
  content: {
    "application/json": {
      schema: {
        type: "object",
        additionalProperties: true,
        properties: { email: { type: "string", format: "email" }, name: { type: "string" }, company: { type: "string" }, notes: { type: "string" } },
      },
      example: { email: "mario@example.com", name: "Mario Rossi", company: "Rossi Srl" },
    },
  },
} as const;
const COMPAT = "Admin (compatibility)";
const SESSION_ERRORS = {
  401: errorResponse("No valid admin session", { error: "Sign in required", code: "admin_session_required" }),
};
const CHANGE_ERRORS = {
  ...SESSION_ERRORS,
  403: errorResponse("Missing or invalid X-CSRF-Token, or a cross-origin request", { error: "Missing or invalid CSRF token", code: "forbidden" }),
};
const CustomerNotFound = errorResponse("No such customer", { error: "Customer not found", code: "not_found" });
const CustomerInvalid = errorResponse("A field is missing or invalid", { error: "Invalid e-mail address", code: "invalid_request", field: "email" });
const CustomerConflict = errorResponse("Another customer has that e-mail", { error: "A customer with this e-mail already exists", code: "conflict", field: "email" });

const FLASHES: Record<string, { kind: string; message: string }> = {
  deleted: { kind: "ok", message: "Customer deleted." },
  created: { kind: "ok", message: "Customer created." },
  saved: { kind: "ok", message: "Customer saved." },
};

/** Customers pages and the old dashboard's customer JSON routes. */
export function createCustomerRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const store = new DbCustomerStore(deps.db);
  const queries = new AdminCustomerLicenseQueries(deps.db);
  const useCaseDeps = { customers: deps.customers, customerStore: store, clock: deps.clock, audit: deps.audit };
  const list = templateText(customersTemplate);
  const table = templateText(tableTemplate);
  const form = templateText(customersFormTemplate);
  const show = templateText(customersShowTemplate);
  const confirmDelete = templateText(customersDeleteTemplate);
  const partials = { table, pager: PAGER_PARTIAL };

  async function listView(query: Record<string, string | undefined>) {
    const q = (query.q ?? "").trim().slice(0, 200);
    const current = pageNumber(query.page);
    const { items, total } = await deps.customers.list({ offset: (current - 1) * PAGE_SIZE, limit: PAGE_SIZE, search: q || undefined });
    const counts = await queries.licenseCounts(items.map((c) => c.id));
    return {
      q,
      total,
      items: items.map((c) => ({ id: c.id, name: c.name, email: c.email, company: c.company ?? "", licenses: counts.get(c.id) ?? 0, created: day(c.createdAt) })),
      pager: pagerView("/admin/customers", { q }, current, total),
    };
  }

  async function detailView(customer: Customer) {
    const now = deps.clock.now();
    const [licenses, plans] = await Promise.all([queries.licensesOf(customer.id), deps.plans.list()]);
    const rows = await Promise.all(
      licenses.map(async (license: License) => {
        const [sites, usage] = await Promise.all([deps.sites.activeFor(license.id), deps.usage.monthToDate(license.id, monthStart(now))]);
        return {
          id: license.id,
          prefix: license.keyPrefix,
          plan: plans.find((p) => p.id === license.planId)?.displayName ?? String(license.planId),
          status: effectiveStatus(license, now),
          expires: license.expiresAt ? day(license.expiresAt) : "never",
          sites: sites.map((s) => ({ host: s.host, exempt: s.exempt })),
          requests: usage.requests,
          tokens: usage.tokens,
          cost: formatCostEur(usage.costEur).slice(1),
        };
      }),
    );
    return {
      customer: { ...customer, company: customer.company ?? "", notes: customer.notes ?? "", created: moment(customer.createdAt), updated: moment(customer.updatedAt) },
      licenses: rows,
      newLicenseHref: `/admin/licenses/new?email=${encodeURIComponent(customer.email)}`,
      month: now.toISOString().slice(0, 7),
    };
  }

  function formPage(request: Request, view: { heading: string; action: string; values: Record<string, string>; errors: Record<string, string>; cancel: string }, status = 200) {
    return pageOrFragment(request, form, view, { title: view.heading, section: "customers", caller: adminOf(request), status });
  }

  const values = (body: unknown) => ({ email: field(body, "email"), name: field(body, "name"), company: field(body, "company"), notes: field(body, "notes") });

  return new Elysia({ name: "admin-customers" })
    .get("/admin/customers", async ({ request, query }) => {
      const caller = adminOf(request);
      const view = await listView(query as Record<string, string | undefined>);
      if (wantsFragment(request)) return html(fragment(table, view, partials));
      const flash = FLASHES[String((query as Record<string, unknown>).done ?? "")] ?? null;
      return html(page(list, view, { title: "Customers", section: "customers", caller, partials, flash }));
    })
    .get("/admin/customers/new", ({ request }) =>
      formPage(request, { heading: "Add customer", action: "/admin/customers", values: {}, errors: {}, cancel: "/admin/customers" }),
    )
    .post("/admin/customers", async ({ request, body }) => {
      const caller = adminOf(request);
      try {
        const customer = await createCustomer(useCaseDeps, { details: values(body), actor: caller.actor });
        return redirect(request, `/admin/customers/${customer.id}?done=created`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return formPage(request, { heading: "Add customer", action: "/admin/customers", values: values(body), errors: fieldErrors(error), cancel: "/admin/customers" }, 422);
      }
    })
    .get("/admin/customers/:id", async ({ request, params, query }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return notFoundPage(caller, "This customer", "customers");
      const flash = FLASHES[String((query as Record<string, unknown>).done ?? "")] ?? null;
      return html(page(show, await detailView(customer), { title: customer.name, section: "customers", caller, flash }));
    })
    .get("/admin/customers/:id/edit", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return notFoundPage(caller, "This customer", "customers");
      const current = { email: customer.email, name: customer.name, company: customer.company ?? "", notes: customer.notes ?? "" };
      return formPage(request, { heading: `Edit ${customer.name}`, action: `/admin/customers/${customer.id}`, values: current, errors: {}, cancel: `/admin/customers/${customer.id}` });
    })
    .post("/admin/customers/:id", async ({ request, params, body }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return notFoundPage(caller, "This customer", "customers");
      try {
        await updateCustomer(useCaseDeps, { id: customer.id, details: values(body), actor: caller.actor });
        return redirect(request, `/admin/customers/${customer.id}?done=saved`);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        if (error.code === "not_found") return notFoundPage(caller, "This customer", "customers");
        const view = { heading: `Edit ${customer.name}`, action: `/admin/customers/${customer.id}`, values: values(body), errors: fieldErrors(error), cancel: `/admin/customers/${customer.id}` };
        return formPage(request, view, 422);
      }
    })
    .get("/admin/customers/:id/delete", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return notFoundPage(caller, "This customer", "customers");
      const impact = await store.impact(customer.id);
      return html(page(confirmDelete, { customer, impact }, { title: `Delete ${customer.name}`, section: "customers", caller }));
    })
    .post("/admin/customers/:id/delete", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = parseId(params.id);
      if (!id) return notFoundPage(caller, "This customer", "customers");
      try {
        await deleteCustomer(useCaseDeps, { id, actor: caller.actor });
      } catch (error) {
        if (error instanceof DomainError && error.code === "not_found") return notFoundPage(caller, "This customer", "customers");
        throw error;
      }
      return redirect(request, "/admin/customers?done=deleted");
    })
    // The old dashboard's JSON routes: same admin session, CSRF header on changes (the guard checks both).
    .get("/api/customer/:id", async ({ params }) => {
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return json(404, errorBody("Customer not found", "not_found"));
      const now = deps.clock.now();
      const [licenses, plans] = await Promise.all([queries.licensesOf(customer.id), deps.plans.list()]);
      return json(200, {
        ...customerJson(customer),
        licenses: licenses.map((l) => ({
          id: l.id,
          key_prefix: l.keyPrefix,
          plan: plans.find((p) => p.id === l.planId)?.name ?? null,
          status: effectiveStatus(l, now),
          expires_at: l.expiresAt?.toISOString() ?? null,
          created_at: l.createdAt.toISOString(),
        })),
      });
    }, {
      detail: { summary: "Get a customer", description: "The customer and their licenses (key prefixes only). Admin session.", tags: [COMPAT], security: ADMIN_SESSION_READ },
      response: {
        200: t.Object(
          {
            ...CustomerFields,
            licenses: t.Array(
              t.Object(
                { id: t.Number(), key_prefix: t.String(), plan: NullableText, status: t.String(), expires_at: NullableText, created_at: t.String({ format: "date-time" }) },
                Open,
              ),
            ),
          },
          {
            ...Open,
            description: "The customer",
            examples: [{ ...CUSTOMER_EXAMPLE, licenses: [{ id: 3, key_prefix: "CHA-1F3A9C0B", plan: "pro", status: "active", expires_at: null, created_at: "2026-03-15T12:00:00.000Z" }] }],
          },
        ),
        ...SESSION_ERRORS,
        404: CustomerNotFound,
      },
    })
    .post("/api/customer", async ({ request, body }) => {
      const data = jsonBodyOf(body);
      if (!data) return json(400, errorBody("JSON data required", "invalid_json"));
      try {
        const customer = await createCustomer(useCaseDeps, { details: data, actor: adminOf(request).actor });
        return json(201, { success: true, customer_id: customer.id, message: "Customer created", customer: customerJson(customer) });
      } catch (error) {
        return jsonError(error);
      }
    }, {
      detail: {
        summary: "Create a customer",
        description: "Admin session and X-CSRF-Token.",
        tags: [COMPAT],
        security: ADMIN_SESSION_WRITE,
        requestBody: { required: true, ...CustomerInput },
      },
      response: {
        201: t.Object(
          { success: t.Boolean(), customer_id: t.Number(), message: t.String(), customer: CustomerJson },
          { ...Open, description: "Created", examples: [{ success: true, customer_id: 7, message: "Customer created", customer: CUSTOMER_EXAMPLE }] },
        ),
        ...BODY_ERRORS,
        ...CHANGE_ERRORS,
        409: CustomerConflict,
        422: CustomerInvalid,
      },
    })
    .put("/api/customer/:id", async ({ request, params, body }) => {
      const data = jsonBodyOf(body);
      if (!data) return json(400, errorBody("JSON data required", "invalid_json"));
      const id = parseId(params.id);
      const customer = id ? await deps.customers.byId(id) : null;
      if (!customer) return json(404, errorBody("Customer not found", "not_found"));
      // A partial update keeps the fields the old dashboard did not send.
      const merged = {
        email: "email" in data ? data.email : customer.email,
        name: "name" in data ? data.name : customer.name,
        company: "company" in data ? data.company : customer.company,
        notes: "notes" in data ? data.notes : customer.notes,
      };
      try {
        const updated = await updateCustomer(useCaseDeps, { id: customer.id, details: merged, actor: adminOf(request).actor });
        return json(200, { success: true, message: "Customer updated", customer: customerJson(updated) });
      } catch (error) {
        return jsonError(error);
      }
    }, {
      detail: {
        summary: "Update a customer",
        description: "A partial update: fields not sent are kept. Admin session and X-CSRF-Token.",
        tags: [COMPAT],
        security: ADMIN_SESSION_WRITE,
        requestBody: { required: true, ...CustomerInput },
      },
      response: {
        200: t.Object(
          { success: t.Boolean(), message: t.String(), customer: CustomerJson },
          { ...Open, description: "Updated", examples: [{ success: true, message: "Customer updated", customer: CUSTOMER_EXAMPLE }] },
        ),
        ...BODY_ERRORS,
        ...CHANGE_ERRORS,
        404: CustomerNotFound,
        409: CustomerConflict,
        422: CustomerInvalid,
      },
    })
    .delete("/api/customer/:id", async ({ request, params }) => {
      const id = parseId(params.id);
      if (!id) return json(404, errorBody("Customer not found", "not_found"));
      try {
        const impact = await deleteCustomer(useCaseDeps, { id, actor: adminOf(request).actor });
        return json(200, {
          success: true,
          message: "Customer deleted",
          deleted: { licenses: impact.licenses, site_activations: impact.activeSites, usage_events: impact.usageEvents },
        });
      } catch (error) {
        return jsonError(error);
      }
    }, {
      detail: { summary: "Delete a customer", description: "Deletes the customer with their licenses, site activations and usage. Admin session and X-CSRF-Token.", tags: [COMPAT], security: ADMIN_SESSION_WRITE },
      response: {
        200: t.Object(
          {
            success: t.Boolean(),
            message: t.String(),
            deleted: t.Object({ licenses: t.Number(), site_activations: t.Number(), usage_events: t.Number() }, Open),
          },
          { ...Open, description: "Deleted", examples: [{ success: true, message: "Customer deleted", deleted: { licenses: 1, site_activations: 2, usage_events: 40 } }] },
        ),
        ...CHANGE_ERRORS,
        404: CustomerNotFound,
      },
    });
}
