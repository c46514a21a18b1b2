// Settlements of answered chat calls that the database could not take (it was down, restarting or frozen)
// wait in memory and are written once it answers again, like the queued usage events: otherwise the call's
// reservation would sit until its TTL and then vanish, and the quota would never count a call it answered.
import type { QuotaLedger, QuotaReservation, SettledQuota } from "../domain/quota/mod.ts";
import { isDatabaseUnavailable } from "../adapters/db/availability.ts";

/** A quota ledger whose settlements survive a database outage, and what is still waiting. */
export interface RetryingSettlements<Q extends QuotaLedger> {
  /** The ledger to use: `settle` queues a settlement the database cannot take now instead of failing. */
  quota: Q;
  /** Settlements waiting for the database. */
  readonly pending: number;
  /** Tries every waiting settlement now; rejects with the database's error when it still does not answer. */
  flush(): Promise<void>;
  /** Stops the timer and tries the waiting settlements a last time (on shutdown, before the database closes). */
  close(): Promise<void>;
}

interface Waiting {
  reservation: QuotaReservation;
  outcome: SettledQuota | null;
  now: Date;
}

/**
 * Wraps `quota` so a settlement failing because the database is unavailable is queued and retried every
 * `intervalMs`; any other failure is the caller's, as before. The original ledger stays behind a prototype
 * link, so whatever else it offers (sweeps) works unchanged.
 */
export function retrySettlements<Q extends QuotaLedger>(
  quota: Q,
  options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
): RetryingSettlements<Q> {
  const waiting: Waiting[] = [];
  let running: Promise<void> | null = null;

  async function drain(): Promise<void> {
    while (waiting.length > 0) {
      const next = waiting[0];
      await quota.settle(next.reservation, next.outcome, next.now);
      waiting.shift();
    }
  }

  function flush(): Promise<void> {
    running ??= drain().finally(() => {
      running = null;
    });
    return running;
  }

  const timer = setInterval(() => {
    if (waiting.length > 0) flush().catch((error) => options.onError?.(error));
  }, options.intervalMs ?? 1_000);
  timer.unref?.();

  const retrying: Q = Object.create(quota);
  retrying.settle = async (reservation, outcome, now) => {
    try {
      await quota.settle(reservation, outcome, now);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      waiting.push({ reservation, outcome, now });
      options.onError?.(error);
    }
  };

  return {
    quota: retrying,
    get pending() {
      return waiting.length;
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
