// Keeps the process's memory near its live size under load. JavaScriptCore sizes its heap by how much the
// previous collection kept, and its young-generation collections free objects but not the blocks that held
// them, so at thousands of requests per second the heap's blocks (and the resident memory behind them) grow
// to several times what is live before a full collection runs. A cheap check twenty times a second
// (process.memoryUsage() costs tens of microseconds; bun:jsc's heapSize walks the heap and costs hundreds)
// runs a full collection once the heap's blocks grew by `growthBytes` since the last one. An idle process
// is never collected, and at one request at a time collections stay rare (about one in a thousand requests).
// The threshold trades memory for CPU: a full collection of this service's heap (about 19 MB, mostly code)
// takes 15-35 ms. Measured with the benchmark's chat load (64 connections, the binary): without the governor
// about 7,200 answers/s at a peak of 177-186 MB; with 8 MB about 5,000-5,400/s at 132-137 MB; with 10 MB about
// 6,000/s at 135-138 MB; with 12-16 MB 5,700-5,800/s at 144-145 MB.

export interface HeapGovernor {
  /** Full collections this governor has run. */
  readonly collections: number;
  stop(): void;
}

/** The heap's reserved size (its blocks), as process.memoryUsage() reports it. */
function heapBlocks(): number {
  return process.memoryUsage().heapTotal;
}

export function startHeapGovernor(options: { intervalMs?: number; growthBytes?: number; collect?: () => void; size?: () => number } = {}): HeapGovernor {
  const size = options.size ?? heapBlocks;
  const collect = options.collect ?? (() => Bun.gc(true));
  const growth = options.growthBytes ?? 10 * 1024 * 1024;
  let floor = size();
  let collections = 0;
  const timer = setInterval(() => {
    if (size() < floor + growth) return;
    collect();
    collections += 1;
    floor = size();
  }, options.intervalMs ?? 50);
  timer.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
