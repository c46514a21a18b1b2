// Admin API: plans — list (with licenses sold), show, edit (validated as a whole by validatePlan).
import { Elysia, t } from "elysia";
import { DbPlanEditor } from "../../../adapters/db/admin_plan_provider_repos.ts";
import { PROVIDERS, updatePlan, type Plan, type PlanChanges, type ProviderName } from "../../../domain/plans/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, notFound, Paged, PageQuery, slicePage, writeErrors, Int } from "./_shared.ts";

const Limits = t.Object({
  monthly_requests: Int({ description: "0 = unlimited" }),
  requests_per_minute: Int({ description: "0 = unlimited" }),
  requests_per_hour: Int({ description: "0 = unlimited" }),
  monthly_budget_eur: t.Number({ description: "0 = unlimited" }),
  max_sites: Int({ description: "-1 = unlimited" }),
});

const ProviderModels = t.Object(Object.fromEntries(PROVIDERS.map((p) => [p, t.Array(t.String())])));
const ProviderModel = t.Object(Object.fromEntries(PROVIDERS.map((p) => [p, t.String()])));
const Provider = t.Union(PROVIDERS.map((p) => t.Literal(p)));

const PlanJson = t.Object({
  id: Int(),
  name: t.String(),
  display_name: t.String(),
  price_eur: t.Number(),
  billing: t.String(),
  is_lifetime: t.Boolean(),
  lifetime_cap: t.Nullable(Int()),
  sold: Int({ description: "licenses not cancelled (what the lifetime cap counts)" }),
  limits: Limits,
  features: t.Array(t.String()),
  ai_included: t.Boolean(),
  allowed_models: ProviderModels,
  default_models: ProviderModel,
  default_provider: t.String(),
  fallback_provider: t.Nullable(t.String()),
  max_tokens: Int(),
  active: t.Boolean(),
});

const PlanPatch = t.Object(
  {
    display_name: t.Optional(t.String()),
    price_eur: t.Optional(t.Number()),
    lifetime_cap: t.Optional(t.Nullable(Int())),
    limits: t.Optional(t.Partial(Limits)),
    features: t.Optional(t.Array(t.String())),
    ai_included: t.Optional(t.Boolean()),
    allowed_models: t.Optional(t.Partial(ProviderModels)),
    default_models: t.Optional(t.Partial(ProviderModel)),
    default_provider: t.Optional(Provider),
    fallback_provider: t.Optional(t.Nullable(Provider)),
    max_tokens: t.Optional(Int()),
  },
  { additionalProperties: false },
);

/** validatePlan's dotted paths as the API's field names. */
function apiField(path: string): string {
  const map: Record<string, string> = {
    displayName: "display_name",
    priceEur: "price_eur",
    lifetimeCap: "lifetime_cap",
    isLifetime: "lifetime_cap",
    aiIncluded: "ai_included",
    defaultProvider: "default_provider",
    fallbackProvider: "fallback_provider",
    maxTokens: "max_tokens",
    "limits.monthlyRequests": "limits.monthly_requests",
    "limits.requestsPerMinute": "limits.requests_per_minute",
    "limits.requestsPerHour": "limits.requests_per_hour",
    "limits.monthlyBudgetEur": "limits.monthly_budget_eur",
    "limits.maxSites": "limits.max_sites",
  };
  return map[path] ?? path.replace(/^allowedModels/, "allowed_models").replace(/^defaultModels/, "default_models");
}

function planJson(plan: Plan, sold: number) {
  return {
    id: plan.id,
    name: plan.name,
    display_name: plan.displayName,
    price_eur: plan.priceEur,
    billing: plan.billing,
    is_lifetime: plan.isLifetime,
    lifetime_cap: plan.lifetimeCap,
    sold,
    limits: {
      monthly_requests: plan.limits.monthlyRequests,
      requests_per_minute: plan.limits.requestsPerMinute,
      requests_per_hour: plan.limits.requestsPerHour,
      monthly_budget_eur: plan.limits.monthlyBudgetEur,
      max_sites: plan.limits.maxSites,
    },
    features: plan.features,
    ai_included: plan.aiIncluded,
    allowed_models: Object.fromEntries(PROVIDERS.map((p) => [p, plan.allowedModels[p] ?? []])),
    default_models: Object.fromEntries(PROVIDERS.map((p) => [p, plan.defaultModels[p] ?? ""])),
    default_provider: plan.defaultProvider,
    fallback_provider: plan.fallbackProvider,
    max_tokens: plan.maxTokens,
    active: plan.active,
  };
}

function changesOf(plan: Plan, body: typeof PlanPatch.static): PlanChanges {
  const l = body.limits ?? {};
  return {
    displayName: body.display_name ?? plan.displayName,
    priceEur: body.price_eur ?? plan.priceEur,
    lifetimeCap: body.lifetime_cap === undefined ? plan.lifetimeCap : body.lifetime_cap,
    limits: {
      monthlyRequests: l.monthly_requests ?? plan.limits.monthlyRequests,
      requestsPerMinute: l.requests_per_minute ?? plan.limits.requestsPerMinute,
      requestsPerHour: l.requests_per_hour ?? plan.limits.requestsPerHour,
      monthlyBudgetEur: l.monthly_budget_eur ?? plan.limits.monthlyBudgetEur,
      maxSites: l.max_sites ?? plan.limits.maxSites,
    },
    features: body.features ?? plan.features,
    aiIncluded: body.ai_included ?? plan.aiIncluded,
    allowedModels: { ...plan.allowedModels, ...(body.allowed_models as Partial<Record<ProviderName, string[]>>) },
    defaultModels: { ...plan.defaultModels, ...(body.default_models as Partial<Record<ProviderName, string>>) },
    defaultProvider: body.default_provider ?? plan.defaultProvider,
    fallbackProvider: body.fallback_provider === undefined ? plan.fallbackProvider : body.fallback_provider,
    maxTokens: body.max_tokens ?? plan.maxTokens,
  };
}

/** Plans in the admin API. */
export function createPlansApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  // Uncached, like the plans page: an editor must see its own save.
  const planEditor = new DbPlanEditor(deps.db);
  const Id = t.Object({ id: t.Integer({ minimum: 1 }) });

  async function withSold(plan: Plan) {
    return planJson(plan, (await planEditor.soldByPlan()).get(plan.id) ?? 0);
  }

  return new Elysia({ name: "admin-api-plans" })
    .get(
      "/api/admin/plans",
      async ({ query }) => {
        const [plans, sold] = await Promise.all([planEditor.list(), planEditor.soldByPlan()]);
        return slicePage(plans.map((p) => planJson(p, sold.get(p.id) ?? 0)), query);
      },
      { query: t.Object({ ...PageQuery }), response: { 200: Paged(PlanJson), ...errors() }, detail: detail("List plans") },
    )
    .get(
      "/api/admin/plans/:id",
      async ({ params }) => withSold((await planEditor.byId(params.id)) ?? notFound("Plan")),
      { params: Id, response: { 200: PlanJson, ...errors(404) }, detail: detail("Show a plan") },
    )
    .patch(
      "/api/admin/plans/:id",
      async ({ request, params, body }) => {
        const plan = (await planEditor.byId(params.id)) ?? notFound("Plan");
        const result = await updatePlan({ planEditor, audit: deps.audit, clock: deps.clock }, { id: plan.id, changes: changesOf(plan, body), actor: tokenOf(request).actor });
        if (result.kind === "invalid") {
          const fields = result.fields.map(apiField);
          throw new DomainError("invalid_argument", `Invalid plan: ${fields.join(", ")}`, { field: fields[0], fields });
        }
        return { ...(await withSold(result.plan)), changed: result.changed };
      },
      {
        params: Id,
        body: PlanPatch,
        response: { 200: t.Composite([PlanJson, t.Object({ changed: t.Array(t.String()) })]), ...writeErrors(404) },
        detail: detail(
          "Edit a plan",
          "Only the given fields change (limits and model maps merge key by key); the result is validated as a whole, " +
            "422 names the first invalid field and lists all in `fields`. Name, billing and lifetime flag stay as sold. " +
            "Chat and validation see the change within 5 seconds.",
        ),
      },
    );
}
