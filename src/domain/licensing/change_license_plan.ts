import type { Actor, AuditLog } from "../admin/mod.ts";
import type { Plans } from "../plans/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import type { LicenseStore } from "./_admin_store.ts";
import type { License, Licenses } from "./_types.ts";

/** Moves a license to another offered plan; a capped (lifetime) plan's cap holds here as at issuing. */
export async function changeLicensePlan(
  deps: { licenses: Licenses; plans: Plans; licenseStore: LicenseStore; clock: Clock; audit: AuditLog },
  input: { licenseId: number; planName: string; actor: Actor },
): Promise<{ license: License; changed: boolean }> {
  const license = await deps.licenses.byId(input.licenseId);
  if (!license) throw new DomainError("not_found", "License not found");
  const plan = await deps.plans.byName(input.planName);
  if (!plan || !plan.active) throw new DomainError("invalid_argument", "Choose an offered plan", { field: "plan" });
  if (plan.id === license.planId) return { license, changed: false };
  const now = deps.clock.now();
  await deps.licenseStore.setPlan(license.id, plan.id, now, plan.lifetimeCap != null ? { planId: plan.id, max: plan.lifetimeCap } : null);
  const previous = await deps.plans.byId(license.planId);
  await deps.audit.record(
    { actor: input.actor, action: "license.plan_changed", targetType: "license", targetId: license.id, details: { from: previous?.name ?? license.planId, to: plan.name } },
    now,
  );
  return { license: { ...license, planId: plan.id, updatedAt: now }, changed: true };
}
