// The SQLite group commit behind quota admission and settlement. It is SQLite's own machinery, so this file
// exercises it on an embedded database whichever dialect the run uses.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rawQuery, SqliteGroupCommit } from "../../src/adapters/db/_support.ts";
import { openDatabase, type Db } from "../../src/adapters/db/orm.ts";

describe("SQLite group commit", () => {
  let db: Db;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "chatello-group-"));
    db = await openDatabase({ kind: "sqlite", path: join(dir, "group.db") });
    await rawQuery(db, "create table t (id integer primary key, v text not null unique)", [], "run");
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("units submitted together each resolve with their own value, run in submission order", async () => {
    const group = new SqliteGroupCommit(db);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => group.submit((run) => run("insert into t (v) values (?)", [`a${i}`], "run").insertId as number)),
    );
    expect(results).toEqual([...results].sort((a, b) => a - b));
    expect(new Set(results).size).toBe(50);
    expect((await rawQuery(db, "select count(*) as n from t where v like 'a%'"))[0].n).toBe(50);
  });

  test("a failing unit is rejected alone: the others of its batch are committed", async () => {
    const group = new SqliteGroupCommit(db);
    const outcomes = await Promise.allSettled([
      group.submit((run) => run("insert into t (v) values (?)", ["b1"], "run")),
      group.submit((run) => {
        run("insert into t (v) values (?)", ["b2"], "run");
        return run("insert into t (v) values (?)", ["b1"], "run"); // unique violation
      }),
      group.submit((run) => run("insert into t (v) values (?)", ["b3"], "run")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const rows = await rawQuery(db, "select v from t where v like 'b%' order by v");
    // b2 went with its failed unit; b1 and b3 stayed.
    expect(rows.map((r: { v: string }) => r.v)).toEqual(["b1", "b3"]);
  });

  test("a unit's promise settles only after the commit, so a reader sees what it wrote", async () => {
    const group = new SqliteGroupCommit(db);
    await group.submit((run) => run("insert into t (v) values (?)", ["c1"], "run"));
    expect((await rawQuery(db, "select count(*) as n from t where v = 'c1'"))[0].n).toBe(1);
  });

  test("units submitted in the same event-loop turn share one COMMIT, and a lone unit still commits alone", async () => {
    const sqlite = db.sqlite!;
    const prepare = sqlite.prepare.bind(sqlite);
    let commits = 0;
    sqlite.prepare = (sql: string) => {
      if (/^\s*commit\s*$/i.test(sql)) commits += 1;
      return prepare(sql);
    };
    try {
      const group = new SqliteGroupCommit(db);
      // Each from its own callback of one turn (as requests parsed together arrive), with the microtask queue
      // drained between them.
      await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) =>
            new Promise((resolve, reject) =>
              setImmediate(() => group.submit((run) => run("insert into t (v) values (?)", [`d${i}`], "run")).then(resolve, reject)),
            ),
        ),
      );
      expect(commits).toBe(1);
      await group.submit((run) => run("insert into t (v) values (?)", ["e1"], "run"));
      expect(commits).toBe(2);
    } finally {
      sqlite.prepare = prepare;
    }
    expect((await rawQuery(db, "select count(*) as n from t where v like 'd%' or v = 'e1'"))[0].n).toBe(41);
  });

  test("a statement issued while another transaction spans an await waits for it instead of joining it", async () => {
    const group = new SqliteGroupCommit(db);
    let inside!: () => void;
    const opened = new Promise<void>((resolve) => (inside = resolve));
    const transaction = db.orm.em
      .fork()
      .transactional(async (em) => {
        await em.getConnection().execute("insert into t (v) values ('f-rolled-back')", [], "run", em.getTransactionContext());
        inside();
        await Bun.sleep(30);
        throw new Error("roll back");
      })
      .catch((error: Error) => error.message);
    await opened;
    // Both arrive while the transaction is open: run at once, they would be rolled back with it.
    const direct = rawQuery(db, "insert into t (v) values ('f-direct')", [], "run");
    const grouped = group.submit((run) => run("insert into t (v) values (?)", ["f-grouped"], "run"));
    expect(await transaction).toBe("roll back");
    await Promise.all([direct, grouped]);
    const rows = await rawQuery(db, "select v from t where v like 'f-%' order by v");
    expect(rows.map((r: { v: string }) => r.v)).toEqual(["f-direct", "f-grouped"]);
  });
});
