import type { Plan } from "../plans/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { monthStart, type MonthUsage, type UsageLedger } from "../usage/mod.ts";
import { normalizeSiteHost, seatsUsed, siteStateForValidation } from "./_sites.ts";
import { shouldTouchValidation } from "./_status.ts";
import type { License, Licenses, SiteActivations, ValidationReads } from "./_types.ts";

/** What a successful validation reports to the plugin. */
export interface ValidLicense {
  license: License;
  plan: Plan;
  usage: MonthUsage;
  sites: { active: number; limit: number };
  /** Present only when the caller named its site. */
  site: { host: string; active: boolean } | null;
}

/** Outcome of validating an authenticated license for an optional site. */
export type Validation = { kind: "valid"; result: ValidLicense } | { kind: "site_not_activated"; host: string };

/**
 * Validates an authenticated active license: reads seats and this month's usage (or takes them from
 * `prefetched`, read with the license by authenticateLicense, when they cover this month), never activates a
 * site, and writes at most one `last_validated_at` refresh per license per hour (validation is the hot path).
 */
export async function validateLicense(
  deps: { licenses: Licenses; sites: SiteActivations; usage: UsageLedger; clock: Clock },
  input: { license: License; plan: Plan; siteUrl?: unknown; prefetched?: ValidationReads },
): Promise<Validation> {
  const { license, plan } = input;
  const now = deps.clock.now();
  let host: string | null = null;
  if (input.siteUrl != null && input.siteUrl !== "") {
    host = normalizeSiteHost(input.siteUrl);
    if (!host) throw new DomainError("invalid_argument", "site_url is not a valid site address", { field: "site_url" });
  }
  const month = monthStart(now);
  const prefetched = input.prefetched?.monthStart.getTime() === month.getTime() ? input.prefetched : null;
  const [sites, usage] = prefetched
    ? [prefetched.sites, prefetched.usage]
    : await Promise.all([deps.sites.activeFor(license.id), deps.usage.monthToDate(license.id, month)]);
  let site: ValidLicense["site"] = null;
  if (host) {
    const state = siteStateForValidation({ host, sites, maxSites: plan.limits.maxSites });
    if (state === "not_activated") return { kind: "site_not_activated", host };
    site = { host, active: state === "active" };
  }
  if (shouldTouchValidation(license.lastValidatedAt, now)) await deps.licenses.touchValidated(license.id, now);
  return {
    kind: "valid",
    result: { license, plan, usage, sites: { active: seatsUsed(sites), limit: plan.limits.maxSites }, site },
  };
}
