// rawPreparedRead: on MariaDB a server-side prepared statement (mysql2's execute) outside Kysely, under the same
// bounds as every other statement; elsewhere rawQuery. Its rows must be rawQuery's, value for value and type
// for type, since the same row mappers read both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rawPreparedRead, rawQuery, sqlDate } from "../../src/adapters/db/_support.ts";
import { DatabaseTimeout } from "../../src/adapters/db/availability.ts";
import { TEST_DIALECT, testDb } from "../support/db.ts";

describe(`rawPreparedRead on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    ctx = await testDb();
  });
  afterAll(async () => ctx.cleanup());

  test("answers the rows rawQuery answers, with the same value types (dates, decimals, nulls, text)", async () => {
    const at = new Date(Date.UTC(2030, 4, 6, 7, 8, 9, 123));
    for (const [model, input, output] of [["m-a", 0.15, 0.6], ["m-b", 2.5, 10], ["m-c", 0, 0.000001]] as const) {
      await rawQuery(
        ctx.db,
        "insert into model_prices (provider, model, input_eur_per_mtok, output_eur_per_mtok, cached_input_eur_per_mtok, effective_from, created_at) values ('prep', ?, ?, ?, ?, ?, ?)",
        [model, input, output, input / 2, sqlDate(ctx.db, at), sqlDate(ctx.db, at)],
      );
    }
    const types = (rows: Array<Record<string, unknown>>) =>
      rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? "null" : v instanceof Date ? "Date" : typeof v])));
    const sql =
      "select id, provider, model, input_eur_per_mtok, output_eur_per_mtok, cached_input_eur_per_mtok, effective_from, created_at, null as absent from model_prices where provider = ? and model >= ? order by model";
    for (const from of ["m-a", "m-b", "m-z"]) {
      const prepared = await rawPreparedRead(ctx.db, sql, ["prep", from]);
      const plain = await rawQuery(ctx.db, sql, ["prep", from]);
      expect(prepared).toEqual(plain);
      expect(types(prepared)).toEqual(types(plain));
    }
    expect((await rawPreparedRead(ctx.db, sql, ["prep", "m-b"])).map((row) => row.model)).toEqual(["m-b", "m-c"]);
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
  });
});
