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
// Between full collections, every `edenGrowthBytes` (2 MiB) of new heap blocks runs a young-generation collection
// (a few milliseconds): the young objects die there, before JSC adds blocks for them, so the heap and the resident
// size climb to the next full collection (about 30 ms) more slowly. At 64 connections that cut full collections
// from 11-13 to 4-6 per 2 s on SQLite chat (chat answers 5,217-5,674/s before, 5,698-6,503/s after) and from
// 9-10 to 2-3 on MariaDB validate (6,305-6,809/s before, 6,772-7,986/s after), at the same peaks.
//
// Measured with the binary, 64 connections, 2 s runs in the benchmark's order on a fresh start, before the young
// collections: peaks of 123-145 MB on SQLite, 5,500-6,700 chat answers/s; without the governor 7,500-8,500 chat
// answers/s at 183-198 MB, and validate on MariaDB at 205-221 MB. With them, on a slower day: 5,590-6,409 chat
// answers/s at 135 MB, against 5,980-6,222/s at 175-200 MB without the governor. The governor it replaces
// collected after every 10 MB of heap growth: about 6,000 chat answers/s (4,700 in the benchmark), twice a
// second at one request at a time (a 20-30 ms stall each), and blind to the MariaDB driver's memory (179 MB).

import { edenGC } from "bun:jsc";

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
  /**
   * Growth of the heap's blocks since the last collection of either kind that runs a young-generation collection
   * (default 2 MiB; 0 = never).
   */
  edenGrowthBytes?: number;
  /** Between checks (default 10 ms). */
  intervalMs?: number;
  /** The full collection (Bun.gc(true) by default). */
  collect?: () => void;
  /** The young-generation collection (bun:jsc's edenGC by default). */
  collectYoung?: () => void;
  /** The two sizes read at each check (process.memoryUsage() by default, one call for both). */
  usage?: () => { rss: number; heapTotal: number };
}

export function startHeapGovernor(options: HeapGovernorOptions): HeapGovernor {
  const usage = options.usage ?? (() => process.memoryUsage());
  const collect = options.collect ?? (() => Bun.gc(true));
  const regrowth = options.regrowthBytes ?? 4 * 1024 * 1024;
  const heapGrowth = options.heapGrowthBytes ?? 24 * 1024 * 1024;
  const collectYoung = options.collectYoung ?? (() => void edenGC());
  const edenGrowth = options.edenGrowthBytes ?? 2 * 1024 * 1024;
  let left = 0;
  let heapLeft = usage().heapTotal;
  let youngLeft = heapLeft;
  let collections = 0;
  const timer = setInterval(() => {
    const now = usage();
    if (now.rss < Math.max(options.limitBytes, left + regrowth) && now.heapTotal < heapLeft + heapGrowth) {
      if (edenGrowth > 0 && now.heapTotal >= youngLeft + edenGrowth) {
        collectYoung();
        youngLeft = usage().heapTotal;
      }
      return;
    }
    collect();
    collections += 1;
    const after = usage();
    left = after.rss;
    heapLeft = after.heapTotal;
    youngLeft = heapLeft;
  }, options.intervalMs ?? 10);
  timer.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
