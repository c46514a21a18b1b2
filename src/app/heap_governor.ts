// Keeps the process's resident memory near a soft limit (MEMORY_SOFT_LIMIT_MB, 132 MB by default). JavaScriptCore
// sizes its heap by how much the previous collection kept, and its young-generation collections free objects
// but not the blocks that held them, so at thousands of requests per second resident memory settles at 180-220
// MB (chat at 64 connections on SQLite; validate on MariaDB, whose driver allocates as much again) and stays
// there, idle or not, until a full collection runs. Neither JSC's heap growth factors nor mimalloc's purge
// options (environment variables, tried) move it; Bun.gc(true), a full collection that also returns freed
// memory to the system, does, in 15-35 ms here.
//
// A check every 10 ms reads the resident size and the JS heap's blocks (one process.memoryUsage(), a few
// microseconds, tens with a loaded heap) and collects when either
// - the resident size reached the limit, and grew by `regrowthBytes` past what the last collection left (so
//   a process whose live memory exceeds the limit does not collect back to back), or
// - the heap's blocks grew by `heapGrowthBytes` since the last collection: the first second of load after a
//   start fills the heap faster than the resident size shows, and collecting only at the limit then let the
//   peak reach 155-160 MB.
// An idle process, or one serving a request at a time (about 115-122 MB), is rarely collected.
//
// Measured with the binary, 64 connections, 2 s runs in the benchmark's order on a fresh start: peaks of
// 123-145 MB on SQLite, 5,500-6,700 chat answers/s. Without the governor: 7,500-8,500 chat answers/s at
// 183-198 MB, and validate on MariaDB at 205-221 MB. The governor it replaces collected after every 10 MB of
// heap growth: about 6,000 chat answers/s (4,700 in the benchmark), twice a second at one request at a time
// (a 20-30 ms stall each), and blind to the MariaDB driver's memory (179 MB).

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
  /**
   * Growth of the JS heap's blocks (heapTotal) since the last collection that also triggers one, below the
   * limit too (default 24 MiB): in the first second of load the heap fills faster than the resident size shows.
   */
  heapGrowthBytes?: number;
  /** Between checks (default 10 ms). */
  intervalMs?: number;
  collect?: () => void;
  /** The two sizes read at each check (process.memoryUsage() by default, one call for both). */
  usage?: () => { rss: number; heapTotal: number };
}

export function startHeapGovernor(options: HeapGovernorOptions): HeapGovernor {
  const usage = options.usage ?? (() => process.memoryUsage());
  const collect = options.collect ?? (() => Bun.gc(true));
  const regrowth = options.regrowthBytes ?? 4 * 1024 * 1024;
  const heapGrowth = options.heapGrowthBytes ?? 24 * 1024 * 1024;
  let left = 0;
  let heapLeft = usage().heapTotal;
  let collections = 0;
  const timer = setInterval(() => {
    const now = usage();
    if (now.rss < Math.max(options.limitBytes, left + regrowth) && now.heapTotal < heapLeft + heapGrowth) return;
    collect();
    collections += 1;
    const after = usage();
    left = after.rss;
    heapLeft = after.heapTotal;
  }, options.intervalMs ?? 10);
  timer.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
