// Kysely's SqliteDialect over bun:sqlite, so the embedded database needs no native addon and works inside
// a `bun build --compile` binary (`@mikro-orm/sqlite` and `@mikro-orm/libsql` do not).
import { Database, type Statement } from "bun:sqlite";
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from "kysely";

/** Opens `file` (or ":memory:") with WAL, foreign keys and a busy timeout for concurrent writers. */
export function openBunSqlite(file: string): Database {
  const db = new Database(file, { create: true, strict: true });
  // The busy timeout first: switching to WAL needs a lock that another process opening the file may hold.
  db.exec("PRAGMA busy_timeout = 5000");
  if (file !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL");
  return db;
}

/**
 * Transactions start with BEGIN IMMEDIATE: they take the write lock up front, so a second process waits
 * (busy_timeout) instead of failing with SQLITE_BUSY when a deferred reader tries to become a writer.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
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

function wrap(statement: Statement): PreparedLike {
  return {
    // A statement that yields columns is a reader, whatever its leading keyword.
    reader: statement.columnNames.length > 0,
    all: (params) => statement.all(...(params as never[])),
    run: (params) => {
      const result = statement.run(...(params as never[]));
      return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
    },
    iterate: (params) => statement.iterate(...(params as never[])) as IterableIterator<unknown>,
  };
}

/** A Kysely dialect whose single connection is a bun:sqlite database (Kysely serialises its use). */
export class BunSqliteDialect extends SqliteDialect {
  readonly #database: () => unknown;
  readonly #open: { prepare: ((sql: string, reuse: boolean) => PreparedLike) | null; db: Database | null };

  /**
   * A statement on the dialect's one connection, from the same cache Kysely uses. Only for callers that hold
   * the connection (Kysely's `connection().execute`), or they would run inside someone else's transaction.
   */
  prepare(sql: string): PreparedLike {
    if (!this.#open.prepare) throw new Error("the SQLite connection is not open yet");
    return this.#open.prepare(sql, true);
  }

  /** True when the connection is open and no transaction is open on it (nobody holds it across an await). */
  get idle(): boolean {
    const db = this.#open.db;
    return db !== null && !db.inTransaction;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database as never });
  }

  constructor(file: string) {
    const open: { prepare: ((sql: string, reuse: boolean) => PreparedLike) | null; db: Database | null } = { prepare: null, db: null };
    const database = () => {
      const db = openBunSqlite(file);
      // Statements with bound parameters, and the fast path's own, are reused (the ORM inlines its values, so
      // its SQL is not worth keeping); a bounded cache, since statements hold memory until finalised.
      const cache = new Map<string, PreparedLike>();
      const prepare = (sql: string, reuse: boolean): PreparedLike => {
        const hit = cache.get(sql);
        if (hit) return hit;
        const prepared = wrap(db.prepare(sql));
        if (reuse || sql.includes("?")) {
          if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
          cache.set(sql, prepared);
        }
        return prepared;
      };
      open.prepare = prepare;
      open.db = db;
      return {
        close: () => {
          cache.clear();
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
