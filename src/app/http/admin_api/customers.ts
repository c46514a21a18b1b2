// Admin API: customers — list and search, create, show, edit, delete (with what went), usage.
import { Elysia, t } from "elysia";
import { AdminCustomerLicenseQueries, DbCustomerStore } from "../../../adapters/db/admin_customer_license_repos.ts";
import { createCustomer, deleteCustomer, updateCustomer, type Customer } from "../../../domain/customers/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, idOrderedPage, IsoTime, notFound, Order, Paged, PageQuery, writeErrors, Int } from "./_shared.ts";
import { LicenseSummary, licenseSummaries } from "./licenses.ts";
import { customerUsage, UsageQuery, UsageReport } from "./usage.ts";

/** A customer as the admin API answers it. */
export const CustomerJson = t.Object({
  id: Int(),
  email: t.String(),
  name: t.String(),
  company: t.Nullable(t.String()),
  notes: t.Nullable(t.String()),
  status: t.String(),
  licenses: Int({ description: "number of licenses" }),
  created_at: IsoTime,
  updated_at: IsoTime,
});

const CustomerDetail = t.Composite([CustomerJson, t.Object({ license_list: t.Array(LicenseSummary) })]);

const CustomerBody = t.Object({
  email: t.String({ maxLength: 254 }),
  name: t.Optional(t.Nullable(t.String({ maxLength: 200 }))),
  company: t.Optional(t.Nullable(t.String({ maxLength: 200 }))),
  notes: t.Optional(t.Nullable(t.String({ maxLength: 10_000 }))),
});

const CustomerPatch = t.Partial(CustomerBody);

const Id = t.Object({ id: t.Integer({ minimum: 1 }) });

const Deleted = t.Object({
  id: Int(),
  email: t.String(),
  deleted: t.Literal(true),
  licenses: Int({ description: "licenses deleted with the customer" }),
  active_sites: Int({ description: "active site activations deleted" }),
  usage_events: Int({ description: "usage events deleted" }),
});

/** The customer JSON with its license count. */
export function customerJson(customer: Customer, licenses: number) {
  return {
    id: customer.id,
    email: customer.email,
    name: customer.name,
    company: customer.company,
    notes: customer.notes,
    status: customer.status,
    licenses,
    created_at: customer.createdAt.toISOString(),
    updated_at: customer.updatedAt.toISOString(),
  };
}

/** Customers in the admin API. */
export function createCustomersApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  const store = new DbCustomerStore(deps.db);
  const queries = new AdminCustomerLicenseQueries(deps.db);
  const useCaseDeps = { customers: deps.customers, customerStore: store, clock: deps.clock, audit: deps.audit };

  async function found(id: number): Promise<Customer> {
    return (await deps.customers.byId(id)) ?? notFound("Customer");
  }

  async function withCount(customer: Customer) {
    const counts = await queries.licenseCounts([customer.id]);
    return customerJson(customer, counts.get(customer.id) ?? 0);
  }

  return new Elysia({ name: "admin-api-customers" })
    .get(
      "/api/admin/customers",
      async ({ query }) => {
        const search = query.q?.trim() || undefined;
        const page = await idOrderedPage((offset, limit) => deps.customers.list({ offset, limit, search }), query, query.order ?? "desc");
        const counts = await queries.licenseCounts(page.items.map((c) => c.id));
        return { ...page, items: page.items.map((c) => customerJson(c, counts.get(c.id) ?? 0)) };
      },
      {
        query: t.Object({
          ...PageQuery,
          q: t.Optional(t.String({ maxLength: 200, description: "search in e-mail and name" })),
          sort: t.Optional(t.Union([t.Literal("id"), t.Literal("created_at")], { description: "id or created_at (both follow creation order)" })),
          order: Order,
        }),
        response: { 200: Paged(CustomerJson), ...errors() },
        detail: detail("List customers", "Newest first by default; `q` searches e-mail and name."),
      },
    )
    .post(
      "/api/admin/customers",
      async ({ request, body, status }) => {
        const customer = await createCustomer(useCaseDeps, { details: body, actor: tokenOf(request).actor });
        return status(201, customerJson(customer, 0));
      },
      {
        body: CustomerBody,
        response: { 201: CustomerJson, ...writeErrors(409) },
        detail: detail("Create a customer", "409 when the e-mail is already in use (any case)."),
      },
    )
    .get(
      "/api/admin/customers/:id",
      async ({ params }) => {
        const customer = await found(params.id);
        const licenses = await queries.licensesOf(customer.id);
        return { ...customerJson(customer, licenses.length), license_list: await licenseSummaries(deps, queries, licenses) };
      },
      { params: Id, response: { 200: CustomerDetail, ...errors(404) }, detail: detail("Show a customer with its licenses") },
    )
    .patch(
      "/api/admin/customers/:id",
      async ({ request, params, body }) => {
        const before = await found(params.id);
        const merged = {
          email: body.email ?? before.email,
          name: body.name === undefined ? before.name : body.name,
          company: body.company === undefined ? before.company : body.company,
          notes: body.notes === undefined ? before.notes : body.notes,
        };
        const after = await updateCustomer(useCaseDeps, { id: before.id, details: merged, actor: tokenOf(request).actor });
        return withCount(after);
      },
      {
        params: Id,
        body: CustomerPatch,
        response: { 200: CustomerJson, ...writeErrors(404, 409) },
        detail: detail("Edit a customer", "Only the given fields change; null clears company and notes (and resets the name)."),
      },
    )
    .delete(
      "/api/admin/customers/:id",
      async ({ request, params }) => {
        const customer = await found(params.id);
        const impact = await deleteCustomer(useCaseDeps, { id: customer.id, actor: tokenOf(request).actor });
        return {
          id: customer.id,
          email: customer.email,
          deleted: true as const,
          licenses: impact.licenses,
          active_sites: impact.activeSites,
          usage_events: impact.usageEvents,
        };
      },
      {
        params: Id,
        response: { 200: Deleted, ...errors(403, 404) },
        detail: detail("Delete a customer", "Deletes its licenses, site activations and usage too, and answers how many went."),
      },
    )
    .get(
      "/api/admin/customers/:id/usage",
      async ({ params, query }) => {
        const customer = await found(params.id);
        return customerUsage(deps, queries, customer.id, query);
      },
      { params: Id, query: UsageQuery, response: { 200: UsageReport, ...errors(404) }, detail: detail("Usage of a customer's licenses", "Same filters and shape as GET /api/admin/usage.") },
    );
}
