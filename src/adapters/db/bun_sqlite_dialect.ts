// Kysely's SqliteDialect over bun:sqlite, so the embedded database needs no native addon and works inside
// a `bun build --compile` binary (`@mikro-orm/sqlite` and `@mikro-orm/libsql` do not).
import { Database, type Statement } from "bun:sqlite";
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from "kysely";

/** busy_timeout while opening and migrating: another process starting on the same file may hold the lock a while. */
export const OPENING_BUSY_TIMEOUT_MS = 5000;

/**
 * busy_timeout once serving (openDatabase lowers it after the migrations). bun:sqlite waits for a lock held
 * by another process synchronously, so each waiting statement froze the whole event loop for the timeout:
 * a short wait keeps every other request answering, and the write that could not get the lock answers 503.
 */
export const SERVING_BUSY_TIMEOUT_MS = 100;

/**
 * WAL pages after which a commit checkpoints the log into the database file (SQLite's default is 1000). The
 * checkpoint runs inside that commit, synchronously, and costs 3-4 ms (its fsyncs) whatever the log's length,
 * since it copies each changed page once: with the default, every chat call's two small commits checkpointed
 * about fifteen times a second at one client, and one call in a hundred waited for it. The log may now grow
 * to about 40 MB on disk between checkpoints; after one, it is cut back to WAL_SIZE_LIMIT_BYTES. The server
 * checkpoints on a worker thread instead (wal_checkpointer.ts); this is for the CLI, and the server's fallback.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;
export const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

/** Opens `file` (or ":memory:") with WAL, foreign keys and a busy timeout for concurrent writers. */
export function openBunSqlite(file: string): Database {
  let db: Database | null = null;
  try {
    db = new Database(file, { create: true, strict: true });
    // The busy timeout first: switching to WAL needs a lock that another process opening the file may hold.
    db.exec(`PRAGMA busy_timeout = ${OPENING_BUSY_TIMEOUT_MS}`);
    if (file !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL");
    if (file !== ":memory:") db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    if (file !== ":memory:") assertWritable(db);
    return db;
  } catch (error) {
    db?.close();
    throw explainOpenFailure(error);
  }
}

/**
 * SQLite opens a file it may not write (a read-only mount, a file or -shm without write permission) read-only
 * without a word, and the service would then fail every write. Setting the header's user_version to the
 * value it has, in a transaction rolled back, asks for write access without writing anything.
 */
function assertWritable(db: Database): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const row = db.query("PRAGMA user_version").get() as { user_version: number };
    db.exec(`PRAGMA user_version = ${Number(row.user_version)}`);
  } finally {
    if (db.inTransaction) db.exec("ROLLBACK");
  }
}

// What an opening failure means and what to check, by SQLite result code (primary or extended).
const OPEN_FAILURES: Array<[prefix: string, meaning: string, check: string]> = [
  ["SQLITE_BUSY", "the database is locked by another process", "start again once that process released it"],
  ["SQLITE_FULL", "the disk holding the database is full", "free some space"],
  [
    "SQLITE_READONLY",
    "the database is read-only",
    "check that the file, its -wal and -shm files and its directory are writable and the file system is not mounted read-only",
  ],
  [
    "SQLITE_CANTOPEN",
    "the database file cannot be opened or created",
    "check that its directory exists and is writable and the file system is not mounted read-only",
  ],
];

/** An opening failure with its meaning and what to check; the SQLite error stays the cause (and keeps its code). */
function explainOpenFailure(error: unknown): unknown {
  const code = String((error as { code?: unknown })?.code ?? "");
  const known = OPEN_FAILURES.find(([prefix]) => code.startsWith(prefix));
  if (!known) return error;
  const message = error instanceof Error ? error.message : String(error);
  return Object.assign(new Error(`${known[1]} (${message}): ${known[2]}`, { cause: error }), { code });
}

/**
 * Transactions start with BEGIN IMMEDIATE: they take the write lock up front, so a second process waits
 * (busy_timeout) instead of failing with SQLITE_BUSY when a deferred reader tries to become a writer.
 *
 * Kysely's controlled transactions (the ORM's) hold the connection, and so its mutex, from before BEGIN
 * until a COMMIT or ROLLBACK succeeds: a BEGIN that throws, or a ROLLBACK that throws, would keep it forever
 * and every later statement of the process would wait behind it. So a failed BEGIN is reported by the
 * transaction's first statement (or its commit) instead, and a rollback never throws.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  #failedBegin: { error: unknown } | null = null;
  #guarded: DatabaseConnection | null = null;

  constructor(
    config: ConstructorParameters<typeof SqliteDriver>[0],
    private readonly inTransaction: () => boolean,
  ) {
    super(config);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    this.#guarded ??= {
      executeQuery: (query) => {
        this.#throwFailedBegin();
        return connection.executeQuery(query);
      },
      streamQuery: (query, chunkSize) => {
        this.#throwFailedBegin();
        return connection.streamQuery(query, chunkSize);
      },
    };
    return this.#guarded;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    this.#failedBegin = null;
    // A transaction left open by a rollback that failed would make every BEGIN fail from now on.
    if (this.inTransaction()) await this.rollbackTransaction(connection);
    try {
      await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    } catch (error) {
      this.#failedBegin = { error };
    }
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.#throwFailedBegin();
    await super.commitTransaction(connection);
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.#failedBegin = null;
    // SQLite ends a transaction by itself on some failures (SQLITE_FULL, SQLITE_IOERR): ROLLBACK would then fail.
    if (!this.inTransaction()) return;
    try {
      await super.rollbackTransaction(connection);
    } catch {
      // Still open: the next BEGIN rolls it back first. The transaction's own error is the one to report.
    }
  }

  #throwFailedBegin(): void {
    if (this.#failedBegin) throw this.#failedBegin.error;
  }
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * The ORM inlines values into the SQL text as quoted literals, and SQLite's tokenizer stops at a NUL byte,
 * so a value holding U+0000 ended the statement mid-literal (a syntax error, answered 500). A NUL can only
 * sit inside such a literal, where `' || char(0) || '` spells the same text.
 */
export function withoutNul(sql: string): string {
  return sql.includes("\u0000") ? sql.replaceAll("\u0000", "' || char(0) || '") : sql;
}

/** A prepared statement as the dialect hands it to Kysely (and to the repositories' synchronous fast path). */
export interface PreparedLike {
  reader: boolean;
  all(params: readonly unknown[]): unknown[];
  run(params: readonly unknown[]): { changes: number; lastInsertRowid: number | bigint };
  iterate(params: readonly unknown[]): IterableIterator<unknown>;
}

/**
 * A bun:sqlite statement as a PreparedLike. A statement used `once` is finalised right after its use: an
 * unfinalised statement keeps the database file open after close() until the garbage collector runs.
 */
function wrap(statement: Statement, once: boolean): PreparedLike {
  const used = <T>(result: () => T): T => {
    try {
      return result();
    } finally {
      if (once) statement.finalize();
    }
  };
  return {
    // A statement that yields columns is a reader, whatever its leading keyword.
    reader: statement.columnNames.length > 0,
    all: (params) => used(() => statement.all(...(params as never[]))),
    run: (params) =>
      used(() => {
        const result = statement.run(...(params as never[]));
        return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
      }),
    iterate: (params) => {
      const rows = statement.iterate(...(params as never[])) as IterableIterator<unknown>;
      if (!once) return rows;
      return (function* () {
        try {
          yield* rows;
        } finally {
          statement.finalize();
        }
      })();
    },
  };
}

interface OpenConnection {
  db: Database | null;
  prepare: ((sql: string, reuse: boolean) => PreparedLike) | null;
  /** The busy timeout set before the connection opened (Kysely opens it on the first statement). */
  busyTimeoutMs: number | null;
  /** The log size (pages) at which a commit checkpoints, when set after opening (see wal_checkpointer.ts). */
  autocheckpointPages: number | null;
}

/** A Kysely dialect whose single connection is a bun:sqlite database (Kysely serialises its use). */
export class BunSqliteDialect extends SqliteDialect {
  readonly #database: () => unknown;
  readonly #open: OpenConnection;

  /**
   * A statement on the dialect's one connection, from the same cache Kysely uses. Only for callers that hold
   * the connection (Kysely's `connection().execute`), or they would run inside someone else's transaction.
   */
  prepare(sql: string): PreparedLike {
    if (!this.#open.prepare) throw new Error("the SQLite connection is not open");
    return this.#open.prepare(sql, true);
  }

  /** True while the connection is inside a transaction (SQLite ends some failed ones by itself). */
  inTransaction(): boolean {
    return this.#open.db?.inTransaction ?? false;
  }

  /** Sets how long a statement waits, synchronously, for a lock another process holds. */
  setBusyTimeout(ms: number): void {
    this.#open.busyTimeoutMs = Math.max(0, Math.round(ms));
    this.#open.db?.exec(`PRAGMA busy_timeout = ${this.#open.busyTimeoutMs}`);
  }

  /** Sets after how many log pages a commit on this connection checkpoints by itself. */
  setWalAutocheckpoint(pages: number): void {
    this.#open.autocheckpointPages = Math.max(0, Math.round(pages));
    this.#open.db?.exec(`PRAGMA wal_autocheckpoint = ${this.#open.autocheckpointPages}`);
  }

  /** True when the connection is open and no transaction is open on it (nobody holds it across an await). */
  get idle(): boolean {
    const db = this.#open.db;
    return db !== null && !db.inTransaction;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database as never }, () => this.inTransaction());
  }

  constructor(file: string) {
    const open: OpenConnection = { db: null, prepare: null, busyTimeoutMs: null, autocheckpointPages: null };
    const database = () => {
      const db = openBunSqlite(file);
      // Statements with bound parameters, and the fast path's own, are reused (the ORM inlines its values, so
      // its SQL is not worth keeping); a bounded cache, since statements hold memory until finalised.
      const cache = new Map<string, { prepared: PreparedLike; statement: Statement }>();
      const prepare = (sql: string, reuse: boolean): PreparedLike => {
        const hit = cache.get(sql);
        if (hit) return hit.prepared;
        const statement = db.prepare(sql);
        if (!reuse && !sql.includes("?")) return wrap(statement, true);
        const prepared = wrap(statement, false);
        // Evicted statements are left to the garbage collector: one may still be iterated.
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        cache.set(sql, { prepared, statement });
        return prepared;
      };
      if (open.busyTimeoutMs != null) db.exec(`PRAGMA busy_timeout = ${open.busyTimeoutMs}`);
      if (open.autocheckpointPages != null && file !== ":memory:") db.exec(`PRAGMA wal_autocheckpoint = ${open.autocheckpointPages}`);
      open.db = db;
      open.prepare = prepare;
      open.db = db;
      return {
        close: () => {
          // Finalised first, so closing really closes the file (and its -wal and -shm) now.
          for (const { statement } of cache.values()) statement.finalize();
          cache.clear();
          open.db = null;
          open.prepare = null;
          db.close();
        },
        // Kysely's (and so the ORM's) statements; only the ORM inlines values, so only they can hold a NUL.
        prepare: (sql: string) => prepare(withoutNul(sql), false),
      } as never;
    };
    super({ database });
    this.#database = database;
    this.#open = open;
  }
}
