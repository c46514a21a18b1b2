// Small helpers shared by the repositories of this folder.
import { LockMode, type EntityManager } from "@mikro-orm/core";
import type { Db } from "./orm.ts";

/** A date as the dialect stores it, for the few raw statements (SQLite keeps epoch milliseconds). */
export function sqlDate(db: Db, date: Date): Date | number {
  return db.dialect === "sqlite" ? date.getTime() : date;
}

/** A date read back from a raw statement, whichever representation the dialect returned. */
export function readDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === "number" || typeof value === "bigint") return new Date(Number(value));
  if (typeof value === "string" && /^\d+$/.test(value)) return new Date(Number(value));
  return new Date(`${String(value).replace(" ", "T")}${/[zZ]|[+-]\d\d:?\d\d$/.test(String(value)) ? "" : "Z"}`);
}

/** Rows touched by a raw statement, as each driver reports it. */
export function affectedRows(result: unknown): number {
  const r = result as { affectedRows?: number; changes?: number; rowCount?: number };
  return Number(r?.affectedRows ?? r?.changes ?? r?.rowCount ?? 0);
}

/** True for lock conflicts a database resolves by rolling one transaction back: worth a fresh attempt. */
export function isTransientLockError(error: unknown): boolean {
  const e = error as { code?: string; errno?: number; name?: string; message?: string; cause?: unknown };
  if (e?.errno === 1213 || e?.errno === 1205 || e?.code === "ER_LOCK_DEADLOCK" || e?.code === "ER_LOCK_WAIT_TIMEOUT") return true;
  if (e?.name === "DeadlockException" || e?.name === "LockWaitTimeoutException") return true;
  if (/Deadlock found|Lock wait timeout|database is locked|SQLITE_BUSY/i.test(String(e?.message ?? ""))) return true;
  return e?.cause != null && e.cause !== error && isTransientLockError(e.cause);
}

/**
 * Runs a whole transaction again when the database rolled it back over a lock conflict (InnoDB deadlocks
 * on unique-index gap locks when concurrent upserts create rows), with a short jittered backoff.
 */
export async function retryTransient<T>(work: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransientLockError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** attempt));
    }
  }
}

/**
 * Runs `work` in a transaction that holds a write lock on one row of `table`, so concurrent callers on
 * every instance queue up behind each other. MariaDB uses SELECT ... FOR UPDATE; SQLite has one writer at a
 * time and Kysely serialises this process's transactions on its single connection.
 */
export async function withRowLock<T>(
  db: Db,
  // Any entity schema of schema.ts; typed loosely because defineEntity's inferred types do not widen.
  entity: unknown,
  id: number,
  work: (em: EntityManager, row: unknown) => Promise<T>,
): Promise<T> {
  return retryTransient(() =>
    db.orm.em.fork().transactional(async (em) => {
      const row = await em.findOne(entity as never, { id } as never, {
        lockMode: db.dialect === "mariadb" ? LockMode.PESSIMISTIC_WRITE : undefined,
      });
      return work(em, row);
    }),
  );
}

/** True when an error is a unique-constraint violation on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string };
  return (
    e?.name === "UniqueConstraintViolationException" ||
    e?.code === "ER_DUP_ENTRY" ||
    /UNIQUE constraint failed|Duplicate entry/i.test(String(e?.message ?? ""))
  );
}

/** A JSON column read back raw (SQLite and MariaDB both hand back text). */
export function readJson<T>(value: unknown, fallback: T): T {
  if (value == null) return fallback;
  if (typeof value !== "string") return value as T;
  try {
    return JSON.parse(value) as T;
  } catch {
    return fallback;
  }
}

/** A nullable date column read back raw. */
export function readOptionalDate(value: unknown): Date | null {
  return value == null ? null : readDate(value);
}

/** Runs one SQL statement inside a raw transaction ("run" answers { affectedRows, insertId }). */
export type RawRunner = (sql: string, params?: readonly unknown[], method?: "all" | "run") => Promise<any>;

/**
 * A transaction of plain SQL statements, for hot paths where the ORM's unit of work costs more than the
 * queries. With `lockLicense`, MariaDB locks that license row first (SQLite's BEGIN IMMEDIATE already
 * serialises writers), so concurrent callers on every instance queue up behind each other.
 */
export async function rawTransaction<T>(db: Db, work: (run: RawRunner) => Promise<T>, lockLicense?: number): Promise<T> {
  const conn = db.orm.em.getConnection();
  return retryTransient(() =>
    conn.transactional(async (trx) => {
      const run: RawRunner = (sql, params = [], method = "all") => conn.execute(sql, params as unknown[], method, trx);
      if (lockLicense != null && db.dialect === "mariadb") await run("select id from licenses where id = ? for update", [lockLicense]);
      return work(run);
    }),
  );
}
