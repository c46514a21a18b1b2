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

/** A statement or a connection attempt that got no answer from the database within the configured time. */
export class DatabaseTimeout extends Error {
  override readonly name = "DatabaseTimeout";
  constructor(readonly what: "connect" | "query", readonly timeoutMs: number) {
    super(`database ${what} timed out after ${timeoutMs} ms`);
  }
}

/**
 * True when `error` (or one of its causes) says the database server is unreachable, down, frozen or
 * refusing connections. mysql2 marks every connection-level failure (refused, reset, lost, connect time-out,
 * a dead connection reused) `fatal`, and MikroORM's driver exceptions keep that flag.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DatabaseTimeout) return true;
    const { fatal, code, errno } = current as { fatal?: unknown; code?: unknown; errno?: unknown };
    if (fatal === true) return true;
    if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
    if (typeof errno === "number" && UNAVAILABLE_ERRNOS.has(errno)) return true;
    current = current.cause;
  }
  return false;
}
