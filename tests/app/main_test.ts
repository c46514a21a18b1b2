// Start-up as an operator sees it: `bun src/app/main.ts serve` as a child process, its configuration
// errors, its first start (schema, plans, admin, key file), a restart, and what reaches the database.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  createSandbox,
  environmentOf,
  LICENSE_KEY_PATTERN,
  randomKey,
  runJson,
  runMain,
  STACK_FRAME,
  startServe,
  storedText,
  TEST_DIALECT,
  type Sandbox,
  type ServeProcess,
  withDb,
} from "./process_support.ts";
import { FTL_OPTION } from "../../src/app/ftl.ts";

const FIRST_ADMIN_EMAIL = "admin@chatello.local";
const PROVIDER_KEY = "sk-test-PLAINTEXT-1234567890";

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function validate(server: ServeProcess, key: string): Promise<Response> {
  return fetch(`${server.url}/api/validate`, { method: "POST", headers: { "X-License-Key": key } });
}

describe("serve with a bad configuration", () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await createSandbox();
  });

  afterAll(async () => {
    await sandbox?.remove();
  });

  const cases: Array<{ name: string; variable: string; env: Record<string, string | undefined> }> = [
    { name: "PORT=abc", variable: "PORT", env: { PORT: "abc", ENCRYPTION_KEY: randomKey() } },
    { name: "PORT=70000", variable: "PORT", env: { PORT: "70000", ENCRYPTION_KEY: randomKey() } },
    { name: "DATABASE_URL=postgres://x", variable: "DATABASE_URL", env: { DATABASE_URL: "postgres://x", ENCRYPTION_KEY: randomKey() } },
    {
      name: "NODE_ENV=production without ENCRYPTION_KEY",
      variable: "ENCRYPTION_KEY",
      env: { NODE_ENV: "production", ENCRYPTION_KEY: undefined },
    },
    { name: "an ENCRYPTION_KEY that is not 32 bytes", variable: "ENCRYPTION_KEY", env: { ENCRYPTION_KEY: "c2hvcnQ=" } },
    {
      name: "a DATABASE_URL whose server cannot be reached",
      variable: "DATABASE_URL",
      env: { DATABASE_URL: "mariadb://root@127.0.0.1:1/unreachable", ENCRYPTION_KEY: randomKey() },
    },
  ];

  test.each(cases)("serve with $name exits 1 with one line on stderr naming $variable and no stack trace", async ({ variable, env }) => {
    const result = await runMain(["serve"], sandbox.env({ PORT: "0", HOST: "127.0.0.1", ...env }));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.endsWith("\n")).toBe(true);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(variable);
    expect(result.stderr).not.toMatch(STACK_FRAME);
    // A start refused for its configuration leaves no generated key behind.
    expect(existsSync(join(sandbox.dataDir, "encryption.key"))).toBe(false);
  });
});

describe("first start and restart", () => {
  let sandbox: Sandbox;
  let server: ServeProcess | null = null;
  let firstStdout = "";
  let password = "";
  let keyFileText = "";
  let licenseKey = "";

  beforeAll(async () => {
    sandbox = await createSandbox();
  });

  afterAll(async () => {
    await server?.stop();
    await sandbox?.remove();
  });

  test("a first start creates the schema, prints the admin e-mail and a generated password once, and answers /api/health", async () => {
    // No ENCRYPTION_KEY: a development start generates one in DATA_DIR.
    server = await startServe(sandbox.env({ OPENAI_API_KEY: PROVIDER_KEY }));
    const health = await fetch(`${server.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "healthy" });

    firstStdout = server.stdout();
    expect(occurrences(firstStdout, FIRST_ADMIN_EMAIL)).toBe(1);
    const match = /password:\s+(\S+)/.exec(firstStdout);
    expect(match).not.toBeNull();
    password = match![1];
    expect(password.length).toBeGreaterThanOrEqual(12);
    expect(occurrences(firstStdout, password)).toBe(1);
    expect(firstStdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(server.stderr()).not.toMatch(STACK_FRAME);
    // It re-executed itself in place with the FTL JIT off (ftl.ts): the process spawned is the one serving.
    expect(environmentOf(server.pid)[FTL_OPTION]).toBe("0");
  });

  test("a first start writes the generated encryption key to DATA_DIR/encryption.key with mode 0600", () => {
    const path = join(sandbox.dataDir, "encryption.key");
    expect(existsSync(path)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    keyFileText = readFileSync(path, "utf8");
    expect(Buffer.from(keyFileText.trim(), "base64")).toHaveLength(32);
  });

  test("the first start seeds the four plans, so the CLI can issue a license that validates over HTTP", async () => {
    const created = await runJson<{ license_key: string }>(["license", "create", "--email", "buyer@example.com", "--plan", "pro"], sandbox.env());
    licenseKey = created.license_key;
    expect(licenseKey).toMatch(LICENSE_KEY_PATTERN);
    const plans: Array<{ name: string }> = await withDb(sandbox, (db) => db.orm.em.getConnection().execute("select name from plans"));
    expect(plans.map((plan) => plan.name).sort()).toEqual(["agency", "founders", "pro", "starter"]);

    const response = await validate(server!, licenseKey);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ valid: true, status: "active", plan: "pro" });
  });

  test("SIGTERM stops the service with exit code 0", async () => {
    expect(await server!.stop()).toBe(0);
    server = null;
  });

  test("the stored data holds neither the license key, nor the provider key, nor the admin password in clear", async () => {
    const stored = await storedText(sandbox);
    // The visible key prefix is stored on purpose: it proves the license row was read.
    expect(stored).toContain(licenseKey.slice(0, 12));
    if (TEST_DIALECT === "sqlite") expect(existsSync(sandbox.sqlitePath!)).toBe(true);
    for (const secret of [licenseKey, licenseKey.toLowerCase(), PROVIDER_KEY, "PLAINTEXT-1234567890", password, password.replaceAll("-", "")]) {
      expect({ secret, found: stored.includes(secret) }).toEqual({ secret, found: false });
    }
  });

  test("a restart on the same DATA_DIR prints no password, keeps the key file and the data, and still validates the license", async () => {
    // An operator's own BUN_JSC_useFTLJIT is kept as it is.
    server = await startServe(sandbox.env({ OPENAI_API_KEY: PROVIDER_KEY, [FTL_OPTION]: "1" }));
    expect(environmentOf(server.pid)[FTL_OPTION]).toBe("1");
    const response = await validate(server, licenseKey);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ valid: true, plan: "pro" });
    // Not a blanket yes: a key that was never issued is refused.
    expect((await validate(server, "CHA-00000000-00000000-00000000-00000000")).status).toBe(401);

    const customers = await runJson<{ total: number; items: Array<{ email: string }> }>(["customer", "list", "--json"], sandbox.env());
    expect(customers.items.map((c) => c.email)).toEqual(["buyer@example.com"]);

    expect(await server.stop()).toBe(0);
    const stdout = server.stdout();
    server = null;
    expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).not.toContain(password);
    expect(stdout).not.toMatch(/password/i);
    expect(stdout).not.toContain(FIRST_ADMIN_EMAIL);
    expect(readFileSync(join(sandbox.dataDir, "encryption.key"), "utf8")).toBe(keyFileText);
  });
});
