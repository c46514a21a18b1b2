/** Public face of the quota module: UTC windows, the admission decision, its error bodies, usage reports and the QuotaLedger port. */
export { windowEnd, windowStart, type QuotaWindow } from "./_windows.ts";
export { ADMISSION_REASONS, admissionError, decideAdmission, retryAfterSeconds } from "./_admission.ts";
export type { AdmissionDecision, AdmissionDenial, AdmissionReason, QuotaSnapshot, WindowCount } from "./_admission.ts";
export { BUDGET_WARNING, limitsStatus, REQUESTS_WARNING, usagePercentages, usageWarnings } from "./_report.ts";
export type { BudgetLimitStatus, LimitsCheck, RequestLimitStatus, UsagePercentages } from "./_report.ts";
export type { QuotaLedger, QuotaReservation, ReserveInput, SettledQuota } from "./_ports.ts";
