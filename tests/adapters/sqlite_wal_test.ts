// The embedded database's write-ahead log: checkpoints are rare (each one stalls the commit that runs it for
// milliseconds), and the log is cut back after one (journal_size_limit) so the disk does not keep its largest size.
// The server checkpoints on a worker thread instead, off the commits that serve requests.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { rawQuery } from "../../src/adapters/db/_support.ts";
import { openBunSqlite, WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES } from "../../src/adapters/db/bun_sqlite_dialect.ts";
import { openDatabase, type Db } from "../../src/adapters/db/orm.ts";
import { startWalCheckpointer, WAL_BACKSTOP_PAGES } from "../../src/adapters/db/wal_checkpointer.ts";

describe("SQLite write-ahead log", () => {
  const dir = mkdtempSync(join(tmpdir(), "chatello-wal-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("checkpoints every 10,000 pages, not every 1,000, with the log cut back to 16 MB after a checkpoint", () => {
    const file = join(dir, "wal.db");
    const db = openBunSqlite(file);
    try {
      expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
      expect(db.query("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: WAL_AUTOCHECKPOINT_PAGES });
      expect(db.query("PRAGMA journal_size_limit").get()).toEqual({ journal_size_limit: WAL_SIZE_LIMIT_BYTES });
      expect(WAL_AUTOCHECKPOINT_PAGES).toBe(10_000);

      // 3,000 one-page commits stay in the log (the default would have checkpointed three times)...
      db.exec("create table t (id integer primary key, v text)");
      const insert = db.query("insert into t (v) values (?)");
      const pageSize = Number((db.query("PRAGMA page_size").get() as { page_size: number }).page_size);
      for (let i = 0; i < 3000; i++) insert.run("x".repeat(100));
      const walBytes = statSync(`${file}-wal`).size;
      expect(walBytes).toBeGreaterThan(2500 * pageSize);
      expect(db.query("select count(*) as n from t").get()).toEqual({ n: 3000 });
    } finally {
      db.close();
    }
  });
});

describe("SQLite checkpoints on a worker thread (the server)", () => {
  const dir = mkdtempSync(join(tmpdir(), "chatello-walworker-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const autocheckpoint = async (db: Db) => (await rawQuery(db, "PRAGMA wal_autocheckpoint"))[0].wal_autocheckpoint;

  test("the worker copies the log into the file while the serving connection's commits leave it alone", async () => {
    const file = join(dir, "served.db");
    const db = await openDatabase({ kind: "sqlite", path: file }, { backgroundCheckpoints: true });
    try {
      expect(db.walCheckpointer?.running).toBe(true);
      expect(await autocheckpoint(db)).toBe(WAL_BACKSTOP_PAGES);
      await rawQuery(db, "create table t (id integer primary key, v text)", [], "run");
      // Only a checkpoint writes the database file itself: wait for one to take the table in.
      await waitFor(() => db.walCheckpointer!.checkpoints > 0);
      const before = { checkpoints: db.walCheckpointer!.checkpoints, size: statSync(file).size };
      for (let i = 0; i < 500; i++) await rawQuery(db, "insert into t (v) values (?)", ["x".repeat(1000)], "run");
      expect(statSync(`${file}-wal`).size).toBeGreaterThan(100 * 4096);
      await waitFor(() => db.walCheckpointer!.checkpoints > before.checkpoints && statSync(file).size > before.size + 100 * 4096);
      expect(await rawQuery(db, "select count(*) as n from t")).toEqual([{ n: 500 }]);
    } finally {
      await db.close();
    }
    // Both connections closed: SQLite removed the log, and the file holds every row.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = openBunSqlite(file);
    try {
      expect(again.query("select count(*) as n from t").get()).toEqual({ n: 500 });
    } finally {
      again.close();
    }
  });

  test("CLI commands (no background checkpoints) and in-memory databases checkpoint as before", async () => {
    const cli = await openDatabase({ kind: "sqlite", path: join(dir, "cli.db") });
    const memory = await openDatabase({ kind: "sqlite", path: ":memory:" }, { backgroundCheckpoints: true });
    try {
      expect(cli.walCheckpointer).toBeNull();
      expect(await autocheckpoint(cli)).toBe(WAL_AUTOCHECKPOINT_PAGES);
      expect(memory.walCheckpointer).toBeNull();
    } finally {
      await cli.close();
      await memory.close();
    }
  });

  test("a worker that cannot open the file hands the checkpoints back to the serving connection and says why", async () => {
    const thresholds: number[] = [];
    const errors: Error[] = [];
    const checkpointer = startWalCheckpointer({
      file: join(dir, "no-such-dir", "missing.db"),
      connection: { setWalAutocheckpoint: (pages) => thresholds.push(pages) },
      onError: (error) => errors.push(error),
    });
    expect(await checkpointer.started).toBe(false);
    expect(checkpointer.running).toBe(false);
    expect(thresholds).toEqual([WAL_AUTOCHECKPOINT_PAGES]);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain("checkpointing the SQLite log on a worker failed");
    expect(errors[0].message).toContain("a new worker will take over in 30 s");
    await checkpointer.stop();
  });

  test("a failed worker is replaced after a pause that doubles while the failures go on; stop ends the retries", async () => {
    const errors: Error[] = [];
    const checkpointer = startWalCheckpointer({
      file: join(dir, "still-missing", "never.db"),
      connection: { setWalAutocheckpoint: () => {} },
      restartDelayMs: 100,
      onError: (error) => errors.push(error),
    });
    await waitFor(() => errors.length >= 3);
    expect(errors.slice(0, 3).map((e) => /take over in ([\d.]+) s/.exec(e.message)?.[1])).toEqual(["0.1", "0.2", "0.4"]);
    expect(checkpointer.restarts).toBeGreaterThanOrEqual(2);
    await checkpointer.stop();
    const seen = errors.length;
    await Bun.sleep(1000);
    expect(errors).toHaveLength(seen);
    expect(checkpointer.running).toBe(false);
  });

  test("once the file can be opened, the next worker takes the checkpoints back from the serving connection", async () => {
    const file = join(dir, "later", "appears.db");
    const thresholds: number[] = [];
    const errors: Error[] = [];
    const checkpointer = startWalCheckpointer({
      file,
      connection: { setWalAutocheckpoint: (pages) => thresholds.push(pages) },
      intervalMs: 50,
      restartDelayMs: 300,
      onError: (error) => errors.push(error),
    });
    expect(await checkpointer.started).toBe(false);
    // The serving side creates the file meanwhile; only the worker checkpoints it.
    mkdirSync(dirname(file));
    const db = openBunSqlite(file);
    try {
      db.exec("PRAGMA wal_autocheckpoint = 0; create table t (v text)");
      await waitFor(() => checkpointer.running);
      expect(checkpointer.restarts).toBe(1);
      expect(errors).toHaveLength(1);
      expect(thresholds).toEqual([WAL_AUTOCHECKPOINT_PAGES, WAL_BACKSTOP_PAGES]);
      const size = statSync(file).size;
      db.exec(`insert into t values ('${"x".repeat(100_000)}')`);
      await waitFor(() => checkpointer.checkpoints > 0 && statSync(file).size > size + 50_000);
    } finally {
      await checkpointer.stop();
      db.close();
    }
    expect(thresholds.at(-1)).toBe(WAL_AUTOCHECKPOINT_PAGES);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(50);
  }
}
