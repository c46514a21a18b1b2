// Test databases: embedded SQLite in memory by default; with TEST_DATABASE_URL=mariadb://... every call
// creates a throwaway MariaDB database and drops it afterwards, so test files never share state.
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type DatabaseTarget, type Db } from "../../src/adapters/db/orm.ts";

/** The dialect this test run exercises (CI runs the whole suite once per dialect). */
export const TEST_DIALECT: "sqlite" | "mariadb" = /^(mariadb|mysql):/.test(process.env.TEST_DATABASE_URL ?? "") ? "mariadb" : "sqlite";

function mariadbServer(): URL {
  return new URL(process.env.TEST_DATABASE_URL!.replace(/^mariadb:/, "mysql:"));
}

/** A fresh, empty database target of the run's dialect, and how to remove it. */
export async function throwawayTarget(sqlitePath = ":memory:"): Promise<{ target: DatabaseTarget; drop(): Promise<void> }> {
  if (TEST_DIALECT === "sqlite") return { target: { kind: "sqlite", path: sqlitePath }, drop: async () => {} };
  const server = mariadbServer();
  const name = `chatello_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new SQL(`mysql://${server.username || "root"}${server.password ? `:${server.password}` : ""}@${server.hostname}:${server.port || 3306}/mysql`);
  await admin.unsafe(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  return {
    target: {
      kind: "mariadb",
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username || "root"),
      password: decodeURIComponent(server.password),
      database: name,
    },
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.close();
    },
  };
}

/**
 * A migrated throwaway database; `cleanup` closes and drops it. With `shared: true` SQLite uses a file, so
 * a second `openDatabase(target)` reaches the same data (two service instances on one database).
 */
export async function testDb(options: { shared?: boolean } = {}): Promise<{ db: Db; target: DatabaseTarget; cleanup(): Promise<void> }> {
  const dir = options.shared && TEST_DIALECT === "sqlite" ? mkdtempSync(join(tmpdir(), "chatello-db-")) : null;
  const { target, drop } = await throwawayTarget(dir ? join(dir, "chatello.db") : ":memory:");
  const db = await openDatabase(target);
  return {
    db,
    target,
    async cleanup() {
      await db.close();
      await drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The DATABASE_URL form of a target, for child processes. */
export function databaseUrl(target: DatabaseTarget): string {
  if (target.kind === "sqlite") return `sqlite:${target.path}`;
  const auth = target.password ? `${encodeURIComponent(target.user)}:${encodeURIComponent(target.password)}` : encodeURIComponent(target.user);
  return `mariadb://${auth}@${target.host}:${target.port}/${target.database}`;
}

/** Runs tests/support/db_worker.ts in another process and returns what it printed. */
export async function runDbWorker(job: Record<string, unknown>): Promise<unknown> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "db_worker.ts"), JSON.stringify(job)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`db worker failed (${code}): ${err.slice(0, 2000)}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}
