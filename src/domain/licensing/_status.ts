/** License status rules: effective status, terms and expiry, admin/payment transitions and validation bookkeeping. */
import { DomainError } from "../shared/mod.ts";
import { LICENSE_STATUSES, type License, type LicenseStatus } from "./_types.ts";

/** What an admin or a payment event can do to a license's status. */
export type LicenseAction = "suspend" | "reactivate" | "cancel";

/** How often validation may refresh last_validated_at: validation is a hot read and must not write per call. */
export const VALIDATION_TOUCH_INTERVAL_MS = 60 * 60 * 1000;

// Same-state actions are allowed so retried admin clicks and replayed payment events are harmless.
// Expired licenses must be extended, not reactivated; cancelled is final except for repeating the cancel.
const TRANSITIONS: Record<LicenseStatus, Partial<Record<LicenseAction, LicenseStatus>>> = {
  active: { suspend: "suspended", reactivate: "active", cancel: "cancelled" },
  suspended: { suspend: "suspended", reactivate: "active", cancel: "cancelled" },
  expired: { cancel: "cancelled" },
  cancelled: { cancel: "cancelled" },
};

/** True when the value is a known license status; for narrowing untrusted input. */
export function isLicenseStatus(value: unknown): value is LicenseStatus {
  return typeof value === "string" && (LICENSE_STATUSES as readonly string[]).includes(value);
}

/** The status a license answers with at `now`: past (or exactly at) its expiry it is expired, whatever is stored. */
export function effectiveStatus(license: Pick<License, "status" | "expiresAt">, now: Date): LicenseStatus {
  if (license.expiresAt !== null && now.getTime() >= license.expiresAt.getTime()) return "expired";
  return license.status;
}

/** True when `action` is allowed on a license whose effective status is `from`. */
export function canTransition(from: LicenseStatus, action: LicenseAction): boolean {
  return TRANSITIONS[from]?.[action] !== undefined;
}

/** The status after `action`, judged on the effective status at `now`; throws conflict when not allowed. */
export function applyAction(
  license: Pick<License, "status" | "expiresAt">,
  action: LicenseAction,
  now: Date,
): LicenseStatus {
  const from = effectiveStatus(license, now);
  const to = TRANSITIONS[from]?.[action];
  if (to === undefined) {
    const hint = from === "expired" ? "; extend it instead" : "";
    throw new DomainError("conflict", `Cannot ${action} a license that is ${from}${hint}`, { status: from, action });
  }
  return to;
}

/** True when a validation at `now` should refresh last_validated_at (never set, stale by an hour, or in the future). */
export function shouldTouchValidation(lastValidatedAt: Date | null, now: Date): boolean {
  if (lastValidatedAt === null) return true;
  const elapsed = now.getTime() - lastValidatedAt.getTime();
  // A timestamp ahead of the clock (skew, bad import) would otherwise never be refreshed until time caught up.
  return elapsed >= VALIDATION_TOUCH_INTERVAL_MS || elapsed < 0;
}

const MAX_TERM_MONTHS = 120;

/** How long a license runs: a number of calendar months, or for life. */
export type LicenseTerm = { months: number } | { lifetime: true };

/** `from` moved by whole calendar months in UTC, clamped to the target month's last day, time of day kept. */
export function addCalendarMonths(from: Date, months: number): Date {
  if (!(from instanceof Date) || Number.isNaN(from.getTime())) {
    throw new DomainError("invalid_argument", "Invalid date", { field: "from" });
  }
  if (!Number.isSafeInteger(months)) {
    throw new DomainError("invalid_argument", "Months must be a whole number", { field: "months" });
  }
  const total = from.getUTCFullYear() * 12 + from.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(from.getUTCDate(), daysInMonth(year, month));
  const result = new Date(from.getTime());
  // setUTCFullYear with all three parts avoids both day overflow and Date.UTC's 0..99 → 19xx quirk.
  result.setUTCFullYear(year, month, day);
  // Beyond Date's range (±273,790 years) setUTCFullYear yields an Invalid Date, which must not be stored.
  if (Number.isNaN(result.getTime())) {
    throw new DomainError("invalid_argument", "Date out of range", { field: "months" });
  }
  return result;
}

/** The expiry of a license starting at `from`: null for lifetime; months must be an integer 1..120. */
export function expiryFor(term: LicenseTerm, from: Date): Date | null {
  if ("lifetime" in term && term.lifetime === true) return null;
  const months = (term as { months?: unknown }).months;
  if (!isValidMonths(months)) {
    throw new DomainError("invalid_argument", `Months must be a whole number from 1 to ${MAX_TERM_MONTHS}`, {
      field: "months",
    });
  }
  return addCalendarMonths(from, months);
}

/** A term from loose input with exactly one of `months` / `lifetime: true`; `fallback` applies when neither is given. */
export function parseTerm(input: { months?: unknown; lifetime?: unknown }, fallback?: LicenseTerm): LicenseTerm {
  const { months, lifetime } = input;
  if (lifetime !== undefined && lifetime !== null && typeof lifetime !== "boolean") {
    throw new DomainError("invalid_argument", "Lifetime must be a boolean", { field: "lifetime" });
  }
  const hasMonths = months !== undefined && months !== null;
  const isLifetime = lifetime === true;
  if (hasMonths && isLifetime) {
    throw new DomainError("invalid_argument", "Give either months or lifetime, not both", { field: "months" });
  }
  if (isLifetime) return { lifetime: true };
  if (hasMonths) {
    if (!isValidMonths(months)) {
      throw new DomainError("invalid_argument", `Months must be a whole number from 1 to ${MAX_TERM_MONTHS}`, {
        field: "months",
      });
    }
    return { months };
  }
  if (fallback !== undefined) return fallback;
  throw new DomainError("invalid_argument", "Give either months or lifetime", { field: "months" });
}

/** The term a plan grants when none is given: lifetime plans for life, monthly 1 month, yearly 12 months. */
export function defaultTermFor(plan: { isLifetime: boolean; billing: string }): LicenseTerm {
  if (plan.isLifetime) return { lifetime: true };
  if (plan.billing === "monthly") return { months: 1 };
  if (plan.billing === "yearly") return { months: 12 };
  // A non-lifetime one-time plan has no natural period; guessing one would silently mis-sell it.
  throw new DomainError("invalid_argument", "This plan needs an explicit duration", { field: "months" });
}

function isValidMonths(months: unknown): months is number {
  return Number.isSafeInteger(months) && (months as number) >= 1 && (months as number) <= MAX_TERM_MONTHS;
}

function daysInMonth(year: number, month: number): number {
  const probe = new Date(0);
  probe.setUTCFullYear(year, month + 1, 0);
  return probe.getUTCDate();
}
