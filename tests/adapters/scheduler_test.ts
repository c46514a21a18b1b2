// Scheduled jobs on a shared database: leases make each job run once per period across instances, a
// crashed holder's lease expires, and every job is idempotent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sqlDate } from "../../src/adapters/db/_support.ts";
import { DbJobLeases } from "../../src/adapters/db/job_leases.ts";
import { DbOutbox } from "../../src/adapters/db/outbox_repo.ts";
import { createJobs, JOB_NAMES } from "../../src/app/jobs.ts";
import { startScheduler, type JobDefinition } from "../../src/app/scheduler.ts";
import type { UsageEvent } from "../../src/domain/usage/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("scheduler", () => {
  let svc: TestService;
  const exec = (sql: string, params: unknown[] = []) => svc.services.db.orm.em.getConnection().execute(sql, params) as Promise<Array<Record<string, unknown>>>;
  const count = async (sql: string, params: unknown[] = []) => Number((await exec(sql, params))[0].n);
  const setExpiry = (licenseId: number, at: Date) =>
    exec("update licenses set expires_at = ? where id = ?", [sqlDate(svc.services.db, at), licenseId]);
  const jobNamed = (name: string, jobs: JobDefinition[]) => jobs.find((j) => j.name === name)!;

  beforeAll(async () => {
    svc = await startTestService(); // clock: 2026-03-15 12:00 UTC
  });
  afterAll(async () => {
    await svc.close();
  });

  test("two schedulers racing on the same job run it exactly once per period", async () => {
    let runs = 0;
    const job: JobDefinition = {
      name: "race_test",
      everyMs: HOUR,
      async run() {
        runs += 1;
        await Bun.sleep(20);
        return { runs };
      },
    };
    const a = startScheduler({ db: svc.services.db, clock: svc.clock, jobs: [job], holder: "instance-a", tickMs: 3_600_000 });
    const b = startScheduler({ db: svc.services.db, clock: svc.clock, jobs: [job], holder: "instance-b", tickMs: 3_600_000 });
    try {
      await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
      expect(runs).toBe(1);
      // Within the period nobody runs it again, not even after the winner released the lease.
      svc.clock.advance(30 * MINUTE);
      await Promise.all([a.runDue(), b.runDue()]);
      expect(runs).toBe(1);
      // Next period: once more, by one of them.
      svc.clock.advance(31 * MINUTE);
      await Promise.all([b.runDue(), a.runDue()]);
      expect(runs).toBe(2);
      const lease = (await new DbJobLeases(svc.services.db).list()).find((l) => l.job === "race_test")!;
      expect(lease.lastOutcome).toBe("ok");
      expect(lease.holder).toBeNull();
      expect(lease.lastDetails).toEqual({ runs: 2 });
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("a crashed holder's lease expires and another instance takes over", async () => {
    const leases = new DbJobLeases(svc.services.db);
    const now = svc.clock.now();
    expect(await leases.tryAcquire("crash_test", "crashed", 10 * MINUTE, now)).toBe(true);
    // The holder died without finishing; a live instance cannot take the lease before it expires.
    expect(await leases.tryAcquire("crash_test", "survivor", 10 * MINUTE, new Date(now.getTime() + 9 * MINUTE))).toBe(false);
    expect(await leases.tryAcquire("crash_test", "survivor", 10 * MINUTE, new Date(now.getTime() + 10 * MINUTE))).toBe(true);
    // The crashed holder, back, cannot record an outcome over the new holder.
    expect(await leases.finish("crash_test", "crashed", "ok", {}, new Date(now.getTime() + 11 * MINUTE))).toBe(false);
    expect(await leases.finish("crash_test", "survivor", "ok", { done: true }, new Date(now.getTime() + 11 * MINUTE))).toBe(true);
    const lease = (await leases.list()).find((l) => l.job === "crash_test")!;
    expect(lease).toMatchObject({ holder: null, lastOutcome: "ok", lastDetails: { done: true } });
  });

  test("a failing job records outcome error with its message only", async () => {
    const s = startScheduler({
      db: svc.services.db,
      clock: svc.clock,
      holder: "instance-a",
      tickMs: 3_600_000,
      jobs: [{ name: "fail_test", everyMs: HOUR, run: async () => { throw new Error("upstream said no"); } }],
    });
    await s.runDue();
    await s.stop();
    const lease = (await new DbJobLeases(svc.services.db).list()).find((l) => l.job === "fail_test")!;
    expect(lease.lastOutcome).toBe("error");
    expect(lease.lastDetails).toEqual({ error: "upstream said no" });
  });

  test("stop waits for a running job", async () => {
    let finished = false;
    const s = startScheduler({
      db: svc.services.db,
      clock: svc.clock,
      tickMs: 3_600_000,
      jobs: [{ name: "slow_test", everyMs: HOUR, run: async () => { await Bun.sleep(50); finished = true; return {}; } }],
    });
    void s.runDue();
    await Bun.sleep(5);
    await s.stop();
    expect(finished).toBe(true);
  });

  test("the expiry sweep marks expired licenses and queues one mail even when run twice", async () => {
    const outbox = new DbOutbox(svc.services.db);
    const jobs = createJobs(svc.services, { retentionDays: 90, outbox, publicUrl: "https://chatello.example" });
    const sweep = jobNamed(JOB_NAMES.expirySweep, jobs);
    const now = svc.clock.now();
    const past = await svc.issue({ term: { months: 1 } });
    const future = await svc.issue({ term: { months: 1 } });
    const suspended = await svc.issue({ term: { months: 1 } });
    await svc.setStatus(suspended.key, "suspend");
    await setExpiry(past.licenseId, new Date(now.getTime() - MINUTE));
    await setExpiry(future.licenseId, new Date(now.getTime() + 30 * DAY));
    await setExpiry(suspended.licenseId, new Date(now.getTime() - MINUTE));

    expect(await sweep.run(now)).toMatchObject({ expired: 1, mails_queued: 1 });
    expect(await sweep.run(now)).toMatchObject({ expired: 0, mails_queued: 0 });
    expect((await svc.services.licenses.byId(past.licenseId))!.status).toBe("expired");
    expect((await svc.services.licenses.byId(future.licenseId))!.status).toBe("active");
    expect((await svc.services.licenses.byId(suspended.licenseId))!.status).toBe("suspended");
    expect(await count("select count(*) as n from mail_outbox where kind = 'license_expired'")).toBe(1);
    expect(await count("select count(*) as n from audit_log where action = 'license.expired' and target_id = ? and actor_type = 'system'", [String(past.licenseId)])).toBe(1);
    const [mail] = await exec("select dedupe_key, text_body from mail_outbox where kind = 'license_expired'");
    expect(String(mail.dedupe_key)).toStartWith(`expired:license:${past.licenseId}:`);
    expect(String(mail.text_body)).not.toContain(past.key);
  });

  test("reminders queue one license_expiring mail per license expiring within 7 days", async () => {
    const outbox = new DbOutbox(svc.services.db);
    const reminders = jobNamed(JOB_NAMES.expiryReminders, createJobs(svc.services, { retentionDays: 90, outbox }));
    const now = svc.clock.now();
    const soon = await svc.issue({ term: { months: 1 } });
    const later = await svc.issue({ term: { months: 1 } });
    await setExpiry(soon.licenseId, new Date(now.getTime() + 6 * DAY));
    await setExpiry(later.licenseId, new Date(now.getTime() + 8 * DAY));

    expect(await reminders.run(now)).toEqual({ reminded: 1 });
    expect(await reminders.run(new Date(now.getTime() + HOUR))).toEqual({ reminded: 0 });
    const rows = await exec("select dedupe_key from mail_outbox where kind = 'license_expiring'");
    expect(rows.map((r) => String(r.dedupe_key))).toEqual([`expiring_7d:license:${soon.licenseId}:${new Date(now.getTime() + 6 * DAY).toISOString()}`]);
  });

  test("retention deletes raw usage events older than the retention but keeps usage_daily", async () => {
    const { licenseId, customerId } = await svc.issue({});
    const now = svc.clock.now();
    const event = (createdAt: Date): UsageEvent => ({
      licenseId, customerId, provider: "openai", model: "gpt-4o-mini", endpoint: "chat", promptTokens: 10, completionTokens: 5,
      cachedTokens: 0, costEur: 0.001, priceSnapshot: null, estimated: false, byok: false, upstreamMs: 100, totalMs: 120,
      outcome: "ok", errorCode: null, clientIp: null, userAgent: null, createdAt,
    });
    for (let i = 0; i < 3; i++) svc.services.usageRecorder.record(event(new Date(now.getTime() - 100 * DAY - i * MINUTE)));
    svc.services.usageRecorder.record(event(new Date(now.getTime() - 10 * DAY)));
    await svc.services.usageRecorder.flush();
    const dailyBefore = await count("select count(*) as n from usage_daily where license_id = ?", [licenseId]);
    expect(dailyBefore).toBe(2);

    const retention = jobNamed(JOB_NAMES.usageRetention, createJobs(svc.services, { retentionDays: 90 }));
    expect(await retention.run(now)).toMatchObject({ deleted: 3 });
    expect(await retention.run(now)).toMatchObject({ deleted: 0 });
    expect(await count("select count(*) as n from usage_events where license_id = ?", [licenseId])).toBe(1);
    expect(await count("select count(*) as n from usage_daily where license_id = ?", [licenseId])).toBe(dailyBefore);
  });

  test("housekeeping deletes expired reservations, throttle windows, admin sessions and day-old usage batch ids", async () => {
    const now = svc.clock.now();
    await svc.services.throttle.hit("invalid_key:192.0.2.9", MINUTE, new Date(now.getTime() - HOUR));
    const housekeeping = jobNamed(JOB_NAMES.housekeeping, createJobs(svc.services, { retentionDays: 90 }));
    const details = await housekeeping.run(now);
    expect(details.throttle_windows).toBeGreaterThanOrEqual(1);
    expect(await count("select count(*) as n from throttle_buckets where bucket = 'invalid_key:192.0.2.9'")).toBe(0);
    expect(details).toHaveProperty("quota_reservations");
    expect(details).toHaveProperty("admin_sessions");

    // Written usage batches keep their ids (written at the real time) for a day, then housekeeping forgets them.
    const { licenseId, customerId } = await svc.issue({});
    svc.services.usageRecorder.record({
      licenseId, customerId, provider: "openai", model: "gpt-4o-mini", endpoint: "chat", promptTokens: 1, completionTokens: 1,
      cachedTokens: 0, costEur: 0, priceSnapshot: null, estimated: false, byok: false, upstreamMs: 1, totalMs: 1,
      outcome: "ok", errorCode: null, clientIp: null, userAgent: null, createdAt: now,
    });
    await svc.services.usageRecorder.flush();
    expect(await count("select count(*) as n from usage_batches")).toBeGreaterThanOrEqual(1);
    expect((await housekeeping.run(new Date(Date.now() + DAY - MINUTE))).usage_batch_ids).toBe(0);
    expect((await housekeeping.run(new Date(Date.now() + DAY + MINUTE))).usage_batch_ids).toBeGreaterThanOrEqual(1);
    expect(await count("select count(*) as n from usage_batches")).toBe(0);
  });

  test("the real jobs run through the scheduler once across two instances", async () => {
    const outbox = new DbOutbox(svc.services.db);
    const jobs = createJobs(svc.services, { retentionDays: 90, outbox });
    const a = startScheduler({ db: svc.services.db, clock: svc.clock, jobs, holder: "a", tickMs: 3_600_000 });
    const b = startScheduler({ db: svc.services.db, clock: svc.clock, jobs, holder: "b", tickMs: 3_600_000 });
    await Promise.all([a.runDue(), b.runDue()]);
    await Promise.all([a.stop(), b.stop()]);
    const leases = await new DbJobLeases(svc.services.db).list();
    for (const name of Object.values(JOB_NAMES)) {
      expect(leases.find((l) => l.job === name)).toMatchObject({ lastOutcome: "ok", holder: null });
    }
  });
});
