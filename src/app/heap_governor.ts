// Keeps the process's memory near its live size under load. JavaScriptCore sizes its heap by how much the
// previous collection kept, so at thousands of requests per second the heap (and the resident memory behind
// it) grows to several times what is live before a full collection runs. A cheap check a few times a second
// runs a full collection once the heap has grown by `growthBytes` since the last one; an idle process is
// never collected, and at one request at a time collections stay rare (well under one request in a thousand).
import { heapSize } from "bun:jsc";

export interface HeapGovernor {
  /** Full collections this governor has run. */
  readonly collections: number;
  stop(): void;
}

export function startHeapGovernor(options: { intervalMs?: number; growthBytes?: number; collect?: () => void; size?: () => number } = {}): HeapGovernor {
  const size = options.size ?? heapSize;
  const collect = options.collect ?? (() => Bun.gc(true));
  const growth = options.growthBytes ?? 16 * 1024 * 1024;
  let floor = size();
  let collections = 0;
  const timer = setInterval(() => {
    if (size() < floor + growth) return;
    collect();
    collections += 1;
    floor = size();
  }, options.intervalMs ?? 250);
  timer.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
