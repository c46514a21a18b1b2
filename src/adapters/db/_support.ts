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
  return db.orm.em.fork().transactional(async (em) => {
    const row = await em.findOne(entity as never, { id } as never, {
      lockMode: db.dialect === "mariadb" ? LockMode.PESSIMISTIC_WRITE : undefined,
    });
    return work(em, row);
  });
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
  return conn.transactional(async (trx) => {
    const run: RawRunner = (sql, params = [], method = "all") => conn.execute(sql, params as unknown[], method, trx);
    if (lockLicense != null && db.dialect === "mariadb") await run("select id from licenses where id = ? for update", [lockLicense]);
    return work(run);
  });
}
