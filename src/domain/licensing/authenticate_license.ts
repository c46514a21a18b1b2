import type { Plan, Plans } from "../plans/mod.ts";
import type { Clock } from "../shared/mod.ts";
import { licenseKeyDigest, parseLicenseKey } from "./_key.ts";
import { effectiveStatus } from "./_status.ts";
import type { License, Licenses, LicenseStatus, ValidationReads } from "./_types.ts";

/** The answer to "who is calling with this key": a usable license with its plan, or why not. */
export type Authentication =
  | { kind: "missing" }
  | { kind: "invalid" }
  | { kind: "inactive"; status: LicenseStatus }
  | { kind: "expired"; expiresAt: Date }
  | { kind: "ok"; license: License; plan: Plan; validationReads?: ValidationReads };

/**
 * Resolves a raw `X-License-Key` value: malformed keys are refused before any database read. `digestKey`
 * may supply a faster implementation of `licenseKeyDigest` for normalised keys (it must give the same digest).
 * With `validationMonth` (a validation is coming), a store that can reads the license's sites and that
 * month's usage with the license, and an "ok" answer carries them for validateLicense.
 */
export async function authenticateLicense(
  deps: { licenses: Licenses; plans: Plans; clock: Clock; digestKey?: (normalizedKey: string) => string },
  rawKey: unknown,
  options: { validationMonth?: Date } = {},
): Promise<Authentication> {
  if (rawKey == null || (typeof rawKey === "string" && rawKey.trim() === "")) return { kind: "missing" };
  const key = parseLicenseKey(rawKey);
  if (!key) return { kind: "invalid" };
  const digest = deps.digestKey ? deps.digestKey(key) : await licenseKeyDigest(key);
  let license: License | null;
  let validationReads: ValidationReads | undefined;
  if (options.validationMonth && deps.licenses.byDigestForValidation) {
    const found = await deps.licenses.byDigestForValidation(digest, options.validationMonth);
    license = found?.license ?? null;
    validationReads = found?.reads;
  } else {
    license = await deps.licenses.byDigest(digest);
  }
  if (!license) return { kind: "invalid" };
  const status = effectiveStatus(license, deps.clock.now());
  if (status === "expired") return { kind: "expired", expiresAt: license.expiresAt ?? deps.clock.now() };
  if (status !== "active") return { kind: "inactive", status };
  const plan = await deps.plans.byId(license.planId);
  if (!plan) return { kind: "invalid" };
  return { kind: "ok", license, plan, validationReads };
}
