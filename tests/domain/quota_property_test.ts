// Property-based tests of quota admission: a model of the QuotaLedger port driven by random sequences of
// reservations, settlements, releases and clock jumps across minute, hour and month windows.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { PlanLimits } from "../../src/domain/plans/mod.ts";
import {
  ADMISSION_REASONS,
  type AdmissionDecision,
  admissionError,
  type AdmissionReason,
  decideAdmission,
  limitsStatus,
  type QuotaLedger,
  type QuotaReservation,
  type QuotaSnapshot,
  type ReserveInput,
  retryAfterSeconds,
  type SettledQuota,
  usagePercentages,
  usageWarnings,
  windowStart,
} from "../../src/domain/quota/mod.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
type Window = "minute" | "hour" | "month";
const WINDOWS: Window[] = ["minute", "hour", "month"];

/**
 * The QuotaLedger port as the database adapter implements it: settled calls are counted in the windows
 * they were admitted in (exact decimal sums, here integer micro-euros), in-flight reservations are added
 * to every window that contains their admission, and reserve decides on that snapshot in one step.
 */
class ModelLedger implements QuotaLedger {
  private nextId = 1;
  private readonly reservations = new Map<number, { admittedAt: Date; estimateEur: number }>();
  private readonly counters = new Map<string, { requests: number; costMicro: number }>();

  async snapshot(_licenseId: number, now: Date): Promise<QuotaSnapshot> {
    return this.read(now);
  }

  async reserve(input: ReserveInput): Promise<{ decision: AdmissionDecision; reservation: QuotaReservation | null }> {
    const decision = input.decide(this.read(input.now));
    if (!decision.allowed) return { decision, reservation: null };
    const id = this.nextId++;
    this.reservations.set(id, { admittedAt: input.now, estimateEur: round6(input.estimateEur) });
    return { decision, reservation: { id, licenseId: input.licenseId, admittedAt: input.now } };
  }

  async settle(reservation: QuotaReservation, outcome: SettledQuota | null, _now: Date): Promise<void> {
    this.reservations.delete(reservation.id);
    if (!outcome) return;
    for (const w of WINDOWS) {
      const key = `${w}:${windowStart(w, reservation.admittedAt).getTime()}`;
      const counter = this.counters.get(key) ?? { requests: 0, costMicro: 0 };
      counter.requests += 1;
      counter.costMicro += Math.round(outcome.costEur * 1e6);
      this.counters.set(key, counter);
    }
  }

  private read(now: Date): QuotaSnapshot {
    const snapshot = {} as QuotaSnapshot;
    for (const w of WINDOWS) {
      const start = windowStart(w, now).getTime();
      const counter = this.counters.get(`${w}:${start}`) ?? { requests: 0, costMicro: 0 };
      let requests = counter.requests;
      let costEur = counter.costMicro / 1e6;
      for (const r of this.reservations.values()) {
        if (r.admittedAt.getTime() >= start) {
          requests += 1;
          costEur += r.estimateEur;
        }
      }
      snapshot[w] = { requests, costEur: round6(costEur) };
    }
    return snapshot;
  }
}

function round6(eur: number): number {
  return Math.round(eur * 1e6) / 1e6;
}

// The oracle's calendar, written without the domain's window functions.
function windowKey(w: Window, at: number): string {
  if (w === "minute") return `m${Math.floor(at / MINUTE_MS)}`;
  if (w === "hour") return `h${Math.floor(at / HOUR_MS)}`;
  const d = new Date(at);
  return `M${d.getUTCFullYear()}-${d.getUTCMonth()}`;
}

function nextBoundary(w: Window, at: number): number {
  if (w === "minute") return (Math.floor(at / MINUTE_MS) + 1) * MINUTE_MS;
  if (w === "hour") return (Math.floor(at / HOUR_MS) + 1) * HOUR_MS;
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

type Call = { admittedAt: number; charged: boolean; estimateMicro: number; state: "in_flight" | "settled" | "released"; costMicro: number; reservation: QuotaReservation };

type Op =
  | { kind: "reserve"; estimateMicro: number; byok: boolean }
  | { kind: "settle"; pick: number; share: number }
  | { kind: "release"; pick: number }
  | { kind: "advance"; to: "ms" | Window; ms: number };

const limitsArb: fc.Arbitrary<PlanLimits> = fc.record({
  monthlyRequests: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
  requestsPerMinute: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 })),
  requestsPerHour: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 })),
  // Round budgets and estimates make the month's cost land exactly on the budget, where off-by-one errors hide.
  monthlyBudgetEur: fc
    .oneof(
      { weight: 1, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.constantFrom(100_000, 200_000, 300_000) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3_000_000 }) },
    )
    .map((micro) => micro / 1e6),
  maxSites: fc.constant(1),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("reserve" as const),
      estimateMicro: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.constantFrom(50_000, 100_000) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 400_000 }) },
      ),
      byok: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("settle" as const),
      pick: fc.nat(),
      share: fc.oneof({ weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      to: fc.constantFrom("ms", "ms", "minute", "hour", "month"),
      ms: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 2 * HOUR_MS }), fc.integer({ min: 0, max: 40 * 86_400_000 })),
    }) as fc.Arbitrary<Op>,
  },
);

// Starts just before month, hour and minute ends as well as anywhere, including a leap February.
const startArb = fc.oneof(
  fc.date({ min: new Date("2024-01-01T00:00:00Z"), max: new Date("2030-12-31T23:59:59Z"), noInvalidDate: true }),
  fc.constantFrom("2024-02-29T23:59:58.500Z", "2025-12-31T23:59:59.000Z", "2025-06-30T23:59:30.000Z").map((iso) => new Date(iso)),
);

describe("admission over time", () => {
  test("no window ever counts more calls than its limit, refusals name the first limit hit, and calls under every limit are admitted", async () => {
    await fc.assert(
      fc.asyncProperty(limitsArb, startArb, fc.array(opArb, { maxLength: 80 }), async (limits, start, ops) => {
        const ledger = new ModelLedger();
        const calls: Call[] = [];
        let now = start.getTime();
        const limitOf: Record<Window, number> = { minute: limits.requestsPerMinute, hour: limits.requestsPerHour, month: limits.monthlyRequests };
        const budgetMicro = Math.round(limits.monthlyBudgetEur * 1e6);
        const counted = (w: Window, at: number) => calls.filter((c) => c.state !== "released" && windowKey(w, c.admittedAt) === windowKey(w, at));
        const monthCostMicro = (at: number) =>
          counted("month", at).reduce((sum, c) => sum + (c.state === "settled" ? c.costMicro : c.estimateMicro), 0);
        const inFlight = () => calls.filter((c) => c.state === "in_flight");

        for (const op of ops) {
          if (op.kind === "advance") {
            now = op.to === "ms" ? now + op.ms : nextBoundary(op.to, now) - (op.ms % 2 === 0 ? 0 : 1);
          } else if (op.kind === "reserve") {
            const at = new Date(now);
            const chargeBudget = !op.byok;
            const estimateMicro = chargeBudget ? op.estimateMicro : 0;
            // What the oracle expects, from its own counts and in the contract's order of checks.
            const used = { minute: counted("minute", now).length, hour: counted("hour", now).length, month: counted("month", now).length };
            const blocked = [
              limits.monthlyRequests > 0 && used.month >= limits.monthlyRequests ? "monthly_limit" : null,
              limits.requestsPerMinute > 0 && used.minute >= limits.requestsPerMinute ? "rate_limit_minute" : null,
              limits.requestsPerHour > 0 && used.hour >= limits.requestsPerHour ? "rate_limit_hour" : null,
              chargeBudget && budgetMicro > 0 && monthCostMicro(now) >= budgetMicro ? "budget_exceeded" : null,
            ].filter((r): r is AdmissionReason => r !== null);

            const snapshot = await ledger.snapshot(7, at);
            const status = limitsStatus(limits, snapshot, at, { chargeBudget });
            const { decision, reservation } = await ledger.reserve({
              licenseId: 7,
              now: at,
              estimateEur: estimateMicro / 1e6,
              decide: (s) => decideAdmission(limits, s, at, { chargeBudget }),
            });
            expect(status.blocking_factors).toEqual(blocked);
            expect(status.can_make_request).toBe(decision.allowed);
            if (blocked.length === 0) {
              expect(decision).toEqual({ allowed: true });
              calls.push({ admittedAt: now, charged: chargeBudget, estimateMicro, state: "in_flight", costMicro: 0, reservation: reservation! });
            } else {
              expect(reservation).toBeNull();
              if (decision.allowed) throw new Error("admitted over a limit");
              expect(decision.reason).toBe(blocked[0]);
              const window: Window = decision.reason === "rate_limit_minute" ? "minute" : decision.reason === "rate_limit_hour" ? "hour" : "month";
              expect(decision.resetAt.getTime()).toBe(nextBoundary(window, now));
              expect(retryAfterSeconds(decision, at)).toBe(Math.max(1, Math.ceil((nextBoundary(window, now) - now) / 1000)));
              expect(admissionError(decision).status).toBe(decision.reason === "budget_exceeded" ? 402 : 429);
            }
          } else {
            const open = inFlight();
            if (open.length === 0) continue;
            const call = open[op.pick % open.length];
            if (op.kind === "release") {
              call.state = "released";
              await ledger.settle(call.reservation, null, new Date(now));
            } else {
              // A settled call costs at most its estimate here (BYOK costs nothing), so the budget bound below applies.
              call.state = "settled";
              call.costMicro = Math.floor(call.estimateMicro * op.share);
              await ledger.settle(call.reservation, { tokens: 10, costEur: call.costMicro / 1e6 }, new Date(now));
            }
          }

          // The invariants, over every window any call was admitted in (not just the current ones).
          for (const w of WINDOWS) {
            if (limitOf[w] <= 0) continue;
            const perWindow = new Map<string, number>();
            for (const c of calls) if (c.state !== "released") perWindow.set(windowKey(w, c.admittedAt), (perWindow.get(windowKey(w, c.admittedAt)) ?? 0) + 1);
            for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(limitOf[w]);
          }
          if (budgetMicro > 0) {
            // A charged call is only admitted below the budget, so a month ends at most one estimate over it.
            const maxEstimate = Math.max(0, ...calls.map((c) => c.estimateMicro));
            for (const c of calls) expect(monthCostMicro(c.admittedAt)).toBeLessThanOrEqual(budgetMicro - 1 + maxEstimate);
          }
          const snap = await ledger.snapshot(7, new Date(now));
          expect(snap.minute.requests).toBe(counted("minute", now).length);
          expect(snap.hour.requests).toBe(counted("hour", now).length);
          expect(snap.month.requests).toBe(counted("month", now).length);
          expect(Math.round(snap.month.costEur * 1e6)).toBe(monthCostMicro(now));
        }
      }),
      { numRuns: 200 },
    );
  });

  test("racing calls for the last k requests of a window admit exactly k", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 25 }), async (limit, used, racers) => {
        fc.pre(used <= limit);
        const ledger = new ModelLedger();
        const limits: PlanLimits = { monthlyRequests: 0, requestsPerMinute: limit, requestsPerHour: 0, monthlyBudgetEur: 0, maxSites: 1 };
        const now = new Date("2025-03-14T15:09:26.535Z");
        const reserve = () => ledger.reserve({ licenseId: 7, now, estimateEur: 0.001, decide: (s) => decideAdmission(limits, s, now, { chargeBudget: true }) });
        for (let i = 0; i < used; i++) await reserve();
        const results = await Promise.all(Array.from({ length: racers }, reserve));
        expect(results.filter((r) => r.decision.allowed).length).toBe(Math.min(racers, limit - used));
        expect((await ledger.snapshot(7, now)).minute.requests).toBe(Math.min(limit, used + racers));
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// decideAdmission on its own

const countArb = fc.record({ requests: fc.nat(60), costEur: fc.integer({ min: 0, max: 5_000_000 }).map((m) => m / 1e6) });
const snapshotArb: fc.Arbitrary<QuotaSnapshot> = fc.record({ minute: countArb, hour: countArb, month: countArb });
const nowArb = fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true });

function grow(s: QuotaSnapshot, extra: QuotaSnapshot): QuotaSnapshot {
  const add = (a: { requests: number; costEur: number }, b: { requests: number; costEur: number }) => ({ requests: a.requests + b.requests, costEur: round6(a.costEur + b.costEur) });
  return { minute: add(s.minute, extra.minute), hour: add(s.hour, extra.hour), month: add(s.month, extra.month) };
}

describe("decideAdmission properties", () => {
  test("more usage never turns a refusal into an admission", () => {
    fc.assert(
      fc.property(limitsArb, snapshotArb, snapshotArb, nowArb, fc.boolean(), (limits, snapshot, extra, now, chargeBudget) => {
        const before = decideAdmission(limits, snapshot, now, { chargeBudget });
        const after = decideAdmission(limits, grow(snapshot, extra), now, { chargeBudget });
        if (!before.allowed) expect(after.allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  test("a refusal resets in the future, within the window it names, and BYOK only skips the budget", () => {
    fc.assert(
      fc.property(limitsArb, snapshotArb, nowArb, (limits, snapshot, now) => {
        const charged = decideAdmission(limits, snapshot, now, { chargeBudget: true });
        const byok = decideAdmission(limits, snapshot, now, { chargeBudget: false });
        if (!charged.allowed) {
          expect(ADMISSION_REASONS).toContain(charged.reason);
          expect(charged.resetAt.getTime()).toBeGreaterThan(now.getTime());
          expect(charged.resetAt.getTime() - now.getTime()).toBeLessThanOrEqual(31 * 86_400_000);
          expect(retryAfterSeconds(charged, now)).toBeGreaterThanOrEqual(1);
          if (charged.reason === "budget_exceeded") expect(byok.allowed).toBe(true);
          else expect(byok).toEqual(charged);
        } else {
          expect(byok.allowed).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("costs that add up to the budget block, whatever float sum they make", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 900_000 }), { minLength: 1, maxLength: 30 }), nowArb, (parts, now) => {
        const budgetMicro = parts.reduce((a, b) => a + b, 0);
        const limits: PlanLimits = { monthlyRequests: 0, requestsPerMinute: 0, requestsPerHour: 0, monthlyBudgetEur: budgetMicro / 1e6, maxSites: 1 };
        // Summed the way a float accumulator would, without rounding.
        const spent = parts.reduce((sum, micro) => sum + micro / 1e6, 0);
        const month = { requests: parts.length, costEur: spent };
        const decision = decideAdmission(limits, { minute: month, hour: month, month }, now, { chargeBudget: true });
        expect(decision).toMatchObject({ allowed: false, reason: "budget_exceeded" });
        const under = { requests: parts.length, costEur: (budgetMicro - 1) / 1e6 };
        expect(decideAdmission(limits, { minute: under, hour: under, month: under }, now, { chargeBudget: true }).allowed).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("usage percentages are never negative and warnings start exactly at 80 %", () => {
    fc.assert(
      fc.property(limitsArb, countArb, (limits, month) => {
        const percent = usagePercentages(limits, month);
        expect(percent.requests).toBeGreaterThanOrEqual(0);
        expect(percent.budget).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(percent.requests) && Number.isFinite(percent.budget)).toBe(true);
        const warnings = usageWarnings(limits, month);
        const requestsWarn = limits.monthlyRequests > 0 && month.requests * 5 >= limits.monthlyRequests * 4;
        const budgetMicro = Math.round(limits.monthlyBudgetEur * 1e6);
        const budgetWarn = budgetMicro > 0 && Math.round(month.costEur * 1e6) * 5 >= budgetMicro * 4;
        expect(warnings.length).toBe(Number(requestsWarn) + Number(budgetWarn));
        if (requestsWarn) expect(percent.requests).toBeGreaterThanOrEqual(80);
      }),
      { numRuns: 500 },
    );
  });
});
