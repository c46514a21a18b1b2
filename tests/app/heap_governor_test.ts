// The heap governor (src/app/heap_governor.ts) collects only above its soft limit on resident memory (with young
// collections as the heap grows in between), and the health probe leaves no timer behind (each one used to hold a
// 3 s timer and its closure: megabytes under load).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { startHeapGovernor } from "../../src/app/heap_governor.ts";
import { startTestService, type TestService } from "../support/app.ts";

describe("heap governor", () => {
  test("collects only above the soft limit, and again only once memory grew past what the last collection left", async () => {
    const MB = 1024 * 1024;
    let rss = 100 * MB;
    const collections: number[] = [];
    const governor = startHeapGovernor({
      limitBytes: 128 * MB,
      regrowthBytes: 4 * MB,
      intervalMs: 2,
      usage: () => ({ rss, heapTotal: 0 }),
      collect: () => {
        collections.push(rss / MB);
        rss = after; // what the collection left
      },
    });
    let after = 120 * MB;
    const settle = () => Bun.sleep(25);
    try {
      rss = 127 * MB;
      await settle();
      expect(collections).toEqual([]);
      rss = 128 * MB;
      await settle();
      expect(collections).toEqual([128]);
      // Left at 120, below the limit: the next one comes at the limit again, not at 124.
      rss = 127 * MB;
      await settle();
      expect(collections).toEqual([128]);
      after = 133 * MB; // live memory above the limit: the collection frees little
      rss = 130 * MB;
      await settle();
      expect(collections).toEqual([128, 130]);
      // Left at 133: nothing until 137, so a process above its limit does not collect back to back.
      rss = 136 * MB;
      await settle();
      expect(collections).toEqual([128, 130]);
      rss = 137 * MB;
      await settle();
      expect(collections).toEqual([128, 130, 137]);
      expect(governor.collections).toBe(3);
    } finally {
      governor.stop();
    }
    rss = 10_000 * MB;
    await settle();
    expect(collections).toHaveLength(3);
  });

  test("heap growth past heapGrowthBytes collects below the limit too", async () => {
    let heap = 50;
    const collections: number[] = [];
    const governor = startHeapGovernor({
      limitBytes: 1_000_000,
      heapGrowthBytes: 20,
      intervalMs: 2,
      usage: () => ({ rss: 100, heapTotal: heap }),
      collect: () => {
        collections.push(heap);
        heap = 55;
      },
    });
    try {
      heap = 69;
      await Bun.sleep(25);
      expect(collections).toEqual([]);
      heap = 70;
      await Bun.sleep(25);
      expect(collections).toEqual([70]);
      heap = 74; // 55 left: the next one at 75
      await Bun.sleep(25);
      expect(collections).toEqual([70]);
      heap = 75;
      await Bun.sleep(25);
      expect(collections).toEqual([70, 75]);
    } finally {
      governor.stop();
    }
  });

  test("heap growth of edenGrowthBytes runs a young collection, counted from the last collection of either kind", async () => {
    let heap = 100;
    let rss = 100;
    const young: number[] = [];
    const full: number[] = [];
    const governor = startHeapGovernor({
      limitBytes: 1_000,
      regrowthBytes: 1,
      heapGrowthBytes: 50,
      edenGrowthBytes: 10,
      intervalMs: 2,
      usage: () => ({ rss, heapTotal: heap }),
      collect: () => {
        full.push(heap);
        heap = 100;
        rss = 100;
      },
      collectYoung: () => {
        young.push(heap);
        heap -= 2; // a young collection frees objects, rarely blocks
      },
    });
    try {
      heap = 109;
      await Bun.sleep(25);
      expect(young).toEqual([]);
      heap = 110;
      await Bun.sleep(25);
      expect(young).toEqual([110]);
      // 108 left: the next one at 118, not at 120.
      heap = 117;
      await Bun.sleep(25);
      expect(young).toEqual([110]);
      heap = 118;
      await Bun.sleep(25);
      expect(young).toEqual([110, 118]);
      // The resident size at the limit wins over a young collection, and the count restarts from what the full one left.
      rss = 1_000;
      heap = 130;
      await Bun.sleep(25);
      expect(full).toEqual([130]);
      expect(young).toEqual([110, 118]);
      heap = 109;
      await Bun.sleep(25);
      expect(young).toEqual([110, 118]);
      expect(governor.collections).toBe(1);
    } finally {
      governor.stop();
    }
  });

  test("edenGrowthBytes 0 runs no young collections", async () => {
    let heap = 0;
    const young: number[] = [];
    const governor = startHeapGovernor({
      limitBytes: 1_000_000,
      edenGrowthBytes: 0,
      intervalMs: 2,
      usage: () => ({ rss: 0, heapTotal: heap }),
      collect: () => {},
      collectYoung: () => young.push(heap),
    });
    try {
      heap = 1_000;
      await Bun.sleep(25);
      expect(young).toEqual([]);
    } finally {
      governor.stop();
    }
  });

  test("by default reads the process's resident size, so memory held past the limit is collected within a few checks", async () => {
    let collected = 0;
    const limitBytes = process.memoryUsage.rss() + 16 * 1024 * 1024;
    const governor = startHeapGovernor({
      limitBytes,
      intervalMs: 5,
      collect: () => {
        collected += 1;
        Bun.gc(true);
      },
    });
    try {
      // About 40 MB of objects kept alive: the resident size passes the limit.
      const kept: Array<{ i: number; s: string }> = [];
      for (let i = 0; i < 500_000; i++) kept.push({ i, s: `item ${i}` });
      await Bun.sleep(60);
      expect(kept.length).toBe(500_000);
      expect(process.memoryUsage.rss()).toBeGreaterThan(limitBytes);
      expect(collected).toBeGreaterThanOrEqual(1);
    } finally {
      governor.stop();
    }
  });
});

describe("health probe", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  test("leaves no pending timer behind once answered", async () => {
    const timers = () => {
      Bun.gc(true);
      return heapStats().objectTypeCounts.Timeout ?? 0;
    };
    for (let i = 0; i < 5; i++) expect((await svc.request("GET", "/api/health")).status).toBe(200);
    const before = timers();
    for (let i = 0; i < 200; i++) expect((await svc.request("GET", "/api/health")).status).toBe(200);
    // Before the fix every probe left its 3 s timer pending: 200 more Timeout objects.
    expect(timers() - before).toBeLessThan(20);
  });
});
