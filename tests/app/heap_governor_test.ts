// The heap governor (src/app/heap_governor.ts) collects only after the heap grew by its threshold, and the
// health probe leaves no timer behind (each one used to hold a 3 s timer and its closure: megabytes under load).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { startHeapGovernor } from "../../src/app/heap_governor.ts";
import { startTestService, type TestService } from "../support/app.ts";

describe("heap governor", () => {
  test("collects once the heap grew by the threshold since the last collection, never while it stays below", async () => {
    let heap = 100;
    const collections: number[] = [];
    const governor = startHeapGovernor({
      intervalMs: 5,
      growthBytes: 50,
      size: () => heap,
      collect: () => {
        collections.push(heap);
        heap = 120; // what survived the collection becomes the new floor
      },
    });
    try {
      heap = 149;
      await Bun.sleep(40);
      expect(collections).toEqual([]);
      heap = 150;
      await Bun.sleep(40);
      expect(collections).toEqual([150]);
      // The floor is now 120: 169 stays below it plus the threshold, 170 does not.
      heap = 169;
      await Bun.sleep(40);
      expect(collections).toEqual([150]);
      heap = 170;
      await Bun.sleep(40);
      expect(collections).toEqual([150, 170]);
      expect(governor.collections).toBe(2);
    } finally {
      governor.stop();
    }
    const after = collections.length;
    heap = 10_000;
    await Bun.sleep(30);
    expect(collections.length).toBe(after);
  });

  test("by default watches the heap's blocks, so a heap that grows by megabytes is collected within a few checks", async () => {
    let collected = 0;
    const governor = startHeapGovernor({
      intervalMs: 5,
      collect: () => {
        collected += 1;
        Bun.gc(true);
      },
    });
    try {
      // About 30 MB of objects kept alive: the heap's blocks grow past the 10 MB default threshold.
      const kept: Array<{ i: number; s: string }> = [];
      for (let i = 0; i < 400_000; i++) kept.push({ i, s: `item ${i}` });
      await Bun.sleep(60);
      expect(kept.length).toBe(400_000);
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
