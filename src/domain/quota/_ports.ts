/** The QuotaLedger port: atomic reservation and settlement of AI calls against a license's quota. */
import type { AdmissionDecision, QuotaSnapshot } from "./_admission.ts";

/** What to reserve: the license, the instant, the estimated cost and the rule that admits or refuses. */
export interface ReserveInput {
  licenseId: number;
  now: Date;
  /** Estimated cost of the call (0 for BYOK), counted in the month's costEur while the reservation is in flight. */
  estimateEur: number;
  /** Called with the snapshot read inside the adapter's atomic section (usually decideAdmission with the plan's limits). */
  decide: (snapshot: QuotaSnapshot) => AdmissionDecision;
}

/** A call admitted and in flight; settlement counts it in the windows of `admittedAt`. */
export interface QuotaReservation {
  id: number;
  licenseId: number;
  admittedAt: Date;
}

/** The real tokens and cost of a finished call. */
export interface SettledQuota {
  tokens: number;
  costEur: number;
}

/**
 * Port: per-license quota counters in the shared database. The adapter makes `reserve` atomic across
 * concurrent requests and service instances: snapshot, decision and reservation happen as one step.
 */
export interface QuotaLedger {
  reserve(input: ReserveInput): Promise<{ decision: AdmissionDecision; reservation: QuotaReservation | null }>;
  /** Replaces the reservation by the real usage, or releases it (null: the call failed and costs nothing). */
  settle(reservation: QuotaReservation, outcome: SettledQuota | null, now: Date): Promise<void>;
  snapshot(licenseId: number, now: Date): Promise<QuotaSnapshot>;
}
