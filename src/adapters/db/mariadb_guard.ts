// Bounded waits on MariaDB. mysql2 waits forever for a statement whose server stopped answering (frozen,
// or behind a broken network: the socket stays open), and a request waits forever for a pool connection
// while all of them are stuck so. This driver gives up after a bound instead, so a request answers 503
// (see availability.ts) and a stuck connection leaves the pool; a healthy server never comes near it.
import { MariaDbDriver, MySqlConnection } from "@mikro-orm/mariadb";
import type { Configuration } from "@mikro-orm/core";
import type {
  CompiledQuery,
  ControlConnectionProvider,
  DatabaseConnection,
  Dialect,
  Driver,
  MysqlDialect,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from "kysely";
import { SQL } from "bun";
import { DatabaseTimeout } from "./availability.ts";

/** The bounds, in milliseconds (0: no bound). */
export interface MariaDbBounds {
  /** Getting a connection: from the pool, or a new one (TCP connect and handshake). */
  acquireMs: number;
  /** One statement. Off while migrations run (an ALTER TABLE may take long); openDatabase sets it after. */
  statementMs: number;
}

/** Default bounds: far above what a healthy server on the same network takes, well below a client's patience. */
export const MARIADB_BOUNDS: Readonly<MariaDbBounds> = { acquireMs: 3_000, statementMs: 5_000 };

function within<T>(work: Promise<T>, ms: number, what: "connect" | "query", onTimeout: () => void): Promise<T> {
  if (!ms) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new DatabaseTimeout(what, ms));
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A pool connection whose statements give up after the bound; the stuck connection is then dropped. */
class BoundedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly bounds: MariaDbBounds,
  ) {}

  executeQuery<R>(query: CompiledQuery, options?: Parameters<DatabaseConnection["executeQuery"]>[1]): Promise<QueryResult<R>> {
    return within(this.inner.executeQuery<R>(query, options), this.bounds.statementMs, "query", () => {
      // Kysely's "kill session": the connection leaves the pool at once, and the server (if it still answers)
      // is told to end the session, which rolls back what it had begun.
      this.inner.killSession?.(async () => {
        throw new Error("no control connection");
      }).catch(() => {});
    });
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number, options?: Parameters<DatabaseConnection["streamQuery"]>[2]) {
    return this.inner.streamQuery<R>(query, chunkSize, options);
  }

  // Kysely's abort strategies (a query given an AbortSignal) reach the real connection.
  async collectSessionInfo(): Promise<void> {
    await this.inner.collectSessionInfo?.();
  }

  async cancelQuery(provider: ControlConnectionProvider): Promise<void> {
    await this.inner.cancelQuery?.(provider);
  }

  async killSession(provider: ControlConnectionProvider): Promise<void> {
    await this.inner.killSession?.(provider);
  }
}

/** Kysely's MySQL driver with both bounds; transactions run their statements through the bounded connection. */
class BoundedDriver implements Driver {
  private readonly wrapped = new WeakMap<DatabaseConnection, BoundedConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly bounds: MariaDbBounds,
  ) {}

  init(options?: Parameters<Driver["init"]>[0]) {
    return this.inner.init(options);
  }

  async acquireConnection(options?: Parameters<Driver["acquireConnection"]>[0]): Promise<DatabaseConnection> {
    const acquiring = this.inner.acquireConnection(options);
    let abandoned = false;
    const connection = await within(acquiring, this.bounds.acquireMs, "connect", () => {
      abandoned = true;
    }).catch((error) => {
      // The pool may still hand the connection over later: it goes straight back.
      if (abandoned) acquiring.then((late) => this.inner.releaseConnection(late), () => {});
      throw error;
    });
    let bounded = this.wrapped.get(connection);
    if (!bounded) {
      bounded = new BoundedConnection(connection, this.bounds);
      this.wrapped.set(connection, bounded);
    }
    return bounded;
  }

  private innerOf(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof BoundedConnection ? connection.inner : connection;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    return this.inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection) {
    return this.inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection) {
    return this.inner.rollbackTransaction(connection);
  }

  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    return this.inner.savepoint!(connection, name, compile);
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    return this.inner.rollbackToSavepoint!(connection, name, compile);
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler["compileQuery"]) {
    return this.inner.releaseSavepoint!(connection, name, compile);
  }

  releaseConnection(connection: DatabaseConnection, options?: Parameters<Driver["releaseConnection"]>[1]) {
    return this.inner.releaseConnection(this.innerOf(connection), options);
  }

  destroy(options?: Parameters<Driver["destroy"]>[0]) {
    return this.inner.destroy(options);
  }
}

/** Connections of the pool the hot reads use (executePrepared), besides the ORM's pool of 20. */
export const HOT_READ_CONNECTIONS = 10;

/** MikroORM's MySQL connection (used by its MariaDB driver) with the bounded Kysely driver underneath. */
export class BoundedMySqlConnection extends MySqlConnection {
  /** Mutable: openDatabase turns the statement bound on once migrations are done. */
  readonly bounds: MariaDbBounds = { ...MARIADB_BOUNDS, statementMs: 0 };
  private hotPool: SQL | null = null;

  /**
   * One statement as a server-side prepared statement, for the hot reads with a fixed SQL text (a validation's
   * read, the license lookup by digest), outside any transaction. It runs on a pool of its own, Bun's native
   * MariaDB client (Bun.SQL), not on the ORM's mysql2 pool: against the benchmark's mysql2 floor it answered
   * the validation read about 45 % faster with half the resident memory, since it parses the protocol in native
   * code and leaves no buffers behind for the collector. Its rows hold the same values as `rawQuery`'s, with
   * dates as Date objects (UTC, like the ORM's session) where mysql2 answers strings; the row mappers read both.
   *
   * Bounds: a new connection gives up after the acquire bound; the statement, including any wait for a free
   * connection of this pool, after the statement bound. Bun.SQL cannot cancel a MariaDB statement, so a
   * statement that outlives its bound closes this whole pool: its stuck connections are dropped (the statements
   * still running on them fail as the database being unavailable) and the next read opens a fresh pool.
   */
  async executePrepared(sql: string, params: unknown[]): Promise<unknown[]> {
    const pool = (this.hotPool ??= this.openHotPool());
    // `unsafe` only means a plain SQL string instead of a tagged template: the text is one of our constants and
    // the values travel as the prepared statement's parameters, never inside the text.
    const rows = await within(pool.unsafe(sql, params), this.bounds.statementMs, "query", () => {
      if (this.hotPool === pool) this.hotPool = null;
      pool.close({ timeout: 0 }).catch(() => {});
    });
    // A plain array: Bun.SQL's result also carries the command's counters.
    return Array.from(rows as unknown[]);
  }

  private openHotPool(): SQL {
    const { host, port, user, password, database } = this.getConnectionOptions();
    return new SQL({
      adapter: "mariadb",
      hostname: host,
      port,
      username: user,
      password,
      database,
      max: HOT_READ_CONNECTIONS,
      connectionTimeout: Math.max(1, Math.ceil(this.bounds.acquireMs / 1000)),
      idleTimeout: 60,
    });
  }

  override async close(force?: boolean): Promise<void> {
    const pool = this.hotPool;
    this.hotPool = null;
    await pool?.close({ timeout: force ? 0 : 5 }).catch(() => {});
    await super.close(force);
  }

  override async createKyselyDialect(overrides: Parameters<MySqlConnection["createKyselyDialect"]>[0]): Promise<MysqlDialect> {
    // mysql2's own connect timeout ends a connection attempt the acquire bound gave up on.
    const dialect = await super.createKyselyDialect({ connectTimeout: this.bounds.acquireMs || undefined, ...overrides });
    const bounded: Dialect = {
      createDriver: () => new BoundedDriver(dialect.createDriver(), this.bounds),
      createQueryCompiler: () => dialect.createQueryCompiler(),
      createAdapter: () => dialect.createAdapter(),
      createIntrospector: (db) => dialect.createIntrospector(db),
    };
    return bounded as MysqlDialect;
  }
}

/** MikroORM's MariaDB driver on BoundedMySqlConnection. */
export class BoundedMariaDbDriver extends MariaDbDriver {
  constructor(config: Configuration) {
    super(config);
    const self = this as unknown as { connection: MySqlConnection; replicas: MySqlConnection[] };
    self.connection = new BoundedMySqlConnection(this.config);
    self.replicas = this.createReplicas((conf) => new BoundedMySqlConnection(this.config, conf, "read"));
  }
}
