// The embedded database's write-ahead log: checkpoints are rare (each one stalls the commit that runs it for
// milliseconds), and the log is cut back after one (journal_size_limit) so the disk does not keep its largest size.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBunSqlite, WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES } from "../../src/adapters/db/bun_sqlite_dialect.ts";

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
