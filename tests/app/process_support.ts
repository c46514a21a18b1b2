// Runs the real entry point (`bun src/app/main.ts ...`) as a child process against a throwaway database of
// the run's dialect, and reads what a database holds, for the CLI and start-up tests of this folder.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openDatabase, type DatabaseTarget, type Db } from "../../src/adapters/db/orm.ts";
import { loadConfig, type Config } from "../../src/app/config.ts";
import { createLogger } from "../../src/app/logger.ts";
import { createServices, seedFirstStart, type Services } from "../../src/app/services.ts";
import { databaseUrl, TEST_DIALECT, throwawayTarget } from "../support/db.ts";
import { drain, freePort } from "../support/server.ts";

export { freePort, TEST_DIALECT };

/** The repository root: the working directory of every child process. */
export const REPO_ROOT = resolve(import.meta.dir, "..", "..");

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const ENTRY = "src/app/main.ts";

/** The CHA- key format the issue requires, uppercase only. */
export const LICENSE_KEY_PATTERN = /^CHA-[0-9A-F]{8}(-[0-9A-F]{8}){3}$/;

/** A stack frame line as Bun prints it in an uncaught error report. */
export const STACK_FRAME = /^\s+at /m;

/** A fresh base64 key of 32 bytes. */
export function randomKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
}

/** A throwaway database and data directory, and the environment that points a child process at them. */
export interface Sandbox {
  target: DatabaseTarget;
  url: string;
  dataDir: string;
  /** Path of the SQLite file (SQLite runs only). */
  sqlitePath: string | null;
  /** The minimal environment of a child: no inherited secrets or database settings. */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  remove(): Promise<void>;
}

/** Creates an empty database of the run's dialect (SQLite: a file in a fresh temp dir) and a data directory. */
export async function createSandbox(): Promise<Sandbox> {
  const dataDir = await mkdtemp(join(tmpdir(), "chatello-app-"));
  const sqlitePath = join(dataDir, "chatello.db");
  const { target, drop } = await throwawayTarget(sqlitePath);
  const url = databaseUrl(target);
  return {
    target,
    url,
    dataDir,
    sqlitePath: target.kind === "sqlite" ? sqlitePath : null,
    env(extra = {}) {
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? dataDir,
        TMPDIR: tmpdir(),
        DATABASE_URL: url,
        DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
      };
      for (const [name, value] of Object.entries(extra)) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      return env;
    },
    async remove() {
      await drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a finished child process left behind. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What runs: `bun src/app/main.ts` in the repository by default, or a built binary in a directory of its own. */
export interface Program {
  command: string[];
  cwd: string;
}

const FROM_SOURCE: Program = { command: [BUN, ENTRY], cwd: REPO_ROOT };

/** Runs `bun src/app/main.ts ...args` (or `program`) to completion. */
export async function runMain(args: string[], env: Record<string, string>, timeoutMs = 20_000, program = FROM_SOURCE): Promise<RunResult> {
  const child = Bun.spawn([...program.command, ...args], {
    cwd: program.cwd,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs the CLI and parses its stdout as JSON, failing with the full output when it did not succeed. */
export async function runJson<T = Record<string, unknown>>(args: string[], env: Record<string, string>, program = FROM_SOURCE): Promise<T> {
  const result = await runMain(args, env, 20_000, program);
  if (result.code !== 0) {
    throw new Error(`${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** The environment a running process was given (its /proc/<pid>/environ). */
export function environmentOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
}

/** The non-empty lines of a stream's text. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/** A `serve` process started by `startServe`. */
export interface ServeProcess {
  url: string;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and waits for the exit code (SIGKILL after 10 s). */
  stop(): Promise<number>;
  /** Sends a signal without waiting (the shutdown tests send several). */
  signal(name: "SIGTERM" | "SIGINT"): void;
  /** The exit code, once the process has ended. */
  exited: Promise<number>;
}

export async function startServe(env: Record<string, string>, program = FROM_SOURCE): Promise<ServeProcess> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = Bun.spawn([...program.command, "serve"], {
    cwd: program.cwd,
    env: { ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: string[] = [];
  const err: string[] = [];
  const drained = Promise.all([drain(child.stdout, out), drain(child.stderr, err)]);
  let stopped: Promise<number> | undefined;
  const serve: ServeProcess = {
    url,
    pid: child.pid,
    stdout: () => out.join(""),
    stderr: () => err.join(""),
    signal: (name) => child.kill(name),
    exited: child.exited,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        const code = await child.exited;
        clearTimeout(timer);
        await Promise.race([drained, Bun.sleep(1_000)]);
        return code;
      })();
      return stopped;
    },
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return serve;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  const code = await serve.stop();
  throw new Error(`serve did not become healthy (exit ${code})\nstdout: ${serve.stdout()}\nstderr: ${serve.stderr()}`);
}

/** The configuration a child with this sandbox environment would load. */
export function configFor(sandbox: Sandbox, extra: Record<string, string | undefined> = {}): Promise<Config> {
  return loadConfig(sandbox.env({ LOG_LEVEL: "silent", ...extra }), { cwd: REPO_ROOT });
}

/** Seeds the sandbox like a first start would (schema, plans, first admin), in this process, then closes it. */
export async function seedSandbox(sandbox: Sandbox, encryptionKey: string): Promise<void> {
  const config = await configFor(sandbox, { ENCRYPTION_KEY: encryptionKey });
  const services = await createServices(config);
  try {
    await seedFirstStart(services, config, createLogger("silent"));
  } finally {
    await services.close();
  }
}

/** Opens the sandbox's services in this process with the given keys; the caller closes them. */
export async function openServices(sandbox: Sandbox, env: Record<string, string | undefined>): Promise<Services> {
  return createServices(await configFor(sandbox, env));
}

/** Runs `work` on the sandbox's database opened in this process, and closes it afterwards. */
export async function withDb<T>(sandbox: Sandbox, work: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDatabase(sandbox.target);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/**
 * Everything the database stores, as text to search: the raw bytes of the SQLite file and its -wal file,
 * or for MariaDB every row of every table of the database, serialised.
 */
export async function storedText(sandbox: Sandbox): Promise<string> {
  if (sandbox.sqlitePath !== null) {
    const parts = [sandbox.sqlitePath, `${sandbox.sqlitePath}-wal`]
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path).toString("latin1"));
    return parts.join("\n");
  }
  return withDb(sandbox, async (db) => {
    const connection = db.orm.em.getConnection();
    const tables = await connection.execute<Array<{ name: string }>>(
      "select table_name as name from information_schema.tables where table_schema = database()",
    );
    const dumped: string[] = [];
    for (const { name } of tables) {
      const rows = await connection.execute(`select * from \`${name}\``);
      dumped.push(`${name}: ${JSON.stringify(rows, (_key, value) => (typeof value === "bigint" ? String(value) : value))}`);
    }
    return dumped.join("\n");
  });
}
