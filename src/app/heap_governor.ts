// Keeps the process's resident memory near a soft limit (MEMORY_SOFT_LIMIT_MB, 132 MB by default). JavaScriptCore
// sizes its heap by how much the previous collection kept, and its young-generation collections free objects
// but not the blocks that held them, so at thousands of requests per second resident memory settles at 180-220
// MB (chat at 64 connections on SQLite; validate on MariaDB, whose driver allocates as much again) and stays
// there, idle or not, until a full collection runs. Neither JSC's heap growth factors nor mimalloc's purge
// options (environment variables, tried) move it; Bun.gc(true), a full collection that also returns freed
// memory to the system, does, in 15-35 ms here.
//
// A check every 10 ms reads the resident size (process.memoryUsage.rss(), a few microseconds). Below the
// limit nothing happens: an idle process, or one serving a request at a time (about 115-122 MB), is never
// stalled by the governor. Above it, it collects; the next collection waits until the resident size grew by
// `regrowthBytes` past what the last one left, so a process whose live memory exceeds the limit does not
// collect back to back.
//
// Measured with the binary (64 connections, 5 s runs after the first): chat on SQLite 6,900-7,300 answers/s
// at a 139-141 MB peak, validate on MariaDB 4,800-5,500/s at 138-141 MB. Without the governor: 7,500-8,500
// chat answers/s at 183-198 MB, 5,300-6,000 validations/s at 205-221 MB. The governor it replaces collected
// after every 10 MB of heap growth: about 6,000 chat answers/s, twice a second at one request at a time (a
// 20-30 ms stall each), and blind to the MariaDB driver's memory (179 MB). The first second of load after a
// start still peaks at 150-160 MB: the JIT compiling the hot paths, which no collection frees.

export interface HeapGovernor {
  /** Full collections this governor has run. */
  readonly collections: number;
  stop(): void;
}

export interface HeapGovernorOptions {
  /** Resident size (bytes) above which the governor collects. */
  limitBytes: number;
  /** Growth past what the last collection left before another (default 4 MiB). */
  regrowthBytes?: number;
  /** Between checks (default 10 ms). */
  intervalMs?: number;
  collect?: () => void;
  rss?: () => number;
}

export function startHeapGovernor(options: HeapGovernorOptions): HeapGovernor {
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const collect = options.collect ?? (() => Bun.gc(true));
  const regrowth = options.regrowthBytes ?? 4 * 1024 * 1024;
  let left = 0;
  let collections = 0;
  const timer = setInterval(() => {
    if (rss() < Math.max(options.limitBytes, left + regrowth)) return;
    collect();
    collections += 1;
    left = rss();
  }, options.intervalMs ?? 10);
  timer.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
