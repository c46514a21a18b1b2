import type { Actor, AuditLog } from "../admin/mod.ts";
import type { EventSink } from "../webhooks/mod.ts";
import type { Plan } from "../plans/mod.ts";
import { DomainError, type Clock, type Throttle, type ThrottlePolicy } from "../shared/mod.ts";
import { normalizeSiteHost, seatsUsed } from "./_sites.ts";
import type { License, SiteActivations } from "./_types.ts";

/** Seat changes allowed per license per day: cycling activate/deactivate is how keys get shared. */
export const SITE_CHANGE_POLICY: ThrottlePolicy = { limit: 30, windowMs: 24 * 60 * 60 * 1000 };

/** Outcome of an activation or deactivation request. */
export type SiteChange =
  | { kind: "done"; host: string; changed: boolean; sites: { active: number; limit: number } }
  | { kind: "limit_reached"; limit: number; activeSites: string[] }
  | { kind: "too_many_changes"; resetAt: Date };

type Deps = { sites: SiteActivations; clock: Clock; audit: AuditLog; throttle: Throttle; events?: EventSink };

function hostOf(siteUrl: unknown): string {
  const host = normalizeSiteHost(siteUrl);
  if (!host) throw new DomainError("invalid_argument", "site_url is not a valid site address", { field: "site_url" });
  return host;
}

async function changeBudgetLeft(deps: Deps, license: License): Promise<Date | null> {
  const state = await deps.throttle.peek(`site_change:${license.id}`, deps.clock.now());
  return state && state.hits >= SITE_CHANGE_POLICY.limit ? state.resetAt : null;
}

/** Binds a site to a license within the plan's seats; re-activating an active site is a no-op. */
export async function activateSite(
  deps: Deps,
  input: { license: License; plan: Plan; siteUrl: unknown; actor: Actor },
): Promise<SiteChange> {
  const host = hostOf(input.siteUrl);
  const limit = input.plan.limits.maxSites;
  const existing = await deps.sites.activeFor(input.license.id);
  if (existing.some((s) => s.host === host)) {
    return { kind: "done", host, changed: false, sites: { active: seatsUsed(existing), limit } };
  }
  const blockedUntil = await changeBudgetLeft(deps, input.license);
  if (blockedUntil) return { kind: "too_many_changes", resetAt: blockedUntil };
  const now = deps.clock.now();
  const result = await deps.sites.activate(input.license.id, host, limit, now);
  if (result.kind === "limit_reached") return result;
  const changed = result.kind === "activated";
  if (changed) {
    await deps.throttle.hit(`site_change:${input.license.id}`, SITE_CHANGE_POLICY.windowMs, now);
    await deps.audit.record(
      { actor: input.actor, action: "site.activated", targetType: "license", targetId: input.license.id, details: { site: host } },
      now,
    );
    await deps.events?.emit("license.activated", { license_id: input.license.id, key_prefix: input.license.keyPrefix, site: host }, now);
  }
  return { kind: "done", host, changed, sites: { active: seatsUsed(result.sites), limit } };
}

/** Releases a site's seat; releasing a site that is not active changes nothing (the plugin may retry). */
export async function deactivateSite(
  deps: Deps,
  input: { license: License; plan: Plan; siteUrl: unknown; actor: Actor },
): Promise<SiteChange> {
  const host = hostOf(input.siteUrl);
  const now = deps.clock.now();
  const released = await deps.sites.deactivate(input.license.id, host, now);
  if (released) {
    await deps.throttle.hit(`site_change:${input.license.id}`, SITE_CHANGE_POLICY.windowMs, now);
    await deps.audit.record(
      { actor: input.actor, action: "site.deactivated", targetType: "license", targetId: input.license.id, details: { site: host } },
      now,
    );
  }
  const sites = await deps.sites.activeFor(input.license.id);
  return { kind: "done", host, changed: released, sites: { active: seatsUsed(sites), limit: input.plan.limits.maxSites } };
}
