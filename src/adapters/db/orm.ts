// Opens the database (embedded SQLite or MariaDB) with the entity schemas and the static migration lists.
import { MikroORM, type Options } from "@mikro-orm/core";
import { Migrator } from "@mikro-orm/migrations";
import { SqliteDriver } from "@mikro-orm/sql";
import { CompiledQuery, type DatabaseConnection } from "kysely";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { BunSqliteDialect, SERVING_BUSY_TIMEOUT_MS } from "./bun_sqlite_dialect.ts";
import { MARIADB_MIGRATIONS } from "./migrations/mariadb/list.ts";
import { SQLITE_MIGRATIONS } from "./migrations/sqlite/list.ts";
import { ENTITIES } from "./schema.ts";
import { startWalCheckpointer, type WalCheckpointer } from "./wal_checkpointer.ts";

/** Where the data lives: an embedded SQLite file (or ":memory:") or a MariaDB server. */
export type DatabaseTarget =
  | { kind: "sqlite"; path: string }
  | { kind: "mariadb"; host: string; port: number; user: string; password: string; database: string };

/** An open database: the ORM plus the dialect the repositories need for their few dialect-specific statements. */
export interface Db {
  orm: MikroORM;
  dialect: "sqlite" | "mariadb";
  /** SQLite only: the embedded connection's statements, for hot paths that hold the connection themselves. */
  sqlite: BunSqliteDialect | null;
  /** SQLite file served with `backgroundCheckpoints`: the worker that checkpoints its log. */
  walCheckpointer: WalCheckpointer | null;
  close(): Promise<void>;
}

/**
 * Run on every new MariaDB connection. The ORM inlines values into SQL as literals escaped with backslashes,
 * which a server whose sql_mode has NO_BACKSLASH_ESCAPES would read as the end of the literal (an injection),
 * so that mode is switched off for our sessions whatever the server's default.
 */
export const MARIADB_SESSION_SETUP =
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/**
 * The MariaDB driver, loaded only for a MariaDB target: mysql2 and MikroORM's MySQL platform hold about
 * 13 MB that a service on SQLite never needs.
 */
function mariadbGuard(): Promise<typeof import("./mariadb_guard.ts")> {
  return import("./mariadb_guard.ts");
}

/** ORM options for a target; `withMigrations: false` leaves out the static lists (used by the generator). */
export async function ormOptions(target: DatabaseTarget, withMigrations = true): Promise<Options> {
  const common = {
    entities: ENTITIES,
    extensions: [Migrator],
    forceUtcTimezone: true,
    debug: false,
    allowGlobalContext: false,
    discovery: { checkDuplicateTableNames: true },
  };
  if (target.kind === "sqlite") {
    return {
      ...common,
      driver: SqliteDriver,
      dbName: target.path,
      driverOptions: new BunSqliteDialect(target.path),
      migrations: {
        tableName: "schema_migrations",
        snapshot: false,
        silent: true,
        ...(withMigrations ? { migrationsList: SQLITE_MIGRATIONS } : {}),
      },
    } as unknown as Options;
  }
  const { BoundedMariaDbDriver } = await mariadbGuard();
  return {
    ...common,
    // Bounded waits (mariadb_guard.ts): a server that stops answering costs a request seconds, not forever.
    driver: BoundedMariaDbDriver,
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    dbName: target.database,
    timezone: "+00:00",
    pool: { min: 0, max: 20 },
    onCreateConnection: async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw(MARIADB_SESSION_SETUP));
    },
    migrations: {
      tableName: "schema_migrations",
      snapshot: false,
      silent: true,
      ...(withMigrations ? { migrationsList: MARIADB_MIGRATIONS } : {}),
    },
  } as unknown as Options;
}

/**
 * Opens the database and applies pending migrations, so a first start creates the schema by itself.
 * `backgroundCheckpoints` (the server, not the short CLI commands): a SQLite file's log is checkpointed on a
 * worker thread instead of inside the commits that serve requests (see wal_checkpointer.ts).
 */
export async function openDatabase(
  target: DatabaseTarget,
  options: { migrate?: boolean; backgroundCheckpoints?: boolean; onBackgroundError?: (error: Error) => void } = {},
): Promise<Db> {
  if (target.kind === "sqlite" && target.path !== ":memory:") mkdirSync(dirname(target.path), { recursive: true });
  const orm = await MikroORM.init(await ormOptions(target));
  if (options.migrate !== false) await orm.migrator.up();
  if (target.kind === "mariadb") {
    // Migrations may take long on a big table; every statement after them is bounded.
    const { BoundedMySqlConnection, MARIADB_BOUNDS } = await mariadbGuard();
    const connection = orm.em.getConnection();
    if (connection instanceof BoundedMySqlConnection) connection.bounds.statementMs = MARIADB_BOUNDS.statementMs;
  }
  const sqlite = target.kind === "sqlite" ? (orm.config.get("driverOptions") as unknown as BunSqliteDialect) : null;
  // Opening waited long for another process's lock (it may be migrating); serving waits briefly, since the
  // wait blocks the event loop, and a write that cannot get the lock answers 503 (see bun_sqlite_dialect.ts).
  sqlite?.setBusyTimeout(SERVING_BUSY_TIMEOUT_MS);
  const walCheckpointer =
    sqlite && target.kind === "sqlite" && target.path !== ":memory:" && options.backgroundCheckpoints
      ? startWalCheckpointer({ file: target.path, connection: sqlite, onError: options.onBackgroundError })
      : null;
  await walCheckpointer?.started;
  return {
    orm,
    dialect: target.kind,
    sqlite,
    walCheckpointer,
    async close() {
      await walCheckpointer?.stop();
      await orm.close(true);
    },
  };
}

/** True when the migrated schema matches the entities (no pending difference). */
export async function schemaDiff(db: Db): Promise<string> {
  return (await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim();
}
