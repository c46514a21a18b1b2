import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { normalizeSiteHost } from "./_sites.ts";
import type { Licenses, SiteActivations } from "./_types.ts";

/** An admin frees a site's seat; unlike the plugin's deactivation it does not count against the daily change budget. */
export async function releaseSite(
  deps: { licenses: Licenses; sites: SiteActivations; clock: Clock; audit: AuditLog },
  input: { licenseId: number; host: string; actor: Actor },
): Promise<boolean> {
  const license = await deps.licenses.byId(input.licenseId);
  if (!license) throw new DomainError("not_found", "License not found");
  const host = normalizeSiteHost(input.host);
  if (!host) throw new DomainError("invalid_argument", "Not a site address", { field: "host" });
  const now = deps.clock.now();
  const released = await deps.sites.deactivate(license.id, host, now);
  if (released) {
    await deps.audit.record(
      { actor: input.actor, action: "site.released", targetType: "license", targetId: license.id, details: { site: host } },
      now,
    );
  }
  return released;
}
