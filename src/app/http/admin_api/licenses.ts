// Admin API: licenses — list (effective status, plan, search), issue (the only answer with the full key
// besides GET .../key), show, lifecycle actions, plan change, deletion, sites and usage.
import { Elysia, t } from "elysia";
import { AdminCustomerLicenseQueries, DbLicenseStore } from "../../../adapters/db/admin_customer_license_repos.ts";
import {
  changeLicensePlan,
  changeLicenseStatus,
  deleteLicense,
  effectiveStatus,
  EXTENSION_MONTHS,
  extendLicense,
  issueLicense,
  LICENSE_STATUSES,
  parseTerm,
  releaseSite,
  type License,
  type LicenseAction,
} from "../../../domain/licensing/mod.ts";
import type { Plan } from "../../../domain/plans/mod.ts";
import { monthStart } from "../../../domain/usage/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, idOrderedPage, invalid, iso, IsoTime, notFound, NullableIsoTime, Order, Paged, PageQuery, writeErrors, Int } from "./_shared.ts";
import { licenseUsage, UsageQuery, UsageReport } from "./usage.ts";

const Status = t.Union(LICENSE_STATUSES.map((s) => t.Literal(s)));

/** A license as lists show it (never the key, only its prefix). */
export const LicenseSummary = t.Object({
  id: Int(),
  key_prefix: t.String(),
  customer_id: Int(),
  customer_email: t.Nullable(t.String()),
  plan: t.String({ description: "plan name" }),
  plan_id: Int(),
  status: t.String({ description: "effective status: a license past its expiry is expired whatever is stored" }),
  stored_status: t.String(),
  domain: t.Nullable(t.String()),
  expires_at: t.Nullable(IsoTime),
  lifetime: t.Boolean(),
  active_sites: Int(),
  activated_at: NullableIsoTime,
  last_validated_at: NullableIsoTime,
  created_at: IsoTime,
  updated_at: IsoTime,
});

const Site = t.Object({ host: t.String(), exempt: t.Boolean({ description: "local/staging sites take no seat" }), activated_at: IsoTime });

const LicenseDetail = t.Composite([
  LicenseSummary,
  t.Object({
    max_sites: Int({ description: "-1 or 0 = unlimited" }),
    sites: t.Array(Site),
    metadata: t.Record(t.String(), t.Unknown()),
    month_usage: t.Object({ month: t.String(), requests: Int(), tokens: Int(), cost_eur: t.Number() }),
  }),
]);

const Issued = t.Object({
  license_key: t.String({ description: "the full key: shown here and by GET /api/admin/licenses/{id}/key only" }),
  license: LicenseSummary,
  customer_id: Int(),
  customer_created: t.Boolean(),
  expires_at: t.Nullable(IsoTime),
});

const IssueBody = t.Object({
  email: t.String({ minLength: 1, maxLength: 254 }),
  plan: t.String({ minLength: 1, maxLength: 50 }),
  months: t.Optional(Int({ minimum: 1, maximum: 120 })),
  lifetime: t.Optional(t.Boolean()),
  domain: t.Optional(t.Nullable(t.String({ maxLength: 2048 }))),
  metadata: t.Optional(t.Record(t.String(), t.Unknown())),
});

const Id = t.Object({ id: t.Integer({ minimum: 1 }) });

type Queries = AdminCustomerLicenseQueries;

/** License summaries with their customers' e-mails, plan names and active site counts. */
export async function licenseSummaries(deps: AdminApiDeps, queries: Queries, licenses: License[]) {
  const now = deps.clock.now();
  const [plans, customers, sites] = await Promise.all([
    deps.plans.list(),
    queries.customersByIds(licenses.map((l) => l.customerId)),
    queries.activeSiteCounts(licenses.map((l) => l.id)),
  ]);
  return licenses.map((l) => summary(l, now, plans, customers.get(l.customerId)?.email ?? null, sites.get(l.id) ?? 0));
}

function summary(license: License, now: Date, plans: Plan[], email: string | null, activeSites: number) {
  return {
    id: license.id,
    key_prefix: license.keyPrefix,
    customer_id: license.customerId,
    customer_email: email,
    plan: plans.find((p) => p.id === license.planId)?.name ?? String(license.planId),
    plan_id: license.planId,
    status: effectiveStatus(license, now),
    stored_status: license.status,
    domain: license.domain,
    expires_at: iso(license.expiresAt),
    lifetime: license.expiresAt === null,
    active_sites: activeSites,
    activated_at: iso(license.activatedAt),
    last_validated_at: iso(license.lastValidatedAt),
    created_at: license.createdAt.toISOString(),
    updated_at: license.updatedAt.toISOString(),
  };
}

/** Licenses in the admin API. */
export function createLicensesApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  const store = new DbLicenseStore(deps.db);
  const queries = new AdminCustomerLicenseQueries(deps.db);
  const useCaseDeps = { ...deps, licenseStore: store };
  const actorOf = (request: Request) => tokenOf(request).actor;

  async function found(id: number): Promise<License> {
    return (await deps.licenses.byId(id)) ?? notFound("License");
  }

  async function detailOf(license: License) {
    const now = deps.clock.now();
    const [[base], sites, usage, plan] = await Promise.all([
      licenseSummaries(deps, queries, [license]),
      deps.sites.activeFor(license.id),
      deps.usage.monthToDate(license.id, monthStart(now)),
      deps.plans.byId(license.planId),
    ]);
    return {
      ...base,
      max_sites: plan?.limits.maxSites ?? 0,
      sites: sites.map((s) => ({ host: s.host, exempt: s.exempt, activated_at: s.activatedAt.toISOString() })),
      metadata: license.metadata ?? {},
      month_usage: { month: now.toISOString().slice(0, 7), requests: usage.requests, tokens: usage.tokens, cost_eur: usage.costEur },
    };
  }

  async function setStatus(request: Request, id: number, action: LicenseAction) {
    const license = await found(id);
    const key = await deps.keyring.open(license.keySealed, "license_key");
    await changeLicenseStatus(deps, { key, action, actor: actorOf(request) });
    return detailOf(await found(id));
  }

  const action = (name: LicenseAction, summaryText: string, description: string) =>
    [
      `/api/admin/licenses/:id/${name}`,
      ({ request, params }: { request: Request; params: { id: number } }) => setStatus(request, params.id, name),
      { params: Id, response: { 200: LicenseDetail, ...writeErrors(404, 409) }, detail: detail(summaryText, description) },
    ] as const;

  return new Elysia({ name: "admin-api-licenses" })
    .get(
      "/api/admin/licenses",
      async ({ query }) => {
        const now = deps.clock.now();
        let planId: number | undefined;
        if (query.plan) planId = (await deps.plans.byName(query.plan))?.id ?? invalid("plan", `Unknown plan: ${query.plan}`);
        const search = query.q?.trim() || undefined;
        const page = await idOrderedPage(
          (offset, limit) => queries.listLicenses({ offset, limit, now, status: query.status, planId, search }),
          query,
          query.order ?? "desc",
        );
        return { ...page, items: await licenseSummaries(deps, queries, page.items) };
      },
      {
        query: t.Object({
          ...PageQuery,
          status: t.Optional(Status),
          plan: t.Optional(t.String({ maxLength: 50, description: "plan name" })),
          q: t.Optional(t.String({ maxLength: 200, description: "search in key prefix and customer e-mail" })),
          sort: t.Optional(t.Union([t.Literal("id"), t.Literal("created_at")], { description: "id or created_at (both follow creation order)" })),
          order: Order,
        }),
        response: { 200: Paged(LicenseSummary), ...errors() },
        detail: detail("List licenses", "`status` filters by effective status (expired includes licenses past their expiry)."),
      },
    )
    .post(
      "/api/admin/licenses",
      async ({ request, body, status }) => {
        const plan = await deps.plans.byName(body.plan);
        if (!plan || !plan.active) invalid("plan", `Unknown plan: ${body.plan}`);
        const given = body.months !== undefined || body.lifetime !== undefined;
        const issued = await issueLicense(deps, {
          email: body.email,
          planName: plan.name,
          term: given ? parseTerm({ months: body.months, lifetime: body.lifetime }) : undefined,
          domain: body.domain || null,
          metadata: body.metadata,
          actor: actorOf(request),
        });
        const [license] = await licenseSummaries(deps, queries, [issued.license]);
        return status(201, {
          license_key: issued.licenseKey,
          license,
          customer_id: issued.customer.id,
          customer_created: issued.customerCreated,
          expires_at: iso(issued.license.expiresAt),
        });
      },
      {
        body: IssueBody,
        response: { 201: Issued, ...writeErrors(409) },
        detail: detail(
          "Issue a license",
          "Finds the customer by e-mail or creates it. Give `months` (1..120) or `lifetime: true`, else the plan's default term. " +
            "409 `limit_reached` when a capped lifetime plan is sold out. The answer holds the full key.",
        ),
      },
    )
    .get("/api/admin/licenses/:id", async ({ params }) => detailOf(await found(params.id)), {
      params: Id,
      response: { 200: LicenseDetail, ...errors(404) },
      detail: detail("Show a license", "Everything but the key itself (see GET /api/admin/licenses/{id}/key)."),
    })
    .get(
      "/api/admin/licenses/:id/key",
      async ({ request, params }) => {
        const license = await found(params.id);
        const key = await deps.keyring.open(license.keySealed, "license_key");
        // Reading a full key is worth a trace: read tokens can do it too.
        await deps.audit.record(
          { actor: actorOf(request), action: "license.key_viewed", targetType: "license", targetId: license.id, details: { key_prefix: license.keyPrefix } },
          deps.clock.now(),
        );
        return { id: license.id, license_key: key };
      },
      {
        params: Id,
        response: { 200: t.Object({ id: Int(), license_key: t.String() }), ...errors(404) },
        detail: detail("Reveal a license's full key", "Audited as license.key_viewed."),
      },
    )
    .post(...action("suspend", "Suspend a license", "Only an active license; 409 otherwise."))
    .post(...action("reactivate", "Reactivate a license", "Only a suspended license; 409 otherwise."))
    .post(...action("cancel", "Cancel a license", "Any license not cancelled yet; 409 otherwise."))
    .post(
      "/api/admin/licenses/:id/extend",
      async ({ request, params, body }) => {
        const result = await extendLicense(useCaseDeps, { licenseId: params.id, months: body.months, actor: actorOf(request) });
        return { ...(await detailOf(await found(params.id))), changed: result.changed };
      },
      {
        params: Id,
        body: t.Object({ months: Int({ description: `one of ${EXTENSION_MONTHS.join(", ")}` }) }),
        response: { 200: t.Composite([LicenseDetail, t.Object({ changed: t.Boolean({ description: "false for a lifetime license" }) })]), ...writeErrors(404) },
        detail: detail("Extend a license", "From the later of now and the current expiry; an expired license becomes active again."),
      },
    )
    .post(
      "/api/admin/licenses/:id/plan",
      async ({ request, params, body }) => {
        const result = await changeLicensePlan(useCaseDeps, { licenseId: params.id, planName: body.plan, actor: actorOf(request) });
        return { ...(await detailOf(await found(params.id))), changed: result.changed };
      },
      {
        params: Id,
        body: t.Object({ plan: t.String({ minLength: 1, maxLength: 50 }) }),
        response: { 200: t.Composite([LicenseDetail, t.Object({ changed: t.Boolean() })]), ...writeErrors(404, 409) },
        detail: detail("Move a license to another plan", "409 `limit_reached` when the capped plan is sold out."),
      },
    )
    .delete(
      "/api/admin/licenses/:id",
      async ({ request, params }) => {
        const sites = await deps.sites.activeFor(params.id);
        const license = await deleteLicense(useCaseDeps, { licenseId: params.id, actor: actorOf(request) });
        return { id: license.id, key_prefix: license.keyPrefix, customer_id: license.customerId, deleted: true as const, active_sites: sites.map((s) => s.host) };
      },
      {
        params: Id,
        response: {
          200: t.Object({ id: Int(), key_prefix: t.String(), customer_id: Int(), deleted: t.Literal(true), active_sites: t.Array(t.String()) }),
          ...errors(403, 404),
        },
        detail: detail("Delete a license", "With its site activations and usage."),
      },
    )
    .get(
      "/api/admin/licenses/:id/sites",
      async ({ params }) => {
        const license = await found(params.id);
        const [sites, plan] = await Promise.all([deps.sites.activeFor(license.id), deps.plans.byId(license.planId)]);
        const items = sites.map((s) => ({ host: s.host, exempt: s.exempt, activated_at: s.activatedAt.toISOString() }));
        return { items, active: sites.filter((s) => !s.exempt).length, limit: plan?.limits.maxSites ?? 0 };
      },
      {
        params: Id,
        response: { 200: t.Object({ items: t.Array(Site), active: Int({ description: "seats taken" }), limit: Int() }), ...errors(404) },
        detail: detail("A license's active sites"),
      },
    )
    .delete(
      "/api/admin/licenses/:id/sites/:host",
      async ({ request, params }) => {
        const released = await releaseSite(deps, { licenseId: params.id, host: params.host, actor: actorOf(request) });
        if (!released) notFound(`Active site ${params.host}`);
        return { id: params.id, host: params.host, released: true as const };
      },
      {
        params: t.Object({ id: t.Integer({ minimum: 1 }), host: t.String({ minLength: 1, maxLength: 2048 }) }),
        response: { 200: t.Object({ id: Int(), host: t.String(), released: t.Literal(true) }), ...errors(403, 404) },
        detail: detail("Release a site's seat", "404 when the site is not active on this license."),
      },
    )
    .get(
      "/api/admin/licenses/:id/usage",
      async ({ params, query }) => licenseUsage(deps, (await found(params.id)).id, query),
      { params: Id, query: UsageQuery, response: { 200: UsageReport, ...errors(404) }, detail: detail("Usage of one license", "Same filters and shape as GET /api/admin/usage.") },
    );
}
