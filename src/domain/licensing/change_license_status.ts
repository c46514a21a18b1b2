import type { Actor, AuditLog } from "../admin/mod.ts";
import type { EventSink } from "../webhooks/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { licenseKeyDigest, parseLicenseKey } from "./_key.ts";
import { applyAction, type LicenseAction } from "./_status.ts";
import type { License, Licenses } from "./_types.ts";

/** Suspends, reactivates or cancels the license with this key, and records who did it. */
export async function changeLicenseStatus(
  deps: { licenses: Licenses; clock: Clock; audit: AuditLog; events?: EventSink },
  input: { key: string; action: LicenseAction; actor: Actor },
): Promise<License> {
  const key = parseLicenseKey(input.key);
  const license = key ? await deps.licenses.byDigest(await licenseKeyDigest(key)) : null;
  if (!license) throw new DomainError("not_found", "No license with that key");
  const now = deps.clock.now();
  const status = applyAction(license, input.action, now);
  await deps.licenses.updateStatus(license.id, status, now);
  const action = { suspend: "license.suspended", reactivate: "license.reactivated", cancel: "license.cancelled" }[input.action];
  await deps.audit.record(
    { actor: input.actor, action, targetType: "license", targetId: license.id, details: { from: license.status, to: status } },
    now,
  );
  if (status !== license.status && (status === "suspended" || status === "cancelled")) {
    await deps.events?.emit(`license.${status}`, { license_id: license.id, key_prefix: license.keyPrefix, customer_id: license.customerId, from: license.status }, now);
  }
  return { ...license, status, updatedAt: now };
}
