import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { extendedExpiry, type LicenseStore } from "./_admin_store.ts";
import type { License, Licenses } from "./_types.ts";

/** Extends a license by whole months; an expired license becomes active again, a lifetime one is left alone. */
export async function extendLicense(
  deps: { licenses: Licenses; licenseStore: LicenseStore; clock: Clock; audit: AuditLog },
  input: { licenseId: number; months: number; actor: Actor },
): Promise<{ license: License; changed: boolean }> {
  const license = await deps.licenses.byId(input.licenseId);
  if (!license) throw new DomainError("not_found", "License not found");
  const now = deps.clock.now();
  const expiresAt = extendedExpiry(license.expiresAt, now, input.months);
  if (expiresAt === null) return { license, changed: false };
  // Only the stored "expired" status is lifted: suspended and cancelled licenses keep their admin decision.
  const status = license.status === "expired" ? "active" : license.status;
  await deps.licenseStore.setTerm(license.id, expiresAt, status, now);
  await deps.audit.record(
    {
      actor: input.actor,
      action: "license.extended",
      targetType: "license",
      targetId: license.id,
      details: { months: input.months, from: license.expiresAt?.toISOString() ?? null, to: expiresAt.toISOString(), status },
    },
    now,
  );
  return { license: { ...license, expiresAt, status, updatedAt: now }, changed: true };
}
