/** Admin-side license rules: extension terms and the store for expiry, plan and deletion changes. */
import { DomainError } from "../shared/mod.ts";
import { addCalendarMonths } from "./_status.ts";
import type { LicenseStatus } from "./_types.ts";

/** Port: admin writes to licenses; `setPlan` with `cap` counts the plan's non-cancelled licenses under a lock. */
export interface LicenseStore {
  setTerm(id: number, expiresAt: Date | null, status: LicenseStatus, now: Date): Promise<void>;
  /** Throws limit_reached (field "plan") when the capped plan is sold out. */
  setPlan(id: number, planId: number, now: Date, cap: { planId: number; max: number } | null): Promise<void>;
  remove(id: number): Promise<boolean>;
}

/** The extensions an admin can grant, in months. */
export const EXTENSION_MONTHS: readonly number[] = Object.freeze([1, 3, 6, 12, 24]);

/**
 * The expiry after extending by `months`: counted from the later of now and the current expiry, so an
 * expired license gets a full term from today; a lifetime license (null) stays lifetime.
 */
export function extendedExpiry(current: Date | null, now: Date, months: number): Date | null {
  if (!EXTENSION_MONTHS.includes(months)) {
    throw new DomainError("invalid_argument", `Extend by ${EXTENSION_MONTHS.join(", ")} months`, { field: "months" });
  }
  if (current === null) return null;
  const from = current.getTime() > now.getTime() ? current : now;
  return addCalendarMonths(from, months);
}
