// Tells "the database server cannot be reached right now" apart from a fault of one statement: the first is
// answered 503 and goes away by itself once the server is back, the second is a bug (500).

// MariaDB server errors that mean the server, not the statement, is the problem: too many connections,
// shutting down, connection killed, and the client errors for a server gone or unreachable.
const UNAVAILABLE_ERRNOS = new Set([1040, 1053, 1927, 2002, 2003, 2006, 2013]);
const UNAVAILABLE_CODES = new Set([
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_CONNECTION_KILLED",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
]);

// Bun.SQL's own codes (the hot reads' pool, see BoundedMySqlConnection.executePrepared) for a connection that could
// not be opened, was closed or timed out; its server errors carry the server's errno like mysql2's.
const BUN_SQL_UNAVAILABLE_CODE = /^ERR_MYSQL_(CONNECTION_[A-Z_]+|IDLE_TIMEOUT|LIFETIME_TIMEOUT)$/;
/**
 * SQLite result codes (bun:sqlite's `code`, primary or extended, which MikroORM's exceptions copy) that mean
 * the file, not the statement, is the problem: locked by another process (BUSY, LOCKED), read-only, full,
 * failing I/O, or not openable. They pass once the lock is released or the disk fixed.
 */
const SQLITE_UNAVAILABLE_CODE = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN)(_[A-Z_]+)?$/;
// The same by number (an extended code keeps its primary code in the low byte), for errors without `code`.
const SQLITE_UNAVAILABLE_ERRNOS = new Set([5, 6, 8, 10, 13, 14]);

/** A statement or a connection attempt that got no answer from the database within the configured time. */
export class DatabaseTimeout extends Error {
  override readonly name = "DatabaseTimeout";
  constructor(readonly what: "connect" | "query", readonly timeoutMs: number) {
    super(`database ${what} timed out after ${timeoutMs} ms`);
  }
}

/**
 * True when `error` (or one of its causes) says the database server is unreachable, down, frozen or
 * refusing connections, or the SQLite file is locked, read-only, full or failing. mysql2 marks every
 * connection-level failure (refused, reset, lost, connect time-out, a dead connection reused) `fatal`, and
 * MikroORM's driver exceptions keep that flag.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DatabaseTimeout) return true;
    const { fatal, code, errno } = current as { fatal?: unknown; code?: unknown; errno?: unknown };
    if (fatal === true) return true;
    if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || SQLITE_UNAVAILABLE_CODE.test(code) || BUN_SQL_UNAVAILABLE_CODE.test(code))) return true;
    if (typeof errno === "number") {
      // A bare errno is a MariaDB one, unless the error says it comes from SQLite (whose numbers overlap).
      const fromSqlite = current.name === "SQLiteError" || (typeof code === "string" && code.startsWith("SQLITE_"));
      if (fromSqlite ? SQLITE_UNAVAILABLE_ERRNOS.has(errno & 0xff) : UNAVAILABLE_ERRNOS.has(errno)) return true;
    }
    current = current.cause;
  }
  return false;
}
