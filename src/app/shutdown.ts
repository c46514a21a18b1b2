// Graceful shutdown of `serve`: stop accepting connections, let requests and streams in flight finish up to a
// deadline, then cut the upstream calls still running (the chat proxy bills a cut stream as partial), and only
// once every admitted call is settled and recorded close the services, which writes the queued usage events.
import type { ChatProviders, ProviderCall } from "../domain/chat/mod.ts";
import type { QuotaLedger } from "../domain/quota/mod.ts";
import type { Logger } from "./logger.ts";

/**
 * Admitted chat calls in flight, counted through the quota ledger (admission reserves, the end of a call
 * settles), and a switch that aborts their upstream calls.
 */
export interface ChatCallTracker<Q extends QuotaLedger = QuotaLedger> {
  /** The ledger the chat routes use: counts each reservation until it is settled. */
  quota: Q;
  /** The providers the chat routes use: their upstream calls end when `cut` is called. */
  providers: ChatProviders;
  /** Admitted calls not settled yet. */
  readonly inFlight: number;
  /** Aborts every upstream call, running or later. */
  cut(): void;
  /** Refuses further admissions (nobody is left to answer them once every connection is closed). */
  seal(): void;
  /** True once no admitted call is in flight and their usage events are recorded; false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean>;
}

/** Wraps the chat routes' quota ledger and providers so a shutdown can wait for, and cut, the calls in flight. */
export function trackChatCalls<Q extends QuotaLedger>(quota: Q, providers: ChatProviders): ChatCallTracker<Q> {
  const cutter = new AbortController();
  const waiters = new Set<() => void>();
  let inFlight = 0;
  let sealed = false;
  const withCut = (call: ProviderCall): ProviderCall => ({
    ...call,
    signal: call.signal ? AbortSignal.any([call.signal, cutter.signal]) : cutter.signal,
  });
  // The original ledger behind a prototype link: everything else it offers (sweeps, reports) works unchanged.
  const counted: Q = Object.create(quota);
  counted.reserve = async (input) => {
    if (sealed) throw new Error("the service is shutting down");
    const result = await quota.reserve(input);
    if (result.reservation) inFlight += 1;
    return result;
  };
  counted.settle = async (reservation, outcome, now) => {
    try {
      await quota.settle(reservation, outcome, now);
    } finally {
      inFlight -= 1;
      if (inFlight === 0) for (const wake of [...waiters]) wake();
    }
  };
  return {
    quota: counted,
    providers: {
      complete: (call) => providers.complete(withCut(call)),
      stream: (call) => providers.stream(withCut(call)),
    },
    get inFlight() {
      return inFlight;
    },
    cut: () => cutter.abort(),
    seal() {
      sealed = true;
    },
    async idle(timeoutMs) {
      if (inFlight > 0) {
        const settled = await new Promise<boolean>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve(true);
          };
          const timer = setTimeout(() => {
            waiters.delete(wake);
            resolve(false);
          }, timeoutMs);
          waiters.add(wake);
        });
        if (!settled) return false;
      }
      // The proxy records a call's usage event right after its settlement resolves; a macrotask later it is queued.
      await new Promise((resolve) => setImmediate(resolve));
      return inFlight === 0;
    },
  };
}

/** What a shutdown stops, in order. */
export interface ShutdownDeps {
  /** The HTTP server: `stop(false)` stops accepting and resolves once every connection is closed. */
  server: { stop(closeActiveConnections?: boolean): Promise<void> } | null | undefined;
  tracker: ChatCallTracker<QuotaLedger>;
  /** Background workers (scheduler, mail, webhooks). */
  workers: Array<{ stop(): Promise<void> }>;
  /** Writes the queued usage events and closes the database. */
  closeServices(): Promise<void>;
  /** How long requests and streams in flight may take (SHUTDOWN_TIMEOUT_MS). */
  timeoutMs: number;
  logger: Logger;
  /** How long cut calls get to settle, and stuck workers to stop, after the deadline. */
  graceMs?: number;
}

/** A shutdown in progress: `begin` starts it (a second call cuts what is still running at once). */
export interface Shutdown {
  /** Resolves with the exit code: 0 once the usage events are written, 1 when closing failed. */
  begin(signal: string): Promise<number>;
}

const DEFAULT_GRACE_MS = 3_000;

function sleep(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms));
}

/** Builds the shutdown sequence of `serve`. */
export function createShutdown(deps: ShutdownDeps): Shutdown {
  const graceMs = deps.graceMs ?? DEFAULT_GRACE_MS;
  let running: Promise<number> | null = null;
  let hurry: () => void = () => {};
  const hurried = new Promise<void>((resolve) => {
    hurry = resolve;
  });

  async function run(signal: string): Promise<number> {
    const { tracker, logger } = deps;
    logger.info("shutting down", { signal, timeout_ms: deps.timeoutMs, in_flight: tracker.inFlight });
    // Bun closes a kept-alive connection it has not read from yet as idle, resetting a request already sent
    // on it: one turn of the event loop first reads what has arrived, so those requests are served.
    await new Promise((resolve) => setImmediate(resolve));
    // Then the listener closes: new connections are refused (a load balancer moves on), while connections
    // with a request or a stream in flight stay open until their response is complete.
    const connectionsClosed = deps.server ? deps.server.stop(false) : Promise.resolve();
    const workersStopped = Promise.allSettled(deps.workers.map((worker) => worker.stop()));
    // A client that left early does not keep its connection open, but its call still runs and is billed.
    const drained = (async () => {
      await connectionsClosed;
      while (!(await tracker.idle(2 ** 31 - 1)));
      return true as const;
    })();
    const deadline = Promise.race([sleep(deps.timeoutMs), hurried.then(() => false as const)]);
    const inTime = await Promise.race([drained, deadline]);
    if (!inTime) {
      logger.warn("shutdown deadline reached: cutting the calls in flight", { in_flight: tracker.inFlight });
      // Cut streams end cleanly for their clients, and the proxy bills what the provider produced as partial.
      tracker.cut();
      // A stream that has ended but whose client does not read its last bytes would hold the server open.
      if (!(await Promise.race([drained, sleep(graceMs)]))) await Promise.race([deps.server?.stop(true), sleep(graceMs)]);
    }
    tracker.seal();
    if (!(await tracker.idle(graceMs))) logger.error("chat calls still unsettled at shutdown", { in_flight: tracker.inFlight });
    await Promise.race([workersStopped, sleep(graceMs)]);
    try {
      await deps.closeServices();
    } catch (error) {
      logger.error("closing the services failed: queued usage events may be lost", {
        error: error instanceof Error ? error.message : String(error),
      });
      return 1;
    }
    logger.info("stopped", { cut: !inTime });
    return 0;
  }

  return {
    begin(signal) {
      if (running) {
        deps.logger.warn("second signal: cutting the calls in flight now", { signal });
        hurry();
        return running;
      }
      running = run(signal);
      return running;
    },
  };
}
