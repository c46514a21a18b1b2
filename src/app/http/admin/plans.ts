// Plans pages: edit prices, limits, features, allow-lists.
import { Elysia } from "elysia";
import { DbPlanEditor } from "../../../adapters/db/admin_plan_provider_repos.ts";
import { PROVIDERS, updatePlan, type Plan, type PlanChanges, type ProviderName } from "../../../domain/plans/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import planEditTemplate from "../../../../templates/plan_edit.html" with { type: "text" };
import plansTemplate from "../../../../templates/plans.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { field, html, page, redirect, templateText } from "./render.ts";

type Form = Record<string, string>;

const BILLING_LABELS: Record<Plan["billing"], string> = { monthly: "Monthly subscription", yearly: "Yearly subscription", one_time: "One-time purchase" };

/** validatePlan's dotted paths → the form field that shows the error, and what to tell the admin. */
const FIELD_ERRORS: Record<string, [string, string]> = {
  displayName: ["display_name", "Give a display name of at most 100 characters."],
  priceEur: ["price_eur", "Give a price of 0 or more, e.g. 7.99."],
  lifetimeCap: ["lifetime_cap", "Give a whole number of 1 or more, or leave empty for no cap."],
  isLifetime: ["form", "A lifetime plan must be a one-time purchase."],
  "limits.monthlyRequests": ["monthly_requests", "Give a whole number of 0 or more (0 = unlimited)."],
  "limits.requestsPerMinute": ["requests_per_minute", "Give a whole number of 0 or more (0 = unlimited)."],
  "limits.requestsPerHour": ["requests_per_hour", "Give a whole number of 0 or more (0 = unlimited)."],
  "limits.monthlyBudgetEur": ["monthly_budget_eur", "Give an amount of 0 or more (0 = unlimited)."],
  "limits.maxSites": ["max_sites", "Give a whole number of -1 (unlimited) or more."],
  features: ["features", "List features separated by commas, each once."],
  aiIncluded: ["ai_included", "Tick or untick AI included."],
  defaultProvider: ["default_provider", "Pick a provider whose allow-list is not empty."],
  fallbackProvider: ["fallback_provider", "Pick none, or a provider other than the default whose allow-list is not empty."],
  maxTokens: ["max_tokens", "Give a whole number of 1 or more."],
};

/** A number typed into the form; empty or malformed text becomes NaN so validatePlan names the field. */
function numberOf(text: string): number {
  return text === "" ? Number.NaN : Number(text);
}

function listOf(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The form's text fields, as posted or as the stored plan shows them. */
function formOf(plan: Plan): Form {
  const form: Form = {
    display_name: plan.displayName,
    price_eur: String(plan.priceEur),
    lifetime_cap: plan.lifetimeCap === null ? "" : String(plan.lifetimeCap),
    monthly_requests: String(plan.limits.monthlyRequests),
    requests_per_minute: String(plan.limits.requestsPerMinute),
    requests_per_hour: String(plan.limits.requestsPerHour),
    monthly_budget_eur: String(plan.limits.monthlyBudgetEur),
    max_sites: String(plan.limits.maxSites),
    max_tokens: String(plan.maxTokens),
    features: plan.features.join(", "),
    ai_included: plan.aiIncluded ? "yes" : "",
    default_provider: plan.defaultProvider,
    fallback_provider: plan.fallbackProvider ?? "none",
  };
  for (const p of PROVIDERS) {
    form[`allowed_models_${p}`] = (plan.allowedModels[p] ?? []).join(", ");
    form[`default_model_${p}`] = plan.defaultModels[p] ?? "";
  }
  return form;
}

function postedForm(body: unknown): Form {
  const names = [
    "display_name", "price_eur", "lifetime_cap", "monthly_requests", "requests_per_minute", "requests_per_hour",
    "monthly_budget_eur", "max_sites", "max_tokens", "features", "ai_included", "default_provider", "fallback_provider",
    ...PROVIDERS.flatMap((p) => [`allowed_models_${p}`, `default_model_${p}`]),
  ];
  return Object.fromEntries(names.map((n) => [n, field(body, n)]));
}

/** Parses the posted form; a provider name that is not one of ours is passed through for validatePlan to refuse. */
function changesOf(form: Form): PlanChanges {
  const models = (prefix: string) => Object.fromEntries(PROVIDERS.map((p) => [p, prefix === "allowed" ? listOf(form[`allowed_models_${p}`]) : form[`default_model_${p}`]]));
  const fallback = form.fallback_provider;
  return {
    displayName: form.display_name,
    priceEur: numberOf(form.price_eur),
    lifetimeCap: form.lifetime_cap === "" ? null : numberOf(form.lifetime_cap),
    limits: {
      monthlyRequests: numberOf(form.monthly_requests),
      requestsPerMinute: numberOf(form.requests_per_minute),
      requestsPerHour: numberOf(form.requests_per_hour),
      monthlyBudgetEur: numberOf(form.monthly_budget_eur),
      maxSites: numberOf(form.max_sites),
    },
    features: listOf(form.features),
    aiIncluded: form.ai_included !== "",
    allowedModels: models("allowed") as Record<ProviderName, string[]>,
    defaultModels: models("default") as Record<ProviderName, string>,
    defaultProvider: form.default_provider as ProviderName,
    fallbackProvider: fallback === "" || fallback === "none" ? null : (fallback as ProviderName),
    maxTokens: numberOf(form.max_tokens),
  };
}

/** Field errors keyed by form field (per-provider ones by allowed_/default_ + provider). */
function errorsOf(fields: string[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const path of fields) {
    const allowed = /^allowedModels\.(\w+)$/.exec(path);
    const fallbackDefault = /^defaultModels\.(\w+)$/.exec(path);
    if (allowed) errors[`allowed_${allowed[1]}`] = "List model names separated by commas.";
    else if (fallbackDefault) errors[`default_${fallbackDefault[1]}`] = "Pick one of this provider's allowed models.";
    else if (FIELD_ERRORS[path]) errors[FIELD_ERRORS[path][0]] = FIELD_ERRORS[path][1];
    else errors.form = "Some values are not valid.";
  }
  return errors;
}

function editView(plan: Plan, form: Form, errors: Record<string, string>) {
  const options = (selected: string, withNone: boolean) => [
    ...(withNone ? [{ value: "none", label: "none", selected: selected === "none" }] : []),
    ...PROVIDERS.map((p) => ({ value: p, label: p, selected: selected === p })),
  ];
  return {
    plan: { ...plan, billingLabel: BILLING_LABELS[plan.billing] + (plan.isLifetime ? " (lifetime)" : "") },
    errors,
    form: {
      ...form,
      ai_included: form.ai_included !== "",
      providers: PROVIDERS.map((p) => ({
        provider: p,
        allowed: form[`allowed_models_${p}`],
        defaultModel: form[`default_model_${p}`],
        allowedError: errors[`allowed_${p}`] ?? null,
        defaultError: errors[`default_${p}`] ?? null,
      })),
      defaultOptions: options(form.default_provider, false),
      fallbackOptions: options(form.fallback_provider || "none", true),
    },
  };
}

function listRow(plan: Plan, sold: number) {
  const unlimited = (n: number) => (n <= 0 ? "unlimited" : String(n));
  return {
    id: plan.id,
    name: plan.name,
    displayName: plan.displayName,
    active: plan.active,
    price: plan.priceEur.toFixed(2),
    billing: BILLING_LABELS[plan.billing],
    monthlyRequests: unlimited(plan.limits.monthlyRequests),
    requestsPerMinute: unlimited(plan.limits.requestsPerMinute),
    requestsPerHour: unlimited(plan.limits.requestsPerHour),
    budget: plan.limits.monthlyBudgetEur <= 0 ? "unlimited" : `€${plan.limits.monthlyBudgetEur.toFixed(2)}`,
    maxSites: plan.limits.maxSites <= 0 ? "unlimited" : String(plan.limits.maxSites),
    cap: plan.lifetimeCap,
    sold,
    left: plan.lifetimeCap === null ? null : Math.max(0, plan.lifetimeCap - sold),
    defaultProvider: plan.defaultProvider,
    fallbackProvider: plan.fallbackProvider,
  };
}

/** Plans pages: edit prices, limits, features, allow-lists. */
export function createPlanRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const listTemplate = templateText(plansTemplate);
  const editTemplate = templateText(planEditTemplate);
  // Uncached: the service's MikroPlans keeps plans 5 s, and an editor must see what it just saved.
  const planEditor = new DbPlanEditor(deps.db);
  const notFound = () => html("<p>No such plan.</p>", 404);
  const idOf = (raw: string) => (/^\d{1,9}$/.test(raw) ? Number(raw) : null);

  return new Elysia({ name: "admin-plans" })
    .get("/admin/plans", async ({ request, query }) => {
      const [plans, sold] = await Promise.all([planEditor.list(), planEditor.soldByPlan()]);
      const updated = plans.find((p) => String(p.id) === String(query.updated ?? ""));
      const flash = updated ? { kind: "ok", message: `Plan ${updated.name} saved. Limits take effect within 5 seconds.` } : null;
      const view = { plans: plans.map((p) => listRow(p, sold.get(p.id) ?? 0)) };
      return html(page(listTemplate, view, { title: "Plans", section: "plans", caller: adminOf(request), flash }));
    })
    .get("/admin/plans/:id", async ({ request, params }) => {
      const id = idOf(params.id);
      const plan = id === null ? null : await planEditor.byId(id);
      if (!plan) return notFound();
      return html(page(editTemplate, editView(plan, formOf(plan), {}), { title: `Plan ${plan.name}`, section: "plans", caller: adminOf(request) }));
    })
    .post("/admin/plans/:id", async ({ request, params, body }) => {
      const caller = adminOf(request);
      const id = idOf(params.id);
      const plan = id === null ? null : await planEditor.byId(id);
      if (!plan) return notFound();
      const form = postedForm(body);
      try {
        const result = await updatePlan({ planEditor, audit: deps.audit, clock: deps.clock }, { id: plan.id, changes: changesOf(form), actor: caller.actor });
        if (result.kind === "updated") return redirect(request, `/admin/plans?updated=${plan.id}`);
        const view = editView(plan, form, errorsOf(result.fields));
        const flash = { kind: "error", message: "The plan was not saved: correct the marked fields." };
        return html(page(editTemplate, view, { title: `Plan ${plan.name}`, section: "plans", caller, flash }), 422);
      } catch (error) {
        if (error instanceof DomainError && error.code === "not_found") return notFound();
        throw error;
      }
    });
}

