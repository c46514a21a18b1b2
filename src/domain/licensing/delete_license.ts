import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import type { LicenseStore } from "./_admin_store.ts";
import type { License, Licenses, SiteActivations } from "./_types.ts";

/** Deletes a license with its site activations and usage (the store cascades), and records what went. */
export async function deleteLicense(
  deps: { licenses: Licenses; sites: SiteActivations; licenseStore: LicenseStore; clock: Clock; audit: AuditLog },
  input: { licenseId: number; actor: Actor },
): Promise<License> {
  const license = await deps.licenses.byId(input.licenseId);
  if (!license) throw new DomainError("not_found", "License not found");
  const sites = await deps.sites.activeFor(license.id);
  const now = deps.clock.now();
  if (!(await deps.licenseStore.remove(license.id))) throw new DomainError("not_found", "License not found");
  await deps.audit.record(
    {
      actor: input.actor,
      action: "license.deleted",
      targetType: "license",
      targetId: license.id,
      details: { key_prefix: license.keyPrefix, customer_id: license.customerId, active_sites: sites.map((s) => s.host) },
    },
    now,
  );
  return license;
}
