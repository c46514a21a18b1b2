// Settlements that meet a database outage wait and are written once it is back; other failures stay the
// caller's. Also which errors count as "the database is unavailable" (answered 503, retried later).
import { describe, expect, test } from "bun:test";
import { UniqueConstraintViolationException, DriverException } from "@mikro-orm/core";
import { DatabaseTimeout, isDatabaseUnavailable } from "../../src/adapters/db/availability.ts";
import { retrySettlements } from "../../src/app/settlement_retry.ts";
import type { QuotaLedger, QuotaReservation, SettledQuota } from "../../src/domain/quota/mod.ts";

/** mysql2's error for a server that refuses connections: a Node network error it marks fatal. */
function refused(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:3306"), { code: "ECONNREFUSED", errno: -111, fatal: true });
}

/** A ledger in memory whose database can be taken down, or made to fail otherwise. */
function ledger() {
  const settled: Array<{ id: number; outcome: SettledQuota | null }> = [];
  const state = { failure: null as Error | null, attempts: 0 };
  const quota: QuotaLedger & { extra(): string } = {
    async reserve() {
      throw new Error("not used");
    },
    async snapshot() {
      throw new Error("not used");
    },
    async settle(reservation, outcome) {
      state.attempts += 1;
      if (state.failure) throw state.failure;
      settled.push({ id: reservation.id, outcome });
    },
    extra: () => "kept",
  };
  return { quota, settled, state };
}

const reservation = (id: number): QuotaReservation => ({ id, licenseId: 1, admittedAt: new Date("2026-03-15T12:00:00Z") });

describe("retrySettlements", () => {
  test("a settlement the database cannot take resolves at once, waits, and is written once by the next retry", async () => {
    const { quota, settled, state } = ledger();
    const reported: unknown[] = [];
    const retrying = retrySettlements(quota, { intervalMs: 20, onError: (error) => reported.push(error) });
    state.failure = refused();
    await retrying.quota.settle(reservation(1), { tokens: 19, costEur: 0.001 }, new Date());
    await retrying.quota.settle(reservation(2), null, new Date());
    expect(retrying.pending).toBe(2);
    expect(settled).toEqual([]);
    expect(reported).toHaveLength(2);

    await Bun.sleep(60);
    expect(retrying.pending).toBe(2);
    state.failure = null;
    while (retrying.pending > 0) await Bun.sleep(10);
    expect(settled).toEqual([
      { id: 1, outcome: { tokens: 19, costEur: 0.001 } },
      { id: 2, outcome: null },
    ]);
    await Bun.sleep(60);
    expect(settled).toHaveLength(2);
    await retrying.close();
  });

  test("any other failure is the caller's and is not retried", async () => {
    const { quota, state } = ledger();
    const retrying = retrySettlements(quota, { intervalMs: 20 });
    state.failure = new Error("a bug in the statement");
    await expect(retrying.quota.settle(reservation(1), null, new Date())).rejects.toThrow("a bug in the statement");
    expect(retrying.pending).toBe(0);
    await Bun.sleep(60);
    expect(state.attempts).toBe(1);
    await retrying.close();
  });

  test("close writes what is still waiting, and says so when the database is still away", async () => {
    const { quota, settled, state } = ledger();
    const retrying = retrySettlements(quota, { intervalMs: 60_000 });
    state.failure = refused();
    await retrying.quota.settle(reservation(7), { tokens: 5, costEur: 0 }, new Date());
    await expect(retrying.flush()).rejects.toThrow("ECONNREFUSED");
    expect(retrying.pending).toBe(1);
    state.failure = null;
    await retrying.close();
    expect(retrying.pending).toBe(0);
    expect(settled.map((s) => s.id)).toEqual([7]);
  });

  test("the wrapped ledger keeps the original's other methods", () => {
    const { quota } = ledger();
    const retrying = retrySettlements(quota);
    expect(retrying.quota.extra()).toBe("kept");
    void retrying.close();
  });
});

describe("isDatabaseUnavailable", () => {
  test("says yes for a refused, lost or timed-out connection and a server shutting down, also when wrapped", () => {
    const lost = Object.assign(new Error("Connection lost: The server closed the connection."), { code: "PROTOCOL_CONNECTION_LOST", fatal: true });
    const shutdown = Object.assign(new Error("Server shutdown in progress"), { code: "ER_SERVER_SHUTDOWN", errno: 1053 });
    const cases = [refused(), lost, shutdown, new DatabaseTimeout("query", 5_000), new DriverException(refused()), new Error("wrapped", { cause: lost })];
    expect(cases.map(isDatabaseUnavailable)).toEqual(cases.map(() => true));
  });

  test("says no for a statement's own fault and for errors that are not the database's", () => {
    const duplicate = Object.assign(new Error("Duplicate entry 'x' for key 'y'"), { code: "ER_DUP_ENTRY", errno: 1062 });
    const upstream = Object.assign(new Error("Unable to connect"), { code: "ConnectionRefused" });
    const cases = [duplicate, new UniqueConstraintViolationException(duplicate), new Error("SQLITE_CONSTRAINT"), upstream, "a string", null];
    expect(cases.map(isDatabaseUnavailable)).toEqual(cases.map(() => false));
  });
});
