/** Public face of the licensing module: keys, statuses, terms, site seats and the Licenses/SiteActivations ports. */
export { LICENSE_STATUSES } from "./_types.ts";
export type {
  ActivationResult,
  License,
  Licenses,
  LicenseStatus,
  SiteActivation,
  SiteActivations,
  ValidationReads,
} from "./_types.ts";
export { generateLicenseKey, licenseKeyDigest, licenseKeyPrefix, parseLicenseKey } from "./_key.ts";
export {
  addCalendarMonths,
  applyAction,
  canTransition,
  defaultTermFor,
  effectiveStatus,
  expiryFor,
  isLicenseStatus,
  parseTerm,
  shouldTouchValidation,
  VALIDATION_TOUCH_INTERVAL_MS,
} from "./_status.ts";
export type { LicenseAction, LicenseTerm } from "./_status.ts";
export { decideActivation, isExemptHost, normalizeSiteHost, seatsUsed, siteStateForValidation } from "./_sites.ts";
export { authenticateLicense, type Authentication } from "./authenticate_license.ts";
export { validateLicense, type Validation, type ValidLicense } from "./validate_license.ts";
export { activateSite, deactivateSite, SITE_CHANGE_POLICY, type SiteChange } from "./activate_site.ts";
export { issueLicense, type IssuedLicense } from "./issue_license.ts";
export { changeLicenseStatus } from "./change_license_status.ts";
export { EXTENSION_MONTHS, extendedExpiry, type LicenseStore } from "./_admin_store.ts";
export { extendLicense } from "./extend_license.ts";
export { changeLicensePlan } from "./change_license_plan.ts";
export { deleteLicense } from "./delete_license.ts";
export { releaseSite } from "./release_site.ts";
export { BULK_IMPORT_COLUMNS, BULK_IMPORT_MAX_BYTES, BULK_IMPORT_MAX_ROWS, csvCell, csvLine, parseCsv, planBulkImport, type BulkImportPlan, type BulkImportRow, type BulkRowError } from "./bulk_import.ts";
