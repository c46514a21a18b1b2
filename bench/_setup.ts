// Setting up what the benchmark measures: a throwaway MariaDB database, the service as its own process
// on a fresh database, and the licenses and plan limits the scenarios need (through the CLI and the
// admin API, as an operator would).
import { Database } from "bun:sqlite";
import mysql from "mysql2/promise";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { licenseKeyDigest } from "../src/domain/licensing/mod.ts";
import { progress, startChild, waitUntilUp, type Child } from "./_procs.ts";

/** A MariaDB database that exists only for this run. */
export interface MariaDbTarget {
  /** DATABASE_URL for the service and the floor (holds the password, if any: never print it). */
  url: string;
  /** host:port/database, safe to print. */
  label: string;
  version: string;
  drop(): Promise<void>;
}

function connectionOptions(url: URL) {
  return {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || "root"),
    password: decodeURIComponent(url.password),
    connectTimeout: 3000,
  };
}

/**
 * Creates `chatello_bench_<random>` on the server of `serverUrl` (its database part is ignored), or
 * answers why MariaDB rows are skipped. An explicitly configured server that does not answer is an error.
 */
export async function createMariaDb(serverUrl: string | undefined): Promise<MariaDbTarget | { skipped: string }> {
  const url = new URL(serverUrl ?? "mariadb://root@127.0.0.1:3306");
  const options = connectionOptions(url);
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection(options);
  } catch (error) {
    const reason = `no MariaDB server answered on ${options.host}:${options.port} (${(error as Error).message.split("\n")[0]})`;
    if (serverUrl) throw new Error(`BENCH_MARIADB_URL: ${reason}`);
    return { skipped: `${reason}; set BENCH_MARIADB_URL to measure MariaDB` };
  }
  const name = `chatello_bench_${randomBytes(4).toString("hex")}`;
  try {
    const [rows] = await connection.query("select version() as v");
    await connection.query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_unicode_ci`);
    const dbUrl = new URL(url);
    dbUrl.protocol = "mariadb:";
    dbUrl.username = encodeURIComponent(options.user);
    dbUrl.pathname = `/${name}`;
    return {
      url: dbUrl.toString(),
      label: `${options.host}:${options.port}/${name}`,
      version: String((rows as Array<{ v: string }>)[0].v),
      async drop() {
        const again = await mysql.createConnection(options);
        try {
          await again.query(`drop database if exists \`${name}\``);
        } finally {
          await again.end();
        }
      },
    };
  } finally {
    await connection.end();
  }
}

/** The licenses a prepared service holds, by purpose. */
export interface BenchLicenses {
  /** On the agency plan, never used for chat: its validate answer does not change during the run. */
  validate: string;
  /** On the agency plan with every limit lifted (0 = unlimited), for the proxy measurements. */
  chat: string;
  /** On the pro plan with exactly `admissionLimit` monthly requests and no other limit. */
  admission: string;
}

/** The service under test, started and prepared. */
export interface Service {
  label: "SQLite" | "MariaDB";
  child: Child;
  databaseUrl: string;
  licenses: BenchLicenses;
  admissionLimit: number;
  /** The exact body of a 200 /api/validate answer for the validate license. */
  validateBody: string;
}

/**
 * Builds the single binary operators deploy, with the build script of package.json (`npm run build`) but into
 * `outfile`, so the benchmark measures what runs in production from the working tree as it is.
 */
export function buildBinary(root: string, outfile: string): string {
  const script = String(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts?.build ?? "");
  const args = script.split(/\s+/).filter(Boolean);
  const at = args.indexOf("--outfile");
  if (args[0] !== "bun" || args[1] !== "build" || at < 0 || at + 1 >= args.length) {
    throw new Error(`package.json's build script is not "bun build ... --outfile <file>" (it is "${script}")`);
  }
  args[at + 1] = outfile;
  progress(`building the single binary (${args.slice(0, at).join(" ")} --outfile …)`);
  const run = Bun.spawnSync([process.execPath, ...args.slice(1)], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`building the binary failed: ${run.stderr.toString().slice(0, 1000)}`);
  return outfile;
}

/** Starts `<binary> serve` on `databaseUrl` and creates what the scenarios need (through `<binary>`'s CLI too). */
export async function startService(options: {
  label: Service["label"];
  /** The built binary (see buildBinary). */
  binary: string;
  dataDir: string;
  logDir: string;
  databaseUrl: string;
  port: number;
  upstreamUrl: string;
  logLevel: string;
  admissionLimit: number;
}): Promise<Service> {
  const env: Record<string, string> = {
    PORT: String(options.port),
    HOST: "127.0.0.1",
    NODE_ENV: "production",
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    DATA_DIR: options.dataDir,
    DATABASE_URL: options.databaseUrl,
    LOG_LEVEL: options.logLevel,
    OPENAI_BASE_URL: `${options.upstreamUrl}/v1`,
    OPENAI_API_KEY: "sk-bench-fake-upstream",
  };
  progress(`starting the service on ${options.label}`);
  // The binary runs from its data directory, as from an empty directory in production.
  mkdirSync(options.dataDir, { recursive: true });
  const child = startChild({ name: `service ${options.label}`, command: options.binary, args: ["serve"], port: options.port, cwd: options.dataDir, logDir: options.logDir, env });
  await waitUntilUp(child, "/api/health", 60_000);

  const cli = (...args: string[]): Record<string, unknown> => {
    const run = Bun.spawnSync([options.binary, ...args], { cwd: options.dataDir, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    if (run.exitCode !== 0) throw new Error(`chatello ${args.slice(0, 2).join(" ")} failed: ${run.stderr.toString().slice(0, 500)}`);
    return JSON.parse(run.stdout.toString());
  };
  const license = (purpose: string, plan: string) =>
    String(cli("license", "create", "--email", `bench-${purpose}@example.com`, "--plan", plan).license_key);
  const licenses: BenchLicenses = { validate: license("validate", "agency"), chat: license("chat", "agency"), admission: license("admission", "pro") };
  const token = String(cli("token", "create", "--name", "bench", "--scope", "write").token);

  // Plan limits through the admin API: the CLI has no plan command.
  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(child.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return (await response.json()) as any;
  };
  const plans = (await admin("GET", "/api/admin/plans?per_page=100")).items as Array<{ id: number; name: string }>;
  const planId = (name: string) => plans.find((p) => p.name === name)?.id ?? failWith(`no ${name} plan`);
  const unlimited = { monthly_requests: 0, requests_per_minute: 0, requests_per_hour: 0, monthly_budget_eur: 0 };
  await admin("PATCH", `/api/admin/plans/${planId("agency")}`, { limits: unlimited });
  await admin("PATCH", `/api/admin/plans/${planId("pro")}`, { limits: { ...unlimited, monthly_requests: options.admissionLimit } });

  // The service caches plans for a few seconds: wait until validation shows the new limits.
  const validate = async (key: string) => {
    const response = await fetch(`${child.url}/api/validate`, { method: "POST", headers: { "x-license-key": key } });
    return { status: response.status, text: await response.text() };
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const chat = JSON.parse((await validate(licenses.chat)).text);
    const admission = JSON.parse((await validate(licenses.admission)).text);
    if (chat.limits?.monthly_requests === 0 && chat.limits?.requests_per_minute === 0 && admission.limits?.monthly_requests === options.admissionLimit) break;
    if (Date.now() > deadline) throw new Error("the service did not apply the benchmark's plan limits within 20 s");
    await Bun.sleep(250);
  }
  const answer = await validate(licenses.validate);
  if (answer.status !== 200) throw new Error(`/api/validate answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  return { label: options.label, child, databaseUrl: options.databaseUrl, licenses, admissionLimit: options.admissionLimit, validateBody: answer.text };
}

function failWith(message: string): never {
  throw new Error(message);
}

/** Usage events recorded as successful calls for the license of `key`. */
export async function okUsageEvents(databaseUrl: string, key: string): Promise<number> {
  const sql =
    "select count(*) as n from usage_events e join licenses l on l.id = e.license_id where l.key_digest = ? and e.outcome = 'ok'";
  const digest = await licenseKeyDigest(key);
  if (databaseUrl.startsWith("sqlite:")) {
    const db = new Database(databaseUrl.slice("sqlite:".length));
    try {
      return Number((db.prepare(sql).get(digest) as { n: number }).n);
    } finally {
      db.close();
    }
  }
  const url = new URL(databaseUrl);
  const connection = await mysql.createConnection({ ...connectionOptions(url), database: url.pathname.slice(1) });
  try {
    const [rows] = await connection.execute(sql, [digest]);
    return Number((rows as Array<{ n: unknown }>)[0].n);
  } finally {
    await connection.end();
  }
}
