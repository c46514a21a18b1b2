// rawPreparedRead: on MariaDB a server-side prepared statement on the hot reads' own pool (Bun.SQL's native MariaDB
// client), under the same bounds as every other statement; elsewhere rawQuery. Its rows must hold rawQuery's values,
// since the same row mappers read both: the same text, numbers and nulls, and the same instants, which Bun.SQL
// answers as Date objects where the ORM's mysql2 answers strings.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { rawPreparedRead, rawQuery, readDate, sqlDate } from "../../src/adapters/db/_support.ts";
import { DatabaseTimeout, isDatabaseUnavailable } from "../../src/adapters/db/availability.ts";
import { TEST_DIALECT, testDb } from "../support/db.ts";

describe(`rawPreparedRead on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    ctx = await testDb();
  });
  afterAll(async () => ctx.cleanup());

  test("answers the values rawQuery answers (text, decimals, nulls, instants to the millisecond)", async () => {
    const at = new Date(Date.UTC(2030, 4, 6, 7, 8, 9, 123));
    for (const [model, input, output] of [["m-a", 0.15, 0.6], ["m-b", 2.5, 10], ["m-c", 0, 0.000001]] as const) {
      await rawQuery(
        ctx.db,
        "insert into model_prices (provider, model, input_eur_per_mtok, output_eur_per_mtok, cached_input_eur_per_mtok, effective_from, created_at) values ('prep', ?, ?, ?, ?, ?, ?)",
        [model, input, output, input / 2, sqlDate(ctx.db, at), sqlDate(ctx.db, at)],
      );
    }
    // What the row mappers make of a row: dates as instants, decimals as numbers, everything else as it is.
    const dates = new Set(["effective_from", "created_at"]);
    const decimals = new Set(["input_eur_per_mtok", "output_eur_per_mtok", "cached_input_eur_per_mtok"]);
    const mapped = (rows: Array<Record<string, unknown>>) =>
      rows.map((row) =>
        Object.fromEntries(
          Object.entries(row).map(([k, v]) => [k, v === null ? null : dates.has(k) ? readDate(v).toISOString() : decimals.has(k) ? Number(v) : v]),
        ),
      );
    const sql =
      "select id, provider, model, input_eur_per_mtok, output_eur_per_mtok, cached_input_eur_per_mtok, effective_from, created_at, null as absent from model_prices where provider = ? and model >= ? order by model";
    for (const from of ["m-a", "m-b", "m-z"]) {
      const prepared = await rawPreparedRead(ctx.db, sql, ["prep", from]);
      const plain = await rawQuery(ctx.db, sql, ["prep", from]);
      expect(Array.isArray(prepared) && Object.getPrototypeOf(prepared) === Array.prototype).toBe(true);
      expect(prepared.map((row: Record<string, unknown>) => Object.keys(row))).toEqual(plain.map((row: Record<string, unknown>) => Object.keys(row)));
      expect(mapped(prepared)).toEqual(mapped(plain));
      for (const row of prepared) {
        expect(typeof row.id).toBe("number");
        expect(row.absent).toBeNull();
      }
    }
    const rows = await rawPreparedRead(ctx.db, sql, ["prep", "m-b"]);
    expect(rows.map((row) => row.model)).toEqual(["m-b", "m-c"]);
    expect(readDate(rows[0].effective_from).getTime()).toBe(at.getTime());
    expect(Number(rows[1].output_eur_per_mtok)).toBe(0.000001);
    // A date parameter is compared as the UTC instant it is, like the ORM's.
    const since = await rawPreparedRead(ctx.db, "select count(*) as n from model_prices where provider = 'prep' and effective_from >= ?", [sqlDate(ctx.db, at)]);
    const after = await rawPreparedRead(ctx.db, "select count(*) as n from model_prices where provider = 'prep' and effective_from > ?", [sqlDate(ctx.db, at)]);
    expect([Number(since[0].n), Number(after[0].n)]).toEqual([3, 0]);
  });

  test("the same statement again, many times and concurrently, keeps answering (one prepared statement per connection)", async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => rawPreparedRead(ctx.db, "select ? + 1 as n", [i])));
    expect(answers.map((rows) => Number(rows[0].n))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  // The bound is MariaDB's (SQLite's statements run synchronously): registered only there, never skipped.
  if (TEST_DIALECT === "mariadb") test("a statement that outlives the bound fails as a DatabaseTimeout, and the pool keeps serving", async () => {
    const connection = ctx.db.orm.em.getConnection() as unknown as { bounds: { statementMs: number } };
    const before = connection.bounds.statementMs;
    connection.bounds.statementMs = 100;
    try {
      const started = performance.now();
      const error = await rawPreparedRead(ctx.db, "select sleep(2) as slept").catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseTimeout);
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      connection.bounds.statementMs = before;
    }
    expect(Number((await rawPreparedRead(ctx.db, "select 41 + 1 as n"))[0].n)).toBe(42);
    // Concurrent reads after the pool was replaced are served too.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => rawPreparedRead(ctx.db, "select ? * 2 as n", [i])));
    expect(answers.map((rows) => Number(rows[0].n))).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });
});

// The hot reads' client reports a server it cannot reach with its own codes: they must read as the database being
// unavailable (503), like mysql2's. Nothing listens on the port, so this needs no server.
test("Bun.SQL's failures to reach MariaDB read as the database being unavailable", async () => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  const sql = new SQL({ adapter: "mariadb", hostname: "127.0.0.1", port, username: "nobody", password: "", database: "none", max: 1, connectionTimeout: 2 });
  try {
    const refused = await sql.unsafe("select 1", []).catch((error) => error);
    expect(refused).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(refused)).toBe(true);
  } finally {
    await sql.close({ timeout: 0 }).catch(() => {});
  }
  expect(isDatabaseUnavailable(Object.assign(new Error("Connection closed"), { code: "ERR_MYSQL_CONNECTION_CLOSED" }))).toBe(true);
  expect(isDatabaseUnavailable(Object.assign(new Error("Table 'x.nope' doesn't exist"), { code: "ERR_MYSQL_SERVER_ERROR", errno: 1146 }))).toBe(false);
  expect(isDatabaseUnavailable(Object.assign(new Error("Too many connections"), { code: "ERR_MYSQL_SERVER_ERROR", errno: 1040 }))).toBe(true);
});
