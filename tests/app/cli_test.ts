// The CLI as an operator runs it: `bun src/app/main.ts <command>` as a child process, on a throwaway
// database of the run's dialect (SQLite file, or MariaDB with TEST_DATABASE_URL=mariadb://...).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { keyIdOf } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { providerKeyContext } from "../../src/adapters/db/secret_repos.ts";
import { ProviderKeyRow } from "../../src/adapters/db/schema.ts";
import { licenseKeyDigest } from "../../src/domain/licensing/mod.ts";
import {
  createSandbox,
  LICENSE_KEY_PATTERN,
  lines,
  openServices,
  randomKey,
  runJson,
  runMain,
  seedSandbox,
  STACK_FRAME,
  startServe,
  withDb,
  type RunResult,
  type Sandbox,
} from "./process_support.ts";

interface Created {
  license_key: string;
  customer_id: number;
  expires_at: string | null;
}

interface Shown {
  license_key: string;
  status: string;
  plan: string;
  customer_id: number;
  customer_email: string;
  domain: string | null;
  expires_at: string | null;
  created_at: string;
  sites: Array<{ host: string; exempt: boolean; activated_at: string }>;
}

/** `from` moved by whole calendar months in UTC, clamped to the last day of the target month. */
function calendarMonthsLater(from: Date, months: number): string {
  const year = from.getUTCFullYear();
  const month = from.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(from.getUTCDate(), lastDay);
  const time = [from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds()] as const;
  return new Date(Date.UTC(year, month, day, ...time)).toISOString();
}

/** Asserts a failure reported as one `error:` line on stderr, without usage text or a stack trace. */
function expectOneErrorLine(result: RunResult, code: number, pattern: RegExp): void {
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code, stdout: "" });
  expect(lines(result.stderr)).toHaveLength(1);
  expect(result.stderr).toMatch(/^error: /);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(STACK_FRAME);
}

/** Asserts a usage error: exit 2, nothing on stdout, the reason and the usage text on stderr. */
function expectUsageError(result: RunResult, reason: RegExp): void {
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
  expect(result.stderr).toMatch(/^error: /);
  expect(result.stderr).toMatch(reason);
  expect(result.stderr).toContain("Usage: npm run --silent cli -- <command> [options]");
  expect(result.stderr).toContain("license create --email E --plan NAME");
  expect(result.stderr).not.toMatch(STACK_FRAME);
}

const KEY_A = randomKey();
let sandbox: Sandbox;
let env: Record<string, string>;

beforeAll(async () => {
  sandbox = await createSandbox();
  env = sandbox.env({ ENCRYPTION_KEY: KEY_A });
  await seedSandbox(sandbox, KEY_A);
});

afterAll(async () => {
  await sandbox?.remove();
});

describe("license create", () => {
  test("license create prints one JSON line with a CHA- key, the customer id and a pro expiry one calendar month later", async () => {
    const result = await runMain(["license", "create", "--email", "first@example.com", "--plan", "pro"], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.endsWith("\n")).toBe(true);
    expect(lines(result.stdout)).toHaveLength(1);
    const created = JSON.parse(result.stdout) as Created;
    expect(Object.keys(created).sort()).toEqual(["customer_id", "expires_at", "license_key"]);
    expect(created.license_key).toMatch(LICENSE_KEY_PATTERN);
    expect(Number.isInteger(created.customer_id)).toBe(true);
    expect(created.expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);

    const shown = await runJson<Shown>(["license", "show", created.license_key], env);
    expect(Math.abs(Date.parse(shown.created_at) - Date.now())).toBeLessThan(60_000);
    expect(created.expires_at).toBe(calendarMonthsLater(new Date(shown.created_at), 1));
    expect(shown.expires_at).toBe(created.expires_at);
  });

  test("license create honours --months 12, --lifetime and --domain", async () => {
    const yearly = await runJson<Created>(["license", "create", "--email", "terms@example.com", "--plan", "pro", "--months", "12"], env);
    const lifetime = await runJson<Created>(["license", "create", "--email", "terms@example.com", "--plan", "agency", "--lifetime"], env);
    const bound = await runJson<Created>(
      ["license", "create", "--email", "terms@example.com", "--plan", "pro", "--domain", "shop.example.com"],
      env,
    );
    for (const created of [yearly, lifetime, bound]) expect(created.license_key).toMatch(LICENSE_KEY_PATTERN);
    expect(new Set([yearly.license_key, lifetime.license_key, bound.license_key]).size).toBe(3);

    const shownYearly = await runJson<Shown>(["license", "show", yearly.license_key], env);
    expect(yearly.expires_at).toBe(calendarMonthsLater(new Date(shownYearly.created_at), 12));
    expect(lifetime.expires_at).toBeNull();

    const shownBound = await runJson<Shown>(["license", "show", bound.license_key], env);
    expect(shownBound.sites.map((site) => site.host)).toEqual(["shop.example.com"]);
    expect(shownBound.domain).toBe("shop.example.com");
  });

  test("license create reuses the customer of an e-mail given in another letter case", async () => {
    const first = await runJson<Created>(["license", "create", "--email", "Jane.Doe@Example.COM", "--plan", "starter"], env);
    const second = await runJson<Created>(["license", "create", "--email", "jane.doe@example.com", "--plan", "pro"], env);
    const third = await runJson<Created>(["license", "create", "--email", "JANE.DOE@EXAMPLE.COM", "--plan", "agency"], env);
    expect(second.customer_id).toBe(first.customer_id);
    expect(third.customer_id).toBe(first.customer_id);

    const customers = await runJson<{ total: number; items: Array<{ id: number; email: string }> }>(
      ["customer", "list", "--search", "jane.doe", "--json"],
      env,
    );
    expect(customers.items.map((c) => ({ id: c.id, email: c.email }))).toEqual([{ id: first.customer_id, email: "jane.doe@example.com" }]);
    expect(customers.total).toBe(1);
  });

  test("license create with an unknown plan exits 1 with one error line naming the plan", async () => {
    const result = await runMain(["license", "create", "--email", "nobody@example.com", "--plan", "platinum"], env);
    expectOneErrorLine(result, 1, /unknown plan: platinum/i);
    const customers = await runJson<{ total: number }>(["customer", "list", "--search", "nobody@example.com", "--json"], env);
    expect(customers.total).toBe(0);
  });

  test("license create refuses a founders license beyond the plan's lifetime cap", async () => {
    const capped = await createSandbox();
    try {
      await seedSandbox(capped, KEY_A);
      await withDb(capped, (db) => db.orm.em.getConnection().execute("update plans set lifetime_cap = 1 where name = 'founders'"));
      const cappedEnv = capped.env({ ENCRYPTION_KEY: KEY_A });

      const first = await runJson<Created>(["license", "create", "--email", "early@example.com", "--plan", "founders"], cappedEnv);
      expect(first.license_key).toMatch(LICENSE_KEY_PATTERN);
      expect(first.expires_at).toBeNull();

      const second = await runMain(["license", "create", "--email", "late@example.com", "--plan", "founders"], cappedEnv);
      expectOneErrorLine(second, 1, /sold out/i);

      const founders = await runJson<{ total: number }>(["license", "list", "--plan", "founders", "--json"], cappedEnv);
      expect(founders.total).toBe(1);
    } finally {
      await capped.remove();
    }
  });

  test("license create works on a database the service was never started on, since the CLI creates the schema", async () => {
    const fresh = await createSandbox();
    try {
      const freshEnv = fresh.env({ ENCRYPTION_KEY: KEY_A });
      const result = await runMain(["license", "create", "--email", "cli-first@example.com", "--plan", "pro"], freshEnv);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect((JSON.parse(result.stdout) as Created).license_key).toMatch(LICENSE_KEY_PATTERN);
    } finally {
      await fresh.remove();
    }
  });
});

describe("bad arguments", () => {
  const cases: Array<{ name: string; args: string[]; reason: RegExp }> = [
    { name: "license without a subcommand", args: ["license"], reason: /missing license command/ },
    { name: "an unknown license subcommand", args: ["license", "frobnicate"], reason: /unknown license command: frobnicate/ },
    { name: "license create without --email", args: ["license", "create", "--plan", "pro"], reason: /--email is required/ },
    {
      name: "license create with both --months and --lifetime",
      args: ["license", "create", "--email", "a@example.com", "--plan", "pro", "--months", "12", "--lifetime"],
      reason: /either --months or --lifetime/,
    },
    {
      name: "license create with --months 0",
      args: ["license", "create", "--email", "a@example.com", "--plan", "pro", "--months", "0"],
      reason: /--months must be an integer/,
    },
    {
      name: "license create with --months abc",
      args: ["license", "create", "--email", "a@example.com", "--plan", "pro", "--months", "abc"],
      reason: /--months must be an integer/,
    },
    {
      name: "license create with an unknown flag",
      args: ["license", "create", "--email", "a@example.com", "--plan", "pro", "--colour", "red"],
      reason: /--colour/,
    },
    { name: "license show with something that is not a key", args: ["license", "show", "not-a-key"], reason: /not a license key/ },
    { name: "an unknown command", args: ["frobnicate"], reason: /unknown command: frobnicate/ },
  ];

  test.each(cases)("$name exits 2 with the reason and the usage text on stderr", async ({ args, reason }) => {
    expectUsageError(await runMain(args, env), reason);
  });

  test("rejected license create commands create no customer", async () => {
    const customers = await runJson<{ items: Array<{ email: string }> }>(["customer", "list", "--search", "a@example.com", "--json"], env);
    expect(customers.items.map((c) => c.email)).toEqual([]);
  });
});

describe("license management", () => {
  let managed: Sandbox;
  let managedEnv: Record<string, string>;
  let bound: Created;
  let plain: Created;

  beforeAll(async () => {
    managed = await createSandbox();
    managedEnv = managed.env({ ENCRYPTION_KEY: KEY_A });
    await seedSandbox(managed, KEY_A);
    bound = await runJson<Created>(
      ["license", "create", "--email", "Owner@Example.com", "--plan", "pro", "--domain", "shop.example.com"],
      managedEnv,
    );
    plain = await runJson<Created>(["license", "create", "--email", "other@example.com", "--plan", "founders"], managedEnv);
  });

  afterAll(async () => {
    await managed?.remove();
  });

  test("license list prints a table with a count line, and --json reports the total and the items", async () => {
    const table = await runMain(["license", "list"], managedEnv);
    expect(table.code).toBe(0);
    const rows = lines(table.stdout);
    expect(rows[0].split(/\s+/)).toEqual(["id", "key_prefix", "status", "plan", "customer_id", "domain", "expires_at"]);
    expect(rows).toHaveLength(4);
    expect(rows.at(-1)).toBe("2 of 2 licenses");
    expect(table.stdout).toContain(bound.license_key.slice(0, 12));
    expect(table.stdout).toContain(plain.license_key.slice(0, 12));
    // The list shows prefixes only: full keys are shown once, at creation.
    expect(table.stdout).not.toContain(bound.license_key);

    const json = await runJson<{ total: number; items: Array<{ key_prefix: string; plan: string; status: string; domain: string }> }>(
      ["license", "list", "--json"],
      managedEnv,
    );
    expect(json.total).toBe(2);
    expect(json.items).toHaveLength(2);
    const byPrefix = new Map(json.items.map((item) => [item.key_prefix, item]));
    expect(byPrefix.get(bound.license_key.slice(0, 12))).toMatchObject({ plan: "pro", status: "active", domain: "shop.example.com" });
    expect(byPrefix.get(plain.license_key.slice(0, 12))).toMatchObject({ plan: "founders", status: "active" });
  });

  test("license show prints the license as JSON with its status, plan, customer e-mail and sites", async () => {
    const result = await runMain(["license", "show", bound.license_key.toLowerCase()], managedEnv);
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout) as Shown;
    expect(shown).toMatchObject({
      license_key: bound.license_key,
      status: "active",
      plan: "pro",
      customer_id: bound.customer_id,
      customer_email: "owner@example.com",
      expires_at: bound.expires_at,
    });
    expect(shown.sites).toEqual([{ host: "shop.example.com", exempt: false, activated_at: expect.any(String) }]);
  });

  test("license show of a well-formed key that was never issued exits 1 with one error line", async () => {
    const result = await runMain(["license", "show", "CHA-00000000-00000000-00000000-00000000"], managedEnv);
    expectOneErrorLine(result, 1, /no license with that key/i);
  });

  test("suspend, reactivate and cancel change the status, and a cancelled license cannot be reactivated", async () => {
    const key = bound.license_key;
    expect(await runJson(["license", "suspend", key], managedEnv)).toMatchObject({ status: "suspended" });
    expect(await runJson<Shown>(["license", "show", key], managedEnv)).toMatchObject({ status: "suspended" });
    expect(await runJson(["license", "reactivate", key], managedEnv)).toMatchObject({ status: "active" });
    expect(await runJson(["license", "cancel", key], managedEnv)).toMatchObject({ status: "cancelled" });
    expect(await runJson<Shown>(["license", "show", key], managedEnv)).toMatchObject({ status: "cancelled" });

    const reactivated = await runMain(["license", "reactivate", key], managedEnv);
    expectOneErrorLine(reactivated, 1, /cannot reactivate a license that is cancelled/i);
    expect(await runJson<Shown>(["license", "show", key], managedEnv)).toMatchObject({ status: "cancelled" });
  });

  test("customer list prints a table, and --json lists each customer once with a lower-cased e-mail", async () => {
    const table = await runMain(["customer", "list"], managedEnv);
    expect(table.code).toBe(0);
    expect(lines(table.stdout).at(-1)).toBe("2 of 2 customers");
    expect(table.stdout).toContain("owner@example.com");

    const json = await runJson<{ total: number; items: Array<{ id: number; email: string; status: string }> }>(
      ["customer", "list", "--json"],
      managedEnv,
    );
    expect(json.total).toBe(2);
    expect(json.items.map((c) => c.email).sort()).toEqual(["other@example.com", "owner@example.com"]);
    expect(json.items.find((c) => c.email === "owner@example.com")?.id).toBe(bound.customer_id);
  });
});

describe("admin create", () => {
  test("admin create adds an admin, refuses a short password with exit 2 and a taken e-mail with exit 1", async () => {
    const created = await runJson(["admin", "create", "--email", "Ops@Example.com", "--password", "correct horse battery"], env);
    expect(created).toMatchObject({ id: expect.any(Number), email: "ops@example.com", name: "ops" });

    const short = await runMain(["admin", "create", "--email", "short@example.com", "--password", "tooshort"], env);
    expectUsageError(short, /--password must have at least/);

    const duplicate = await runMain(["admin", "create", "--email", "OPS@example.com", "--password", "another long password"], env);
    expectOneErrorLine(duplicate, 1, /already exists/);
  });
});

describe("keys rotate", () => {
  const KEY_B = randomKey();
  const PROVIDER_KEY = "sk-test-PLAINTEXT-1234567890";
  let rotating: Sandbox;

  beforeAll(async () => {
    rotating = await createSandbox();
  });

  afterAll(async () => {
    await rotating?.remove();
  });

  test("keys rotate re-seals every license key and provider key under the new key, after refusing a wrong old key", async () => {
    // First start under key A with a vendor provider key in the environment, then two licenses.
    const server = await startServe(rotating.env({ ENCRYPTION_KEY: KEY_A, OPENAI_API_KEY: PROVIDER_KEY }));
    expect(await server.stop()).toBe(0);
    const envA = rotating.env({ ENCRYPTION_KEY: KEY_A });
    const issued = [
      await runJson<Created>(["license", "create", "--email", "one@example.com", "--plan", "pro"], envA),
      await runJson<Created>(["license", "create", "--email", "two@example.com", "--plan", "founders"], envA),
    ];

    const wrongOld = await runMain(["keys", "rotate"], rotating.env({ ENCRYPTION_KEY: KEY_B, ENCRYPTION_KEY_OLD: randomKey() }));
    expect(wrongOld.code).toBe(1);
    expect(wrongOld.stdout).toBe("");
    const errors = lines(wrongOld.stderr).filter((line) => line.startsWith("error:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/not in the keyring/);
    expect(wrongOld.stderr).not.toMatch(STACK_FRAME);

    const envB = rotating.env({ ENCRYPTION_KEY: KEY_B, ENCRYPTION_KEY_OLD: KEY_A });
    const rotated = await runMain(["keys", "rotate"], envB);
    expect(rotated.code).toBe(0);
    expect(lines(rotated.stdout)).toHaveLength(1);
    expect(JSON.parse(rotated.stdout)).toEqual({ key_id: keyIdOf(Buffer.from(KEY_B, "base64")), scanned: 3, rotated: 3, conflicts: 0 });
    expect(rotated.stderr).not.toMatch(STACK_FRAME);

    // Running it again finds nothing left to do.
    expect(await runJson(["keys", "rotate"], envB)).toMatchObject({ scanned: 3, rotated: 0, conflicts: 0 });

    // Key B alone now opens every stored secret.
    const onlyB = rotating.env({ ENCRYPTION_KEY: KEY_B });
    expect(await runJson<Shown>(["license", "show", issued[0].license_key], onlyB)).toMatchObject({ status: "active" });
    const services = await openServices(rotating, { ENCRYPTION_KEY: KEY_B, ENCRYPTION_KEY_OLD: undefined });
    try {
      for (const { license_key } of issued) {
        const license = await services.licenses.byDigest(await licenseKeyDigest(license_key));
        expect(license).not.toBeNull();
        expect(await services.keyring.open(license!.keySealed, "license_key")).toBe(license_key);
      }
      const providerRows = await services.db.orm.em.fork().find(ProviderKeyRow, {});
      expect(providerRows.map((row) => row.provider)).toEqual(["openai"]);
      expect(await services.keyring.open(providerRows[0].keySealed, providerKeyContext("openai"))).toBe(PROVIDER_KEY);
    } finally {
      await services.close();
    }
  });
});

describe("database errors", () => {
  test("a CLI command whose database cannot be opened prints one line naming DATABASE_URL and exits 1", async () => {
    const result = await runMain(
      ["license", "list"],
      sandbox.env({ ENCRYPTION_KEY: KEY_A, DATABASE_URL: "mariadb://root@127.0.0.1:1/unreachable" }),
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("DATABASE_URL");
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });
});
