/** Public face of the plans module: plan shapes, the seeded catalogue, limit rules and the Plans port. */
export { BILLING_KINDS, PROVIDERS } from "./_types.ts";
export type { BillingKind, NewPlan, Plan, PlanLimits, Plans, ProviderName } from "./_types.ts";
export { DEFAULT_PLANS } from "./_default_plans.ts";
export { hasUnlimitedSites, isProviderName, isUnlimited, validatePlan } from "./_rules.ts";
export { MAX_DISPLAY_NAME_LENGTH, updatePlan, type PlanChanges, type PlanEditor, type PlanUpdate } from "./update_plan.ts";
