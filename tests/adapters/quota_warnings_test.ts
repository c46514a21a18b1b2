// The quota_warnings job: 80 % and 100 % of a plan's monthly requests or budget give one mail and one
// quota.warning webhook event per license, metric, threshold and month, however often the job runs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sqlDate } from "../../src/adapters/db/_support.ts";
import { DbWebhookEndpoints } from "../../src/adapters/db/webhook_repos.ts";
import { createJobs, JOB_NAMES } from "../../src/app/jobs.ts";
import { windowStart } from "../../src/domain/quota/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";

describe("quota warnings", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => svc.close());

  async function setMonth(licenseId: number, requests: number, costEur: number) {
    const conn = svc.services.db.orm.em.getConnection();
    const start = sqlDate(svc.services.db, windowStart("month", svc.clock.now()));
    await conn.execute("delete from quota_counters where license_id = ? and period = 'month'", [licenseId], "run");
    await conn.execute(
      "insert into quota_counters (license_id, period, period_start, requests, tokens, cost_eur, updated_at) values (?, 'month', ?, ?, 0, ?, ?)",
      [licenseId, start, requests, costEur, sqlDate(svc.services.db, svc.clock.now())],
      "run",
    );
  }

  async function mails(kind: string) {
    return (await svc.services.db.orm.em
      .getConnection()
      .execute("select recipient, dedupe_key from mail_outbox where kind = ? order by id", [kind])) as Array<{ recipient: string; dedupe_key: string }>;
  }

  async function warningDeliveries() {
    const rows = await svc.services.db.orm.em.getConnection().execute("select payload from webhook_deliveries where event_type = 'quota.warning'");
    return (rows as Array<{ payload: unknown }>).map((r) => (typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload));
  }

  test("80 % of the monthly requests sends one mail and one quota.warning event, even when the job runs twice", async () => {
    const endpoints = new DbWebhookEndpoints(svc.services.db, svc.services.keyring, svc.services.random);
    await endpoints.create({ url: "http://127.0.0.1:9/hook", events: ["quota.warning"], description: null }, svc.clock.now());
    const { licenseId } = await svc.issue({ email: "heavy@example.com", plan: "pro" });
    await setMonth(licenseId, 850, 0.5);
    const job = createJobs(svc.services, { retentionDays: 90, outbox: svc.services.outbox }).find((j) => j.name === JOB_NAMES.quotaWarnings)!;
    expect(await job.run(svc.clock.now())).toEqual({ warned: 1 });
    expect(await job.run(svc.clock.now())).toEqual({ warned: 0 });
    const sent = await mails("quota_80");
    expect(sent.map((m) => m.recipient)).toEqual(["heavy@example.com"]);
    expect(sent[0].dedupe_key).toContain(`quota_80:requests:license:${licenseId}:`);
    const events = await warningDeliveries();
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events[0])).toContain('"threshold":80');
  });

  test("crossing 100 % of the budget later sends the 100 % warning once more, and a license under 80 % gets nothing", async () => {
    const { licenseId } = await svc.issue({ email: "spender@example.com", plan: "pro" });
    const { licenseId: light } = await svc.issue({ email: "light@example.com", plan: "pro" });
    await setMonth(light, 10, 0.01);
    const job = createJobs(svc.services, { retentionDays: 90, outbox: svc.services.outbox }).find((j) => j.name === JOB_NAMES.quotaWarnings)!;
    await setMonth(licenseId, 10, 3.5);
    await job.run(svc.clock.now());
    await setMonth(licenseId, 10, 4.2);
    await job.run(svc.clock.now());
    await job.run(svc.clock.now());
    expect((await mails("quota_80")).filter((m) => m.recipient === "spender@example.com")).toHaveLength(1);
    expect((await mails("quota_100")).map((m) => m.recipient)).toEqual(["spender@example.com"]);
    expect([...(await mails("quota_80")), ...(await mails("quota_100"))].some((m) => m.recipient === "light@example.com")).toBe(false);
  });
});
