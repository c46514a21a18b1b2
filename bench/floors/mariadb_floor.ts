// MariaDB floor: a bare Bun.serve that digests X-License-Key as the service does and answers the same
// /api/validate JSON from ONE prepared mysql2 statement (pool.execute) on the service's own database.
// Usage: FLOOR_DATABASE_URL=mariadb://user:pass@host:3306/database bun bench/floors/mariadb_floor.ts --port N
import mysql from "mysql2/promise";
import { answerOf, digestOf, flags, LOOKUP_SQL, monthStart, refused, type LookupRow } from "./_validate_answer.ts";

const args = flags(process.argv.slice(2));
const url = new URL(process.env.FLOOR_DATABASE_URL ?? "");
// Pool size and time zone as the service's MikroORM configuration (src/adapters/db/orm.ts).
const pool = mysql.createPool({
  host: url.hostname,
  port: Number(url.port || 3306),
  user: decodeURIComponent(url.username),
  password: decodeURIComponent(url.password),
  database: url.pathname.slice(1),
  connectionLimit: 20,
  timezone: "Z",
});

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(args.port),
  async fetch(request) {
    const digest = await digestOf(request);
    if (digest === null) return refused();
    const now = new Date();
    const [rows] = await pool.execute(LOOKUP_SQL, [monthStart(now), digest]);
    return answerOf((rows as LookupRow[])[0], now);
  },
});
