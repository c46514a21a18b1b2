// SQLite floor: a bare Bun.serve that digests X-License-Key as the service does and answers the same
// /api/validate JSON from ONE prepared bun:sqlite statement on the service's own database file.
// Usage: bun bench/floors/sqlite_floor.ts --port N --db PATH
import { Database } from "bun:sqlite";
import { answerOf, digestOf, flags, LOOKUP_SQL, monthStart, refused, type LookupRow } from "./_validate_answer.ts";

const args = flags(process.argv.slice(2));
const db = new Database(args.db);
// The service's own connection settings (src/adapters/db/bun_sqlite_dialect.ts).
db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL");
const lookup = db.prepare(LOOKUP_SQL);

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(args.port),
  async fetch(request) {
    const digest = await digestOf(request);
    if (digest === null) return refused();
    const now = new Date();
    // The service stores SQLite datetimes as epoch milliseconds.
    return answerOf(lookup.get(monthStart(now).getTime(), digest) as LookupRow | null, now);
  },
});
