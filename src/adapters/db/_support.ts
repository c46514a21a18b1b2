// Small helpers shared by the repositories of this folder.
import { LockMode, type EntityManager } from "@mikro-orm/core";
import { CompiledQuery, type Kysely, type QueryResult } from "kysely";
import { isDatabaseUnavailable } from "./availability.ts";
import type { BunSqliteDialect } from "./bun_sqlite_dialect.ts";
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
  const sqlite = db.sqlite;
  if (sqlite) {
    // The connection is held for the whole transaction, so no other statement of this process interleaves.
    return retryTransient(
      () => holdingSqlite(db, () => sqliteTransaction(sqlite, (run) => work(async (sql, params = [], method = "all") => run(sql, params, method)))),
      SQLITE_BUSY_ATTEMPTS,
    );
  }
  return retryTransient(() =>
    clientOf(db)
      .transaction()
      .execute(async (trx) => {
        const run: RawRunner = (sql, params = [], method = "all") => runOn(trx, sql, params, method);
        if (lockLicense != null) await run("select id from licenses where id = ? for update", [lockLicense]);
        return work(run);
      }),
  );
}

/** The most rows one multi-row INSERT of `multiRowInserts` carries. */
export const MAX_ROWS_PER_INSERT = 32;

/**
 * A multi-row INSERT of any number of rows as statements of 32, 16, 8, 4, 2 and 1 rows, so only those few
 * SQL texts exist. One text per row count would fill the prepared-statement caches (SQLite's and the
 * MariaDB driver's) with hundreds of statements, each holding hundreds of kilobytes of native memory.
 * `head` is the statement up to and including VALUES, `row` one row's placeholders, `tail` what follows the
 * rows (an upsert clause); `rows` holds each row's parameters.
 */
export function multiRowInserts(head: string, row: string, rows: readonly (readonly unknown[])[], tail = ""): Array<{ sql: string; params: unknown[] }> {
  const statements: Array<{ sql: string; params: unknown[] }> = [];
  let at = 0;
  while (at < rows.length) {
    let size = MAX_ROWS_PER_INSERT;
    while (size > rows.length - at) size >>= 1;
    const chunk = rows.slice(at, at + size);
    statements.push({ sql: `${head} ${Array(size).fill(row).join(", ")}${tail ? ` ${tail}` : ""}`, params: chunk.flat() });
    at += size;
  }
  return statements;
}

/**
 * One plain SQL statement outside any transaction, with its parameters bound rather than inlined, so the
 * driver reuses one prepared statement per SQL text ("run" answers { affectedRows, insertId }).
 */
export function rawQuery(db: Db, sql: string, params: readonly unknown[] = [], method: "all" | "run" = "all"): Promise<any> {
  const sqlite = db.sqlite;
  if (sqlite) return atOnceOnSqlite(db, () => sqliteRunner(sqlite)(sql, params, method));
  return runOn(clientOf(db), sql, params, method);
}

/**
 * One read with a fixed SQL text on a hot path: on MariaDB a server-side prepared statement outside any
 * transaction (see BoundedMySqlConnection.executePrepared), elsewhere `rawQuery`. Only for statements whose text
 * never varies: the server keeps each one per connection (max_prepared_stmt_count bounds them all).
 */
export function rawPreparedRead(db: Db, sql: string, params: readonly unknown[] = []): Promise<any[]> {
  const connection = db.sqlite ? null : (db.orm.em.getConnection() as unknown as { executePrepared?(sql: string, params: unknown[]): Promise<any[]> });
  if (connection?.executePrepared) return connection.executePrepared(sql, [...params]);
  return rawQuery(db, sql, params);
}

/** Runs one statement synchronously on SQLite's connection ("run" answers { affectedRows, insertId }). */
export type SyncRunner = (sql: string, params?: readonly unknown[], method?: "all" | "run") => any;

interface GroupItem {
  work: (run: SyncRunner) => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Group commit for SQLite: units of synchronous work submitted in the same event-loop turn, or while the
 * previous batch was being written, share one BEGIN IMMEDIATE ... COMMIT. The commit, not the statements, is what a write costs, so under load N calls
 * pay for one; a unit still resolves only once its transaction committed. Units run in submission order.
 * When a unit fails, the shared transaction is rolled back and each unit runs again in its own, so one
 * failure never takes the others down; when the database itself refuses (locked by another process, full,
 * read-only), every unit would fail the same way, so the whole batch is refused at once.
 */
export class SqliteGroupCommit {
  private queue: GroupItem[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {
    if (!db.sqlite) throw new Error("group commit is for SQLite");
  }

  submit<T>(work: (run: SyncRunner) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // The batch is written after the current event-loop turn: every request the server parsed in this turn
      // joins it, so under load one COMMIT serves dozens of calls (a lone caller waits a few microseconds).
      // While a batch is being written, newcomers queue up and go together in the next one.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.flush(this.queue.splice(0));
    } finally {
      this.flushing = false;
    }
  }

  private async flush(batch: GroupItem[]): Promise<void> {
    try {
      const values = await this.commit(batch);
      batch.forEach((item, i) => item.resolve(values[i]));
    } catch (error) {
      if (batch.length === 1 || isDatabaseUnavailable(error)) return batch.forEach((item) => item.reject(error));
      for (const item of batch) await this.commit([item]).then(([value]) => item.resolve(value), item.reject);
    }
  }

  /** Runs the units in one transaction (retried whole on lock conflicts) and returns their values. */
  private commit(batch: GroupItem[]): Promise<unknown[]> {
    const sqlite = this.db.sqlite!;
    return retryTransient(
      () => atOnceOnSqlite(this.db, () => sqliteTransactionSync(sqlite, (run) => batch.map((item) => item.work(run)))),
      SQLITE_BUSY_ATTEMPTS,
    );
  }
}

/**
 * Attempts of a SQLite transaction that met SQLITE_BUSY. Each waits the serving busy timeout synchronously
 * (the event loop with it), so a lock another process keeps is answered 503 after a few of them rather than
 * after six; the pauses between attempts are asynchronous.
 */
const SQLITE_BUSY_ATTEMPTS = 3;

/**
 * BEGIN IMMEDIATE, `work`, COMMIT on SQLite's connection (the caller holds it). On failure it rolls back only
 * a transaction still open: SQLite ends some failed ones by itself (a full disk, an I/O error), and the first
 * error is the one to report. A transaction left open by a ROLLBACK that failed is ended before the BEGIN,
 * or every later BEGIN of the process would fail.
 */
async function sqliteTransaction<T>(sqlite: BunSqliteDialect, work: (run: SyncRunner) => Promise<T>): Promise<T> {
  const run = beginOn(sqlite);
  try {
    const result = await work(run);
    run("commit");
    return result;
  } catch (error) {
    rollbackIfOpen(sqlite, run);
    throw error;
  }
}

/** sqliteTransaction for synchronous work: nothing else can run between its BEGIN and its COMMIT. */
function sqliteTransactionSync<T>(sqlite: BunSqliteDialect, work: (run: SyncRunner) => T): T {
  const run = beginOn(sqlite);
  try {
    const result = work(run);
    run("commit");
    return result;
  } catch (error) {
    rollbackIfOpen(sqlite, run);
    throw error;
  }
}

function beginOn(sqlite: BunSqliteDialect): SyncRunner {
  const run = sqliteRunner(sqlite);
  if (sqlite.inTransaction()) run("rollback");
  run("begin immediate");
  return run;
}

function rollbackIfOpen(sqlite: BunSqliteDialect, run: SyncRunner): void {
  if (!sqlite.inTransaction()) return;
  try {
    run("rollback");
  } catch {}
}

// Synchronous statements on SQLite's single connection while Kysely's mutex is held for us: bun:sqlite is
// synchronous anyway, and skipping the query executor's promise chain per statement halves the hot paths.
function holdingSqlite<T>(db: Db, work: () => T | Promise<T>): Promise<T> {
  return clientOf(db)
    .connection()
    .execute(async () => work());
}

/**
 * Synchronous work on SQLite's connection, run at once when it is open and no transaction is open on it. Kysely's mutex only
 * matters while someone's transaction spans an await (the ORM's, rawTransaction's): work that starts and ends
 * within one synchronous call cannot interleave with anything else, so it waits for the mutex only then, and
 * otherwise skips its half-dozen promise hops (about a tenth of a chat call's own time).
 */
function atOnceOnSqlite<T>(db: Db, work: () => T): Promise<T> {
  if (!db.sqlite!.idle) return holdingSqlite(db, work);
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

function sqliteRunner(sqlite: BunSqliteDialect): SyncRunner {
  return (sql, params = [], method = "all") => {
    const statement = sqlite.prepare(sql);
    if (method === "all") {
      if (statement.reader) return statement.all(params);
      statement.run(params);
      return [];
    }
    if (statement.reader) return { affectedRows: 0, insertId: undefined, rows: statement.all(params) };
    const result = statement.run(params);
    return { affectedRows: result.changes, insertId: Number(result.lastInsertRowid), rows: [] };
  };
}

// The ORM's own Kysely instance: the same connections (and, on SQLite, the same serialising mutex) as the
// ORM, without its query formatting, which inlines every value and so defeats statement reuse.
function clientOf(db: Db): Kysely<any> {
  return (db.orm.em.getConnection() as unknown as { getClient(): Kysely<any> }).getClient();
}

async function runOn(
  runner: { executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>> },
  sql: string,
  params: readonly unknown[],
  method: "all" | "run",
): Promise<any> {
  const result = await runner.executeQuery(CompiledQuery.raw(sql, params as unknown[]));
  if (method === "all") return result.rows;
  return {
    affectedRows: Number(result.numAffectedRows ?? 0n),
    insertId: result.insertId == null ? undefined : Number(result.insertId),
    rows: result.rows,
  };
}
