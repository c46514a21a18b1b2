/** Revenue figures from real plan prices and license counts. */
import type { PlanLicenseCounts, RevenueFigures } from "./_types.ts";

/** The monthly recurring value of one license on a plan: monthly price, yearly price / 12, 0 for one-time. */
export function monthlyValueEur(priceEur: number, billing: string): number {
  if (billing === "monthly") return priceEur;
  if (billing === "yearly") return priceEur / 12;
  return 0;
}

function cents(eur: number): number {
  return Math.round(eur * 100);
}

/**
 * MRR from active recurring licenses (monthly price × count, yearly price / 12 × count), ARR = 12 × MRR
 * (taken before rounding MRR to cents, so a yearly plan's ARR is its yearly price), one-time revenue as the
 * price of every non-cancelled one-time license, and lifetime deals sold (non-cancelled) and left (cap − sold).
 */
export function revenueFigures(plans: readonly PlanLicenseCounts[]): RevenueFigures {
  // Integer cents (fractional only for yearly / 12) keep sums free of binary rounding drift.
  let mrrCents = 0;
  let oneTimeCents = 0;
  let lifetimeSold = 0;
  let lifetimeLeft: number | null = null;
  for (const plan of plans) {
    if (plan.billing === "monthly") mrrCents += cents(plan.priceEur) * plan.active;
    else if (plan.billing === "yearly") mrrCents += (cents(plan.priceEur) * plan.active) / 12;
    else if (plan.billing === "one_time") oneTimeCents += cents(plan.priceEur) * plan.nonCancelled;
    if (plan.isLifetime) {
      lifetimeSold += plan.nonCancelled;
      if (plan.lifetimeCap != null) lifetimeLeft = (lifetimeLeft ?? 0) + Math.max(0, plan.lifetimeCap - plan.nonCancelled);
    }
  }
  return {
    mrrEur: Math.round(mrrCents) / 100,
    arrEur: Math.round(mrrCents * 12) / 100,
    oneTimeEur: Math.round(oneTimeCents) / 100,
    lifetimeSold,
    lifetimeLeft,
  };
}
