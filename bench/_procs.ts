// The benchmark's child processes: each server (service, floors, fake upstream) runs in its own process so
// that no server shares an event loop with the load generator or with another server.
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A server started by the benchmark. */
export interface Child {
  name: string;
  pid: number;
  url: string;
  process: Subprocess;
  /** Where its stderr goes (shown when it fails to start). */
  stderrPath: string;
}

/** Progress on stderr, so stdout carries only the results table. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/**
 * Starts `bun <args>` (or `command <args>`) with stdout discarded (the service prints its log lines there; writing them to
 * /dev/null keeps their cost in the service without a reader competing for the CPU) and stderr kept in
 * `logDir` for diagnosis.
 */
export function startChild(options: {
  name: string;
  /** The executable; Bun itself by default. */
  command?: string;
  args: string[];
  port: number;
  cwd: string;
  logDir: string;
  env?: Record<string, string>;
}): Child {
  const stderrPath = join(options.logDir, `${options.name.replace(/[^a-z0-9]+/gi, "_")}.stderr.log`);
  const child = Bun.spawn([options.command ?? process.execPath, ...options.args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(stderrPath),
  });
  return { name: options.name, pid: child.pid, url: `http://127.0.0.1:${options.port}`, process: child, stderrPath };
}

/** Waits until `probe` answers below 500, or fails with the child's stderr. */
export async function waitUntilUp(child: Child, probe: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) break;
    const up = await fetch(child.url + probe, { method: "GET" }).then(
      (r) => r.status < 500,
      () => false,
    );
    if (up) return;
    await Bun.sleep(100);
  }
  let log = "";
  try {
    log = readFileSync(child.stderrPath, "utf8").slice(-2000);
  } catch {
    // No log written yet.
  }
  throw new Error(`${child.name} did not come up on ${child.url}${log ? `:\n${log}` : ""}`);
}

/** Stops a child with SIGTERM (the service drains and flushes), SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill("SIGTERM");
  const exited = await Promise.race([child.process.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) {
    child.process.kill("SIGKILL");
    await child.process.exited;
  }
}

/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status), or null once it is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples the peak RSS of some processes every `everyMs` while running. */
export class RssSampler {
  private timer: ReturnType<typeof setInterval> | null = null;
  readonly peaks = new Map<number, number>();

  constructor(private readonly pids: number[], private readonly everyMs = 100) {}

  /** Starts (or resumes) sampling. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.sample();
  }

  /** Pauses sampling (between load phases nothing is measured). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  private sample(): void {
    for (const pid of this.pids) {
      const rss = rssMiB(pid);
      if (rss !== null && rss > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, rss);
    }
  }
}
