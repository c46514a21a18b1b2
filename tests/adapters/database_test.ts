import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyring, cryptoRandom } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { MikroCustomers, MikroLicenses, MikroPlans, MikroSiteActivations } from "../../src/adapters/db/licensing_repos.ts";
import { openDatabase, schemaDiff, type Db } from "../../src/adapters/db/orm.ts";
import { DbAuditLog, DbThrottle, DbUsageLedger } from "../../src/adapters/db/support_repos.ts";
import { QuotaCounterRow } from "../../src/adapters/db/schema.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { issueLicense, licenseKeyDigest } from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";
import { TestClock } from "../support/app.ts";
import { runDbWorker, TEST_DIALECT, testDb, throwawayTarget } from "../support/db.ts";

function repos(db: Db) {
  return {
    plans: new MikroPlans(db, 0),
    customers: new MikroCustomers(db),
    licenses: new MikroLicenses(db),
    sites: new MikroSiteActivations(db),
    audit: new DbAuditLog(db),
    throttle: new DbThrottle(db),
    usage: new DbUsageLedger(db),
  };
}

describe(`database on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;
  let r: ReturnType<typeof repos>;
  const clock = new TestClock();

  async function deps() {
    return { ...r, keyring: await createKeyring({ current: new Uint8Array(32).fill(3) }), random: cryptoRandom, clock };
  }

  beforeAll(async () => {
    ctx = await testDb({ shared: true });
    r = repos(ctx.db);
    await r.plans.seed(DEFAULT_PLANS, clock.now());
  });
  afterAll(async () => ctx.cleanup());

  test("the migrated schema matches the entities exactly (no drift between schema.ts and the migrations)", async () => {
    expect(await schemaDiff(ctx.db)).toBe("");
  });

  test("seeding plans twice keeps one row per plan and the admins' edits", async () => {
    expect(await r.plans.seed(DEFAULT_PLANS, clock.now())).toEqual([]);
    const plans = await r.plans.list();
    expect(plans.map((p) => p.name)).toEqual(["starter", "pro", "agency", "founders"]);
    const pro = plans.find((p) => p.name === "pro")!;
    expect(pro.priceEur).toBe(7.99);
    expect(pro.limits).toEqual({ monthlyRequests: 1000, requestsPerMinute: 10, requestsPerHour: 200, monthlyBudgetEur: 4, maxSites: 3 });
    expect(plans.find((p) => p.name === "founders")!.lifetimeCap).toBe(500);
  });

  test("20 concurrent activations of different sites on a 3-seat license end with exactly 3 seats taken", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "seats@example.com", planName: "pro", actor: CLI_ACTOR });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => r.sites.activate(issued.license.id, `site${i}.example.com`, 3, clock.now())),
    );
    expect(results.filter((x) => x.kind === "activated")).toHaveLength(3);
    expect(results.filter((x) => x.kind === "limit_reached")).toHaveLength(17);
    expect(await r.sites.activeFor(issued.license.id)).toHaveLength(3);
  });

  test("two service instances on one database cannot oversubscribe seats together", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "two-instances@example.com", planName: "pro", actor: CLI_ACTOR });
    const hosts = Array.from({ length: 20 }, (_, i) => `multi${i}.example.com`);
    const [theirs, ours] = await Promise.all([
      runDbWorker({ op: "activate", target: ctx.target, licenseId: issued.license.id, hosts: hosts.slice(0, 10), maxSites: 3, now: clock.now().toISOString() }),
      Promise.all(hosts.slice(10).map((h) => r.sites.activate(issued.license.id, h, 3, clock.now()))),
    ]);
    const kinds = [...(theirs as string[]), ...ours.map((x) => x.kind)];
    expect(kinds.filter((k) => k === "activated")).toHaveLength(3);
    expect(kinds.filter((k) => k === "limit_reached")).toHaveLength(17);
    expect(await r.sites.activeFor(issued.license.id)).toHaveLength(3);
  });

  test("concurrent re-activations of one site take one seat", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "same-site@example.com", planName: "pro", actor: CLI_ACTOR });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => r.sites.activate(issued.license.id, "shop.example.com", 3, clock.now())),
    );
    expect(results.filter((x) => x.kind === "activated")).toHaveLength(1);
    expect(results.filter((x) => x.kind === "already_active")).toHaveLength(9);
    expect(await r.sites.activeFor(issued.license.id)).toHaveLength(1);
  });

  test("a released site can be activated again and keeps one row", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "release@example.com", planName: "pro", actor: CLI_ACTOR });
    await r.sites.activate(issued.license.id, "a.example.com", 3, clock.now());
    expect(await r.sites.deactivate(issued.license.id, "a.example.com", clock.now())).toBe(true);
    expect(await r.sites.deactivate(issued.license.id, "a.example.com", clock.now())).toBe(false);
    expect(await r.sites.activeFor(issued.license.id)).toHaveLength(0);
    const again = await r.sites.activate(issued.license.id, "a.example.com", 3, clock.now());
    expect(again.kind).toBe("activated");
    expect(await r.sites.activeFor(issued.license.id)).toHaveLength(1);
  });

  test("the founders cap holds when many lifetime licenses are sold at once", async () => {
    const d = await deps();
    const founders = (await r.plans.byName("founders"))!;
    await ctx.db.orm.em.fork().getConnection().execute("update plans set lifetime_cap = 3 where id = ?", [founders.id]);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => issueLicense(d, { email: `founder${i}@example.com`, planName: "founders", actor: CLI_ACTOR })),
    );
    const sold = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(sold).toHaveLength(3);
    expect(refused).toHaveLength(5);
    for (const o of refused) expect((o.reason as DomainError).code).toBe("limit_reached");
    for (const o of sold) expect((o as PromiseFulfilledResult<Awaited<ReturnType<typeof issueLicense>>>).value.license.expiresAt).toBeNull();
  });

  test("customers are unique by e-mail whatever its case, even when created concurrently", async () => {
    const emails = ["Race@Example.com", "race@example.com", "RACE@EXAMPLE.COM", "race@Example.COM"];
    const results = await Promise.all(emails.map((email) => r.customers.findOrCreate({ email: email.toLowerCase(), name: "race" }, clock.now())));
    expect(new Set(results.map((x) => x.customer.id)).size).toBe(1);
    expect(results.filter((x) => x.created)).toHaveLength(1);
    const d = await deps();
    const issued = await issueLicense(d, { email: "  RACE@example.COM ", planName: "pro", actor: CLI_ACTOR });
    expect(issued.customer.id).toBe(results[0].customer.id);
    expect(issued.customerCreated).toBe(false);
  });

  test("license keys are stored only as a digest and a sealed copy that opens with the keyring", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "sealed@example.com", planName: "agency", actor: CLI_ACTOR });
    const row = (await r.licenses.byDigest(await licenseKeyDigest(issued.licenseKey)))!;
    expect(row.keySealed).not.toContain(issued.licenseKey);
    expect(row.keySealed.startsWith("v1.")).toBe(true);
    expect(await d.keyring.open(row.keySealed, "license_key")).toBe(issued.licenseKey);
    const rows = await ctx.db.orm.em.fork().getConnection().execute("select * from licenses");
    expect(JSON.stringify(rows)).not.toContain(issued.licenseKey);
  });

  test("throttle windows count hits across instances and restart when the window ends", async () => {
    {
      const now = clock.now();
      const [theirs, ours] = await Promise.all([
        runDbWorker({ op: "throttle", target: ctx.target, bucket: "t:1", times: 5, windowMs: 60_000, now: now.toISOString() }),
        Promise.all(Array.from({ length: 5 }, () => r.throttle.hit("t:1", 60_000, now))),
      ]);
      const hits = [...(theirs as number[]), ...ours.map((h) => h.hits)];
      expect(hits.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect((await r.throttle.peek("t:1", now))!.hits).toBe(10);
      const later = new Date(now.getTime() + 60_001);
      expect(await r.throttle.peek("t:1", later)).toBeNull();
      const fresh = await r.throttle.hit("t:1", 60_000, later);
      expect(fresh.hits).toBe(1);
      expect(fresh.resetAt.getTime()).toBe(later.getTime() + 60_000);
    }
  });

  test("search treats _ and % as text and ignores case, for customers and for licenses", async () => {
    const d = await deps();
    const a = await issueLicense(d, { email: "mario_rossi@example.com", planName: "pro", actor: CLI_ACTOR });
    await issueLicense(d, { email: "marioXrossi@example.com", planName: "pro", actor: CLI_ACTOR });
    await r.customers.findOrCreate({ email: "fifty@example.com", name: "Shop 50% off" }, clock.now());
    const emails = async (q: string) => (await r.customers.list({ offset: 0, limit: 50, search: q })).items.map((c) => c.email);
    expect(await emails("MARIO_")).toEqual(["mario_rossi@example.com"]);
    expect(await emails("50%")).toEqual(["fifty@example.com"]);
    expect((await emails("mario")).sort()).toEqual(["mario_rossi@example.com", "marioxrossi@example.com"]);
    const byEmail = await r.licenses.list({ offset: 0, limit: 50, search: "mario_rossi" });
    expect(byEmail.items.map((l) => l.id)).toEqual([a.license.id]);
    const byPrefix = await r.licenses.list({ offset: 0, limit: 50, search: a.license.keyPrefix.toLowerCase() });
    expect(byPrefix.total).toBe(1);
    expect(byPrefix.items[0].id).toBe(a.license.id);
  });

  test("month usage reads the month's quota counter", async () => {
    const d = await deps();
    const issued = await issueLicense(d, { email: "usage@example.com", planName: "pro", actor: CLI_ACTOR });
    const month = new Date(Date.UTC(2026, 2, 1));
    expect(await r.usage.monthToDate(issued.license.id, month)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    const em = ctx.db.orm.em.fork();
    em.create(QuotaCounterRow, {
      license: issued.license.id, period: "month", periodStart: month, requests: 12,
      tokens: 3456, costEur: 0.0123, updatedAt: clock.now(),
    });
    await em.flush();
    expect(await r.usage.monthToDate(issued.license.id, month)).toEqual({ requests: 12, tokens: 3456, costEur: 0.0123 });
  });
});

describe(`restart on ${TEST_DIALECT}`, () => {
  test("closing and reopening the database keeps every license, customer and site", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chatello-restart-"));
    const { target, drop } = await throwawayTarget(join(dir, "chatello.db"));
    const clock = new TestClock();
    const keyring = await createKeyring({ current: new Uint8Array(32).fill(9) });
    try {
      let db = await openDatabase(target);
      let r = repos(db);
      await r.plans.seed(DEFAULT_PLANS, clock.now());
      const issued = await issueLicense(
        { ...r, keyring, random: cryptoRandom, clock },
        { email: "restart@example.com", planName: "pro", domain: "shop.example.com", actor: CLI_ACTOR },
      );
      await db.close();

      db = await openDatabase(target);
      r = repos(db);
      const license = await r.licenses.byDigest(await licenseKeyDigest(issued.licenseKey));
      expect(license?.id).toBe(issued.license.id);
      expect(license?.domain).toBe("shop.example.com");
      expect((await r.sites.activeFor(issued.license.id)).map((s) => s.host)).toEqual(["shop.example.com"]);
      expect((await r.customers.findByEmail("restart@example.com"))?.id).toBe(issued.customer.id);
      expect(await keyring.open(license!.keySealed, "license_key")).toBe(issued.licenseKey);
      expect(await r.plans.seed(DEFAULT_PLANS, clock.now())).toEqual([]);
      await db.close();
    } finally {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
