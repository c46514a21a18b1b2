// The validation read (license, active sites and month usage in one statement) must answer exactly what the
// three separate reads answer, on each database (only MariaDB uses it: there it saves two round trips).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKeyring, cryptoRandom } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { MikroCustomers, MikroLicenses, MikroPlans, MikroSiteActivations } from "../../src/adapters/db/licensing_repos.ts";
import { rawQuery, sqlDate } from "../../src/adapters/db/_support.ts";
import { DbAuditLog, DbUsageLedger } from "../../src/adapters/db/support_repos.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { issueLicense } from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import { monthStart } from "../../src/domain/usage/mod.ts";
import { TestClock } from "../support/app.ts";
import { TEST_DIALECT, testDb } from "../support/db.ts";

describe(`validation read on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;
  const clock = new TestClock();
  let licenses: MikroLicenses;
  let sites: MikroSiteActivations;
  let usage: DbUsageLedger;
  let issue: (email: string) => ReturnType<typeof issueLicense>;

  beforeAll(async () => {
    ctx = await testDb();
    const db = ctx.db;
    const plans = new MikroPlans(db, 0);
    await plans.seed(DEFAULT_PLANS, clock.now());
    licenses = new MikroLicenses(db);
    sites = new MikroSiteActivations(db);
    usage = new DbUsageLedger(db);
    const deps = {
      plans,
      customers: new MikroCustomers(db),
      licenses,
      sites,
      audit: new DbAuditLog(db),
      keyring: await createKeyring({ current: new Uint8Array(32).fill(9) }),
      random: cryptoRandom,
      clock,
    };
    issue = (email) => issueLicense(deps, { email, planName: "agency", actor: CLI_ACTOR });
  });
  afterAll(async () => ctx.cleanup());

  async function separately(digest: string, month: Date) {
    const license = await licenses.byDigest(digest);
    if (!license) return null;
    return { license, reads: { sites: await sites.activeFor(license.id), usage: await usage.monthToDate(license.id, month), monthStart: month } };
  }

  test("a license with active, exempt and released sites and a month counter reads as the three reads do", async () => {
    const { license } = await issue("validation-read@example.com");
    const month = monthStart(clock.now());
    for (const host of ["shop.example.com", "staging.shop.example.com", "blog.example.org", "o'brien \"quoted\".example.net"]) {
      await sites.activate(license.id, host, 10, clock.now());
      clock.advance(1500);
    }
    expect(await sites.deactivate(license.id, "blog.example.org", clock.now())).toBe(true);
    await rawQuery(
      ctx.db,
      "insert into quota_counters (license_id, period, period_start, requests, tokens, cost_eur, updated_at) values (?, 'month', ?, 42, 12345, 1.234567, ?), (?, 'hour', ?, 7, 70, 0.5, ?)",
      [license.id, sqlDate(ctx.db, month), sqlDate(ctx.db, clock.now()), license.id, sqlDate(ctx.db, month), sqlDate(ctx.db, clock.now())],
    );

    const together = await licenses.readForValidation(license.keyDigest, month);
    expect(together).toEqual(await separately(license.keyDigest, month));
    expect(together!.reads.usage).toEqual({ requests: 42, tokens: 12345, costEur: 1.234567 });
    expect(together!.reads.sites.map((s) => [s.host, s.exempt])).toEqual([
      ["shop.example.com", false],
      ["staging.shop.example.com", true],
      ["o'brien \"quoted\".example.net", false],
    ]);
    // Activation times survive the JSON round trip to the millisecond.
    expect(together!.reads.sites[1].activatedAt.getTime() - together!.reads.sites[0].activatedAt.getTime()).toBe(1500);
  });

  test("another month, no sites and no counter read as zero usage and no sites", async () => {
    const { license } = await issue("validation-read-empty@example.com");
    const nextMonth = new Date(Date.UTC(2031, 0, 1));
    const together = await licenses.readForValidation(license.keyDigest, nextMonth);
    expect(together).toEqual(await separately(license.keyDigest, nextMonth));
    expect(together!.reads).toEqual({ sites: [], usage: { requests: 0, tokens: 0, costEur: 0 }, monthStart: nextMonth });
  });

  test("only MariaDB offers it to authentication (on SQLite the three reads cost less than the join)", () => {
    expect(typeof licenses.byDigestForValidation).toBe(TEST_DIALECT === "mariadb" ? "function" : "undefined");
  });

  test("an unknown digest reads as null", async () => {
    expect(await licenses.readForValidation("0".repeat(64), monthStart(clock.now()))).toBeNull();
  });
});
