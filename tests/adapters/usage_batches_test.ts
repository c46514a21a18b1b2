// Usage events are written in multi-row INSERTs. Their SQL must come in a few fixed shapes: one text per
// batch size filled SQLite's statement cache with hundreds of statements of a few hundred kilobytes each
// (the service's resident memory grew by 12 MB per minute of chat traffic).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKeyring, cryptoRandom } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { MikroCustomers, MikroLicenses, MikroPlans, MikroSiteActivations } from "../../src/adapters/db/licensing_repos.ts";
import { MAX_ROWS_PER_INSERT, multiRowInserts, rawQuery } from "../../src/adapters/db/_support.ts";
import { BatchedUsageRecorder } from "../../src/adapters/db/proxy_repos.ts";
import { DbAuditLog } from "../../src/adapters/db/support_repos.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { issueLicense } from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import type { UsageEvent } from "../../src/domain/usage/mod.ts";
import { TestClock } from "../support/app.ts";
import { TEST_DIALECT, testDb } from "../support/db.ts";

describe("multiRowInserts", () => {
  test("any number of rows goes in statements of 32, 16, 8, 4, 2 or 1 rows, in order, with every parameter", () => {
    const texts = new Set<string>();
    for (let n = 0; n <= 300; n++) {
      const rows = Array.from({ length: n }, (_, i) => [i, `r${i}`]);
      const statements = multiRowInserts("insert into t (a, b) values", "(?, ?)", rows, "on conflict do nothing");
      const sizes = statements.map((s) => s.params.length / 2);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
      for (const size of sizes) expect([1, 2, 4, 8, 16, 32]).toContain(size);
      // Largest first, so a batch takes as few statements as it can.
      expect([...sizes].sort((a, b) => b - a)).toEqual(sizes);
      expect(statements.flatMap((s) => s.params)).toEqual(rows.flat());
      for (const s of statements) {
        expect(s.sql.match(/\(\?, \?\)/g)?.length).toBe(s.params.length / 2);
        expect(s.sql.endsWith(" on conflict do nothing")).toBe(true);
        texts.add(s.sql);
      }
    }
    expect(MAX_ROWS_PER_INSERT).toBe(32);
    expect(texts.size).toBe(6);
  });
});

describe(`usage batches on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;
  const clock = new TestClock();

  beforeAll(async () => {
    ctx = await testDb();
    await new MikroPlans(ctx.db, 0).seed(DEFAULT_PLANS, clock.now());
  });
  afterAll(async () => ctx.cleanup());

  /** A new license and a maker of its usage events (the i-th has i completion tokens and user agent "agent i"). */
  async function licenseWithEvents(email: string) {
    const db = ctx.db;
    const deps = {
      plans: new MikroPlans(db, 0),
      customers: new MikroCustomers(db),
      licenses: new MikroLicenses(db),
      sites: new MikroSiteActivations(db),
      audit: new DbAuditLog(db),
      keyring: await createKeyring({ current: new Uint8Array(32).fill(5) }),
      random: cryptoRandom,
      clock,
    };
    const { license } = await issueLicense(deps, { email, planName: "pro", actor: CLI_ACTOR });
    const event = (i: number): UsageEvent => ({
      licenseId: license.id,
      customerId: null,
      provider: "openai",
      model: i % 3 === 0 ? "gpt-4o" : "gpt-4o-mini",
      endpoint: "/api/chat",
      promptTokens: 10,
      completionTokens: i,
      cachedTokens: 0,
      costEur: 0.000001,
      priceSnapshot: null,
      estimated: false,
      byok: false,
      upstreamMs: 5,
      totalMs: 6,
      outcome: i % 10 === 0 ? "error" : "ok",
      errorCode: null,
      clientIp: "203.0.113.7",
      userAgent: `agent ${i}`,
      createdAt: clock.now(),
    });
    const stored = async () => {
      const [row] = await rawQuery(db, "select count(*) as n, count(distinct user_agent) as agents from usage_events where license_id = ?", [license.id]);
      const [daily] = await rawQuery(db, "select sum(requests) as n from usage_daily where license_id = ?", [license.id]);
      return { events: Number(row.n), distinct: Number(row.agents), daily: Number(daily.n ?? 0) };
    };
    return { license, event, stored };
  }

  test("batches of every size write every event and add up in the daily totals", async () => {
    const db = ctx.db;
    const { license, event } = await licenseWithEvents("batches@example.com");
    const recorder = new BatchedUsageRecorder(db, { intervalMs: 60_000, batchSize: 1000 });
    let i = 0;
    for (const size of [1, 2, 3, 31, 32, 33, 63, 64, 65, 200, 7]) {
      for (let k = 0; k < size; k++) recorder.record(event(i++));
      await recorder.flush();
    }
    await recorder.close();

    const [count] = await rawQuery(db, "select count(*) as n, sum(completion_tokens) as c from usage_events where license_id = ?", [license.id]);
    expect(Number(count.n)).toBe(i);
    expect(Number(count.c)).toBe((i * (i - 1)) / 2);
    const agents = await rawQuery(db, "select user_agent from usage_events where license_id = ? order by id", [license.id]);
    expect(agents.map((r: { user_agent: string }) => r.user_agent)).toEqual(Array.from({ length: i }, (_, k) => `agent ${k}`));
    const daily = await rawQuery(db, "select model, requests, errors, completion_tokens from usage_daily where license_id = ? order by model", [license.id]);
    const expected = (model: string) => {
      const ks = Array.from({ length: i }, (_, k) => k).filter((k) => (k % 3 === 0 ? "gpt-4o" : "gpt-4o-mini") === model);
      return { model, requests: ks.length, errors: ks.filter((k) => k % 10 === 0).length, completion_tokens: ks.reduce((a, b) => a + b, 0) };
    };
    expect(daily.map((r: Record<string, unknown>) => ({ model: r.model, requests: Number(r.requests), errors: Number(r.errors), completion_tokens: Number(r.completion_tokens) }))).toEqual([
      expected("gpt-4o"),
      expected("gpt-4o-mini"),
    ]);
  });

  test("a batch written again under its id (a retry after a COMMIT whose answer was lost) is stored once", async () => {
    const { event, stored } = await licenseWithEvents("twice@example.com");
    const recorder = new BatchedUsageRecorder(ctx.db, { intervalMs: 60_000 });
    const batch = { id: "0123456789abcdef0123456789abcdef", events: Array.from({ length: 40 }, (_, i) => event(i)) };
    await recorder.write(batch);
    await recorder.write(batch);
    await recorder.close();
    expect(await stored()).toEqual({ events: 40, distinct: 40, daily: 40 });
    expect(await rawQuery(ctx.db, "select events from usage_batches where id = ?", [batch.id])).toEqual([{ events: 40 }]);
  });

  test("a failed batch is retried whole under its id before newer events, and nothing is lost or written twice", async () => {
    const { event, stored } = await licenseWithEvents("retried@example.com");
    const written: Array<{ id: string; first: number; size: number }> = [];
    const errors: unknown[] = [];
    let loseNextAnswer = true;
    // The first write commits, then its answer is lost, as when the connection drops during COMMIT.
    class LosingRecorder extends BatchedUsageRecorder {
      override async write(batch: { id: string; events: UsageEvent[] }): Promise<void> {
        written.push({ id: batch.id, first: Number(batch.events[0].completionTokens), size: batch.events.length });
        await super.write(batch);
        if (loseNextAnswer) {
          loseNextAnswer = false;
          throw new Error("connection lost during COMMIT");
        }
      }
    }
    const recorder = new LosingRecorder(ctx.db, { intervalMs: 60_000, batchSize: 10, onError: (error) => errors.push(error) });
    for (let i = 0; i < 7; i++) recorder.record(event(i));
    await expect(recorder.flush()).rejects.toThrow("connection lost");
    expect(errors).toHaveLength(1);
    // Newer events queue behind the failed batch, which keeps its seven events and its id.
    for (let i = 7; i < 25; i++) recorder.record(event(i));
    expect(recorder.pending).toBe(25);
    await recorder.flush();
    expect(recorder.pending).toBe(0);
    expect(written.map(({ first, size }) => ({ first, size }))).toEqual([
      { first: 0, size: 7 },
      { first: 0, size: 7 },
      { first: 7, size: 10 },
      { first: 17, size: 8 },
    ]);
    expect(written[1].id).toBe(written[0].id);
    expect(new Set(written.map((w) => w.id)).size).toBe(3);
    expect(await stored()).toEqual({ events: 25, distinct: 25, daily: 25 });
    await recorder.close();
  });

  test("housekeeping forgets the ids of batches older than the cut-off", async () => {
    const { event } = await licenseWithEvents("sweep@example.com");
    const recorder = new BatchedUsageRecorder(ctx.db, { intervalMs: 60_000 });
    await recorder.write({ id: "a".repeat(32), events: [event(1)] });
    const cutoff = new Date(Date.now() + 60_000);
    expect(await recorder.sweepBatchIds(cutoff)).toBeGreaterThanOrEqual(1);
    expect(await rawQuery(ctx.db, "select id from usage_batches where id = ?", ["a".repeat(32)])).toEqual([]);
    await recorder.close();
  });
});
