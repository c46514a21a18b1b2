// Kysely's SqliteDialect over bun:sqlite, so the embedded database needs no native addon and works inside
// a `bun build --compile` binary (`@mikro-orm/sqlite` and `@mikro-orm/libsql` do not).
import { Database } from "bun:sqlite";
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from "kysely";

/** Opens `file` (or ":memory:") with WAL, foreign keys and a busy timeout for concurrent writers. */
export function openBunSqlite(file: string): Database {
  const db = new Database(file, { create: true, strict: true });
  if (file !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL");
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

/** A Kysely dialect whose single connection is a bun:sqlite database (Kysely serialises its use). */
export class BunSqliteDialect extends SqliteDialect {
  readonly #database: () => unknown;

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database as never });
  }

  constructor(file: string) {
    const database = () => {
        const db = openBunSqlite(file);
        return {
          close: () => db.close(),
          prepare(sql: string) {
            const statement = db.prepare(sql);
            return {
              // A statement that yields columns is a reader, whatever its leading keyword.
              reader: statement.columnNames.length > 0,
              all: (params: readonly unknown[]) => statement.all(...(params as never[])),
              run: (params: readonly unknown[]) => {
                const result = statement.run(...(params as never[]));
                return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
              },
              iterate: (params: readonly unknown[]) => statement.iterate(...(params as never[])),
            };
          },
        } as never;
      };
    super({ database });
    this.#database = database;
  }
}
