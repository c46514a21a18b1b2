// The shutdown sequence in isolation: counting admitted chat calls, cutting their upstream calls, and the
// exit code when the queued usage events cannot be written (the process-level behaviour is in
// graceful_shutdown_test.ts).
import { describe, expect, test } from "bun:test";
import { ProviderError, type ChatProviders, type ProviderCall } from "../../src/domain/chat/mod.ts";
import type { QuotaLedger, QuotaReservation, QuotaSnapshot } from "../../src/domain/quota/mod.ts";
import { createLogger } from "../../src/app/logger.ts";
import { createShutdown, trackChatCalls } from "../../src/app/shutdown.ts";

const EMPTY: QuotaSnapshot = { minute: { requests: 0, costEur: 0 }, hour: { requests: 0, costEur: 0 }, month: { requests: 0, costEur: 0 } };

/** A ledger that admits everything and remembers what it settled. */
function memoryLedger() {
  const settled: number[] = [];
  let next = 1;
  const ledger: QuotaLedger & { settled: number[] } = {
    settled,
    snapshot: async () => EMPTY,
    reserve: async (input) => {
      const decision = input.decide(EMPTY);
      return { decision, reservation: decision.allowed ? { id: next++, licenseId: input.licenseId, admittedAt: input.now } : null };
    },
    settle: async (reservation: QuotaReservation) => {
      settled.push(reservation.id);
    },
  };
  return ledger;
}

/** Providers whose calls wait until their signal aborts them. */
const hangingProviders: ChatProviders = {
  complete: (call: ProviderCall) =>
    new Promise((_, reject) => call.signal?.addEventListener("abort", () => reject(new ProviderError("aborted", "aborted")), { once: true })),
  stream: () => Promise.reject(new Error("not used")),
};

function call(): ProviderCall {
  return { provider: "openai", model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], maxTokens: 10, apiKey: "k", baseUrl: "http://127.0.0.1:9", timeoutMs: 1_000 };
}

const admit = { licenseId: 1, now: new Date(), estimateEur: 0, decide: () => ({ allowed: true }) as const };

describe("trackChatCalls", () => {
  test("a reservation counts as in flight until it is settled, and idle waits for it", async () => {
    const ledger = memoryLedger();
    const tracker = trackChatCalls(ledger, hangingProviders);
    const { reservation } = await tracker.quota.reserve(admit);
    expect(tracker.inFlight).toBe(1);
    expect(await tracker.idle(20)).toBe(false);
    const idle = tracker.idle(5_000);
    await tracker.quota.settle(reservation!, null, new Date());
    expect(await idle).toBe(true);
    expect(tracker.inFlight).toBe(0);
    expect(ledger.settled).toEqual([reservation!.id]);
  });

  test("cut aborts the upstream calls in flight, and sealing refuses further admissions", async () => {
    const tracker = trackChatCalls(memoryLedger(), hangingProviders);
    const running = tracker.providers.complete(call()).catch((error) => error);
    tracker.cut();
    expect(await running).toMatchObject({ kind: "aborted" });
    tracker.seal();
    await expect(tracker.quota.reserve(admit)).rejects.toThrow("shutting down");
  });
});

describe("createShutdown", () => {
  test("answers exit code 1 and says so in the log when the queued usage events cannot be written", async () => {
    const lines: string[] = [];
    const shutdown = createShutdown({
      server: null,
      tracker: trackChatCalls(memoryLedger(), hangingProviders),
      workers: [],
      closeServices: () => Promise.reject(new Error("database gone")),
      timeoutMs: 1_000,
      logger: createLogger("info", (line) => lines.push(line)),
    });
    expect(await shutdown.begin("SIGTERM")).toBe(1);
    expect(lines.join("\n")).toContain("queued usage events may be lost");
  });

  test("a second signal cuts a call still in flight at once and still closes the services", async () => {
    const tracker = trackChatCalls(memoryLedger(), hangingProviders);
    const { reservation } = await tracker.quota.reserve(admit);
    // The proxy settles a call once its upstream call ends; here the upstream only ends when cut.
    void tracker.providers.complete(call()).catch(() => tracker.quota.settle(reservation!, null, new Date()));
    let closed = false;
    const shutdown = createShutdown({
      server: null,
      tracker,
      workers: [],
      closeServices: async () => {
        closed = true;
      },
      timeoutMs: 60_000,
      logger: createLogger("silent"),
    });
    const first = shutdown.begin("SIGTERM");
    await Bun.sleep(50);
    expect(closed).toBe(false);
    const started = performance.now();
    expect(await shutdown.begin("SIGINT")).toBe(0);
    expect(await first).toBe(0);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(closed).toBe(true);
    expect(tracker.inFlight).toBe(0);
  });
});
