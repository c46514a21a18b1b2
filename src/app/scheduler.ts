// Scheduled work inside the service. Every instance ticks; a job runs where its lease was taken (one
// conditional UPDATE in job_leases), so several instances on one database run each job once per period.
import { hostname } from "node:os";
import { DbJobLeases } from "../adapters/db/job_leases.ts";
import type { Db } from "../adapters/db/orm.ts";
import type { Clock } from "../domain/shared/mod.ts";
import type { Logger } from "./logger.ts";

/** A job: its name (the lease key), how often it runs, and the work, answering details for the admin page. */
export interface JobDefinition {
  name: string;
  everyMs: number;
  run(now: Date): Promise<Record<string, unknown>>;
}

/** A running scheduler: `runDue` runs one tick now (tests), `stop` ends ticking and waits for a running job. */
export interface Scheduler {
  runDue(): Promise<void>;
  stop(): Promise<void>;
}

/** How often the scheduler looks for due jobs unless told otherwise. */
export const DEFAULT_TICK_MS = 60_000;

// A lease outlives a crashed holder by this much at most; a run longer than this could overlap another.
const LEASE_MS = 10 * 60_000;

/** A short, secret-free description of a failure: the error's message only, never its data or stack. */
function errorDetails(error: unknown): Record<string, unknown> {
  const message = error instanceof Error ? error.message : String(error);
  return { error: message.slice(0, 500) };
}

/** Starts ticking every `tickMs` (unref'd timer, so it never keeps the process alive). */
export function startScheduler(deps: {
  db: Db;
  clock: Clock;
  logger?: Logger;
  jobs: JobDefinition[];
  tickMs?: number;
  holder?: string;
}): Scheduler {
  const leases = new DbJobLeases(deps.db);
  const holder = (deps.holder ?? `${hostLabel()}:${crypto.randomUUID().slice(0, 8)}`).slice(0, 64);
  const leaseMs = (job: JobDefinition) => Math.max(LEASE_MS, job.everyMs);
  let stopped = false;
  let current: Promise<void> | null = null;

  async function runJob(job: JobDefinition): Promise<void> {
    const now = deps.clock.now();
    // The due check is part of the lease UPDATE: whoever saw it due after another instance ran it loses.
    const startedBefore = new Date(now.getTime() - job.everyMs);
    if (!(await leases.tryAcquire(job.name, holder, leaseMs(job), now, startedBefore))) return;
    let outcome: "ok" | "error" = "ok";
    let details: Record<string, unknown>;
    try {
      details = await job.run(now);
      deps.logger?.info("job finished", { job: job.name, ...details });
    } catch (error) {
      outcome = "error";
      details = errorDetails(error);
      deps.logger?.error("job failed", { job: job.name, ...details });
    }
    await leases.finish(job.name, holder, outcome, details, deps.clock.now());
  }

  async function tick(): Promise<void> {
    for (const job of deps.jobs) {
      if (stopped) return;
      try {
        await runJob(job);
      } catch (error) {
        // The database was unreachable: try again next tick.
        deps.logger?.warn("job lease unavailable", { job: job.name, ...errorDetails(error) });
      }
    }
  }

  function runDue(): Promise<void> {
    // One tick at a time per instance: a tick that finds the previous one still running waits for it.
    const next = (current ?? Promise.resolve()).then(tick);
    current = next.finally(() => {
      if (current === tracked) current = null;
    });
    const tracked = current;
    return next;
  }

  const timer = setInterval(() => {
    if (!stopped && current == null) void runDue().catch(() => {});
  }, deps.tickMs ?? DEFAULT_TICK_MS);
  timer.unref?.();

  return {
    runDue,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (current) await current.catch(() => {});
    },
  };
}

function hostLabel(): string {
  return `${hostname().slice(0, 40)}:${process.pid}`;
}
