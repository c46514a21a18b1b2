/** Types and ports of the licensing module; re-exported by mod.ts. */
import type { MonthUsage } from "../usage/mod.ts";

/** Stored status of a license; a license past its expiry answers as "expired" whatever is stored. */
export type LicenseStatus = "active" | "suspended" | "expired" | "cancelled";

/** Every license status, for validating untrusted input. */
export const LICENSE_STATUSES: readonly LicenseStatus[] = Object.freeze(["active", "suspended", "expired", "cancelled"]);

/** A license as stored; the key itself is only kept as a digest (lookups) and a sealed copy (admin display). */
export interface License {
  id: number;
  keyDigest: string;
  keySealed: string;
  keyPrefix: string;
  customerId: number;
  planId: number;
  status: LicenseStatus;
  domain: string | null;
  expiresAt: Date | null;
  activatedAt: Date | null;
  lastValidatedAt: Date | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** An active binding of a site host to a license; exempt (local/staging) sites take no seat. */
export interface SiteActivation {
  id: number;
  licenseId: number;
  host: string;
  exempt: boolean;
  activatedAt: Date;
}

/** What activating a site did; `sites` are the license's active sites afterwards. */
export type ActivationResult =
  | { kind: "already_active" | "activated"; sites: SiteActivation[] }
  | { kind: "limit_reached"; limit: number; activeSites: string[] };

/** Port: license storage, looked up by key digest, never by the key itself. */
export interface Licenses {
  byDigest(digest: string): Promise<License | null>;
  /**
   * Optional: the license of `digest` together with what validating it reads (its active sites, its usage in
   * the month starting at `monthStart`), in one round trip to the database instead of three.
   */
  byDigestForValidation?(digest: string, monthStart: Date): Promise<{ license: License; reads: ValidationReads } | null>;
  byId(id: number): Promise<License | null>;
  /** With `cap`, counts the plan's non-cancelled licenses under a lock and throws limit_reached at `max` (lifetime deals). */
  insert(data: Omit<License, "id">, cap?: { planId: number; max: number } | null): Promise<License>;
  updateStatus(id: number, status: LicenseStatus, now: Date): Promise<void>;
  touchValidated(id: number, now: Date): Promise<void>;
  list(options: {
    offset: number;
    limit: number;
    status?: LicenseStatus;
    planId?: number;
    search?: string;
  }): Promise<{ items: License[]; total: number }>;
}

/** What validating a license reads besides the license itself, read with it when the store can. */
export interface ValidationReads {
  sites: SiteActivation[];
  usage: MonthUsage;
  /** The month `usage` covers. */
  monthStart: Date;
}

/** Port: site activations; `activate` runs decideActivation inside a locked transaction so seats cannot be oversold. */
export interface SiteActivations {
  activeFor(licenseId: number): Promise<SiteActivation[]>;
  activate(licenseId: number, host: string, maxSites: number, now: Date): Promise<ActivationResult>;
  deactivate(licenseId: number, host: string, now: Date): Promise<boolean>;
}
