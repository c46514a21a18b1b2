/** Pure rules about plans: what "unlimited" means and what makes a plan well-formed. */
import { BILLING_KINDS, PROVIDERS, type NewPlan, type PlanLimits, type ProviderName } from "./_types.ts";

// Plan names travel in API answers, payment mappings and admin URLs, so they stay slug-shaped.
const PLAN_NAME = /^[a-z][a-z0-9_-]{0,49}$/;

/** True when a request/budget limit means "no limit" (0; negatives are treated the same, never as "none allowed"). */
export function isUnlimited(limit: number): boolean {
  return limit <= 0;
}

/** True when the plan puts no cap on activated sites (-1, and 0 by the same "0 = unlimited" convention). */
export function hasUnlimitedSites(plan: { limits: Pick<PlanLimits, "maxSites"> }): boolean {
  return plan.limits.maxSites <= 0;
}

/** True when the value names a known provider; for narrowing untrusted input. */
export function isProviderName(value: unknown): value is ProviderName {
  return typeof value === "string" && (PROVIDERS as readonly string[]).includes(value);
}

/** Names (dotted paths) of the fields of a plan that break its invariants; empty when the plan is valid. */
export function validatePlan(plan: NewPlan): string[] {
  // Admin forms feed this, so it checks runtime shapes rather than trusting the static type.
  const p = plan as unknown as Record<string, unknown>;
  const invalid: string[] = [];
  const bad = (field: string) => invalid.push(field);

  if (typeof p.name !== "string" || !PLAN_NAME.test(p.name)) bad("name");
  if (typeof p.displayName !== "string" || p.displayName.trim() === "") bad("displayName");
  if (!isNonNegativeNumber(p.priceEur)) bad("priceEur");
  if (!(BILLING_KINDS as readonly unknown[]).includes(p.billing)) bad("billing");
  // A lifetime plan is bought once; a lifetime subscription would renew forever for nothing.
  if (typeof p.isLifetime !== "boolean" || (p.isLifetime && p.billing !== "one_time")) bad("isLifetime");
  if (p.lifetimeCap !== null && !isPositiveInteger(p.lifetimeCap)) bad("lifetimeCap");

  const limits = isRecord(p.limits) ? p.limits : null;
  if (limits === null) {
    bad("limits");
  } else {
    for (const key of ["monthlyRequests", "requestsPerMinute", "requestsPerHour"]) {
      if (!isNonNegativeInteger(limits[key])) bad(`limits.${key}`);
    }
    if (!isNonNegativeNumber(limits.monthlyBudgetEur)) bad("limits.monthlyBudgetEur");
    if (!Number.isInteger(limits.maxSites) || (limits.maxSites as number) < -1) bad("limits.maxSites");
  }

  if (
    !Array.isArray(p.features) ||
    !p.features.every((f) => typeof f === "string" && f.trim() !== "") ||
    new Set(p.features).size !== p.features.length
  ) {
    bad("features");
  }
  if (typeof p.aiIncluded !== "boolean") bad("aiIncluded");

  const allowed = isRecord(p.allowedModels) ? p.allowedModels : null;
  if (allowed === null || Object.keys(allowed).some((k) => !isProviderName(k))) bad("allowedModels");
  const allowedFor = (provider: ProviderName): string[] | null => {
    const list = allowed?.[provider];
    return Array.isArray(list) && list.every((m) => typeof m === "string" && m.trim() !== "") ? list : null;
  };
  if (allowed !== null) {
    for (const provider of PROVIDERS) if (allowedFor(provider) === null) bad(`allowedModels.${provider}`);
  }

  // The default provider must be callable, otherwise a request without a provider has nowhere to go.
  if (!isProviderName(p.defaultProvider) || (allowedFor(p.defaultProvider)?.length ?? 0) === 0) {
    bad("defaultProvider");
  }
  if (
    p.fallbackProvider !== null &&
    (!isProviderName(p.fallbackProvider) || p.fallbackProvider === p.defaultProvider || (allowedFor(p.fallbackProvider)?.length ?? 0) === 0)
  ) {
    bad("fallbackProvider");
  }

  const defaults = isRecord(p.defaultModels) ? p.defaultModels : null;
  if (defaults === null || Object.keys(defaults).some((k) => !isProviderName(k))) bad("defaultModels");
  if (defaults !== null) {
    for (const provider of PROVIDERS) {
      const list = allowedFor(provider);
      const model = defaults[provider];
      // A provider with an empty allow-list is switched off, so its default model is never used.
      if (list !== null && list.length > 0 && (typeof model !== "string" || !list.includes(model))) {
        bad(`defaultModels.${provider}`);
      }
    }
  }

  if (!isPositiveInteger(p.maxTokens)) bad("maxTokens");
  if (typeof p.active !== "boolean") bad("active");
  return invalid;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeNumber(value: unknown): boolean {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function isNonNegativeInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPositiveInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}
