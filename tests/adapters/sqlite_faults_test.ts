// The SQLite file in trouble: locked by another process, read-only, or on a full disk. Each time the
// service answers writes with the JSON 503 (service_unavailable, Retry-After) in a bounded time instead of
// a 500 or a hang, keeps answering everything that needs no write, recovers by itself once the fault is
// gone, loses no usage of a chat call it answered, and leaves a database that passes integrity_check with
// every committed row in place.
//
// These tests are about the SQLite file itself, so they run on an SQLite file in both CI legs (whatever
// TEST_DATABASE_URL says). The read-only and full-disk cases mount small tmpfs file systems: they need root
// or passwordless sudo (as CI has); a read-only start as another user uses chmod instead.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { ConnectionException, DriverException, LockWaitTimeoutException, ReadOnlyException } from "@mikro-orm/core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rawQuery, rawTransaction, SqliteGroupCommit } from "../../src/adapters/db/_support.ts";
import { isDatabaseUnavailable } from "../../src/adapters/db/availability.ts";
import { SERVING_BUSY_TIMEOUT_MS } from "../../src/adapters/db/bun_sqlite_dialect.ts";
import { openDatabase, type Db } from "../../src/adapters/db/orm.ts";
import { hashPassword } from "../../src/adapters/crypto/passwords.ts";
import { freePort, lines, runMain, STACK_FRAME } from "../app/process_support.ts";
import { startTestService, TEST_ENCRYPTION_KEY, type TestService } from "../support/app.ts";
import { envFor, HELLO } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { mountSmallDisk, readOnlyCapableDir, type SmallDisk } from "../support/small_disk.ts";
import { startSqliteLocker, type SqliteLocker } from "../support/sqlite_locker.ts";

/** The longest a request may take to be answered while the file is in trouble (a hang bound, not a speed goal). */
const ANSWER_BOUND_MS = 5_000;
/** The longest the event loop may stall while writes wait for a lock (the old synchronous wait was 5 s per statement). */
const STALL_BOUND_MS = 2_000;
/** How long recovery work (queued settlements and usage events) may take once the fault is gone. */
const RECOVERY_BOUND_MS = 20_000;
const ADMIN_PASSWORD = "correct horse battery staple";

// ---------------------------------------------------------------------------------------------------------
// Helpers

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "chatello-fault-"));
}

/** The error `work` throws (fails the test when it throws nothing). */
function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

/** Rejects when `promise` takes longer than `ms`: a hang shows up as a failure, not as a stuck test. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a request answered, and after how long. */
interface Timed {
  status: number;
  body: any;
  retryAfter: string | null;
  contentType: string;
  ms: number;
}

async function timed(request: () => Promise<Response>): Promise<Timed> {
  const begin = performance.now();
  const res = await within(30_000, "request", request());
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, retryAfter: res.headers.get("retry-after"), contentType: res.headers.get("content-type") ?? "", ms: performance.now() - begin };
}

/** The contract's 503 while the database cannot take the request. */
function expectUnavailable(answer: Timed, what: string): void {
  expect({ what, status: answer.status, code: answer.body?.code }).toEqual({ what, status: 503, code: "service_unavailable" });
  expect(answer.contentType).toContain("application/json");
  expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);
}

/** The largest gap between ticks of a 10 ms timer while it runs: how long the event loop was frozen. */
function stallMonitor(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}

/** PRAGMA integrity_check on a connection of its own. */
function integrityOf(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("PRAGMA integrity_check").all() as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}

/** Polls `probe` until `done` holds or `ms` pass, returning its last value. */
async function until<T>(ms: number, probe: () => Promise<T> | T, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await Bun.sleep(50);
  }
}

/** A service client with the calls these tests make. */
function client(svc: TestService) {
  return {
    chat: (key: string, agent: string) => timed(() => svc.request("POST", "/api/chat", { key, body: { messages: HELLO }, headers: { "user-agent": agent } })),
    validate: (key: string) => timed(() => svc.request("POST", "/api/validate", { key })),
    login: (email: string) =>
      timed(() =>
        svc.request("POST", "/admin/login", {
          rawBody: new URLSearchParams({ email, password: ADMIN_PASSWORD }).toString(),
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
      ),
    health: () => timed(() => svc.request("GET", "/api/health")),
    /** user_agent of every usage event of the license, after writing what is queued. */
    async usageAgents(licenseId: number): Promise<string[]> {
      await svc.services.usageRecorder.flush().catch(() => {});
      const rows = await rawQuery(svc.services.db, "select user_agent from usage_events where license_id = ? order by id", [licenseId]);
      return (rows as Array<{ user_agent: string }>).map((r) => r.user_agent);
    },
    /** Settled calls in the license's current month counter. */
    async monthRequests(licenseId: number): Promise<number> {
      const rows = await rawQuery(svc.services.db, "select coalesce(sum(requests), 0) as n from quota_counters where license_id = ? and period = 'month'", [licenseId]);
      return Number((rows as Array<{ n: unknown }>)[0].n);
    },
    async reservations(licenseId: number): Promise<number> {
      const rows = await rawQuery(svc.services.db, "select count(*) as n from quota_reservations where license_id = ?", [licenseId]);
      return Number((rows as Array<{ n: unknown }>)[0].n);
    },
  };
}

/** The environment of a `serve` child on the SQLite file `path` (nothing inherited but PATH and HOME). */
function serveEnv(path: string, dataDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? dataDir,
    TMPDIR: tmpdir(),
    DATABASE_URL: `sqlite:${path}`,
    DATA_DIR: dataDir,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: "warn",
    PORT: String(freePort()),
    HOST: "127.0.0.1",
  };
}

/** Runs `serve` on `path` and checks it refused to start with one clear line naming the database. */
async function expectRefusedStart(path: string, dataDir: string, state: string, why: RegExp): Promise<void> {
  const begin = performance.now();
  const start = await runMain(["serve"], serveEnv(path, dataDir), 30_000);
  const stderr = lines(start.stderr);
  expect({
    state,
    failed: start.code !== 0,
    stderrLines: stderr.length,
    namesTheDatabase: /^Cannot (open|seed) the database \(DATABASE_URL, sqlite /.test(start.stderr) && start.stderr.includes(path),
    saysWhy: why.test(start.stderr),
    stackTrace: STACK_FRAME.test(start.stderr),
    listened: start.stdout.includes("listening"),
    bounded: performance.now() - begin < 25_000,
    output: { stdout: start.stdout, stderr: start.stderr },
  }).toEqual({
    state,
    failed: true,
    stderrLines: 1,
    namesTheDatabase: true,
    saysWhy: true,
    stackTrace: false,
    listened: false,
    bounded: true,
    output: { stdout: start.stdout, stderr: start.stderr },
  });
}

async function createAdmin(svc: TestService, email: string): Promise<void> {
  await svc.services.admins.create({ email, name: "Fault admin", passwordHash: await hashPassword(ADMIN_PASSWORD) }, svc.clock.now());
}

// ---------------------------------------------------------------------------------------------------------

describe("SQLite errors that mean the file, not the statement, is the problem", () => {
  let dir: string;
  let path: string;
  beforeAll(() => {
    dir = tempDir();
    path = join(dir, "errors.db");
    const db = new Database(path, { create: true, strict: true });
    db.exec("PRAGMA journal_mode = WAL; create table t (id integer primary key, v text unique, b blob)");
    db.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function withConnection<T>(work: (db: Database) => T, options: { readonly?: boolean } = {}): T {
    const db = new Database(path, { strict: true, ...options });
    try {
      db.exec("PRAGMA busy_timeout = 0");
      return work(db);
    } finally {
      db.close();
    }
  }

  test("a file locked by another connection (SQLITE_BUSY) is unavailable, also wrapped by the ORM", () => {
    const holder = new Database(path, { strict: true });
    holder.exec("BEGIN IMMEDIATE");
    try {
      const busy = withConnection((db) => thrownBy(() => db.exec("insert into t (v) values ('x')")));
      expect((busy as { code?: string }).code).toBe("SQLITE_BUSY");
      expect(isDatabaseUnavailable(busy)).toBe(true);
      expect(isDatabaseUnavailable(new LockWaitTimeoutException(busy as Error))).toBe(true);
      expect(isDatabaseUnavailable(new Error("query failed", { cause: busy }))).toBe(true);
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
  });

  test("a read-only database (SQLITE_READONLY) is unavailable", () => {
    const opened = withConnection((db) => thrownBy(() => db.exec("insert into t (v) values ('ro')")), { readonly: true });
    const queryOnly = withConnection((db) => {
      db.exec("PRAGMA query_only = ON");
      return thrownBy(() => db.exec("insert into t (v) values ('qo')"));
    });
    for (const error of [opened, queryOnly]) {
      expect((error as { code?: string }).code).toStartWith("SQLITE_READONLY");
      expect(isDatabaseUnavailable(error)).toBe(true);
      expect(isDatabaseUnavailable(new ReadOnlyException(error as Error))).toBe(true);
    }
  });

  test("a full database (SQLITE_FULL) is unavailable", () => {
    const full = withConnection((db) => {
      const pages = (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
      db.exec(`PRAGMA max_page_count = ${pages + 1}`);
      return thrownBy(() => db.exec("insert into t (b) values (zeroblob(1000000))"));
    });
    expect((full as { code?: string }).code).toBe("SQLITE_FULL");
    expect(isDatabaseUnavailable(full)).toBe(true);
    expect(isDatabaseUnavailable(new DriverException(full as Error))).toBe(true);
  });

  test("a file that cannot be opened (SQLITE_CANTOPEN) is unavailable", () => {
    const cantOpen = thrownBy(() => new Database(join(dir, "missing", "dir", "x.db"), { create: true }));
    expect((cantOpen as { code?: string }).code).toBe("SQLITE_CANTOPEN");
    expect(isDatabaseUnavailable(cantOpen)).toBe(true);
    expect(isDatabaseUnavailable(new ConnectionException(cantOpen as Error))).toBe(true);
  });

  test("I/O errors and extended codes count by name or by number", () => {
    const sqliteError = (fields: Record<string, unknown>) => Object.assign(new Error("disk I/O error"), { name: "SQLiteError", ...fields });
    expect(isDatabaseUnavailable(sqliteError({ code: "SQLITE_IOERR_WRITE", errno: 778 }))).toBe(true);
    expect(isDatabaseUnavailable(sqliteError({ code: "SQLITE_BUSY_SNAPSHOT" }))).toBe(true);
    expect(isDatabaseUnavailable(sqliteError({ errno: 778 }))).toBe(true); // SQLITE_IOERR_WRITE
    expect(isDatabaseUnavailable(sqliteError({ errno: 1032 }))).toBe(true); // SQLITE_READONLY_DBMOVED
    expect(isDatabaseUnavailable(sqliteError({ errno: 19 }))).toBe(false); // SQLITE_CONSTRAINT
  });

  test("a fault of the statement itself is not unavailability (it stays a 500 or its own answer)", () => {
    const unique = withConnection((db) => {
      db.exec("insert or ignore into t (v) values ('dup')");
      return thrownBy(() => db.exec("insert into t (v) values ('dup')"));
    });
    const syntax = withConnection((db) => thrownBy(() => db.exec("selec 1")));
    const missing = withConnection((db) => thrownBy(() => db.exec("select * from no_such_table")));
    for (const error of [unique, syntax, missing]) {
      expect((error as { code?: string }).code).toStartWith("SQLITE_");
      expect(isDatabaseUnavailable(error)).toBe(false);
    }
    // SQLite's numbers overlap MariaDB's and the system's: a bare errno 5 or 13 is not SQLite's BUSY or FULL.
    expect(isDatabaseUnavailable(Object.assign(new Error("Input/output error"), { errno: 5 }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error("EACCES"), { errno: 13, code: "EACCES" }))).toBe(false);
    // MariaDB's own stay recognised.
    expect(isDatabaseUnavailable(Object.assign(new Error("Lost connection"), { errno: 2013 }))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("the SQLite connection after a refused transaction", () => {
  let dir: string;
  let path: string;
  let db: Db;
  beforeAll(async () => {
    dir = tempDir();
    path = join(dir, "connection.db");
    db = await openDatabase({ kind: "sqlite", path });
    await rawQuery(db, "create table fault_scratch (id integer primary key, v blob)", [], "run");
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Holds the write lock with a second connection of this process (SQLite's locks work between them). */
  function holdLock(): { release(): void } {
    const holder = new Database(path, { strict: true });
    holder.exec("BEGIN IMMEDIATE");
    return {
      release() {
        holder.exec("ROLLBACK");
        holder.close();
      },
    };
  }

  async function scratchRows(): Promise<number> {
    const rows = await within(10_000, "count scratch rows", rawQuery(db, "select count(*) as n from fault_scratch"));
    return Number((rows as Array<{ n: unknown }>)[0].n);
  }

  test("opening waits long for a lock (another process may be migrating), serving waits briefly", async () => {
    const timeout = (await rawQuery(db, "PRAGMA busy_timeout")) as Array<{ timeout: number }>;
    expect(timeout[0].timeout).toBe(SERVING_BUSY_TIMEOUT_MS);
    expect(SERVING_BUSY_TIMEOUT_MS).toBeLessThanOrEqual(250);
  });

  test("an ORM transaction whose BEGIN IMMEDIATE meets a lock fails with 'unavailable' and frees the connection", async () => {
    const lock = holdLock();
    let refused: unknown = null;
    try {
      await within(10_000, "ORM transaction", db.orm.em.fork().transactional(async (em) => em.getConnection().execute("insert into fault_scratch (v) values ('orm')", [], "run", em.getTransactionContext())))
        .catch((error) => {
          refused = error;
        });
    } finally {
      lock.release();
    }
    expect(refused).not.toBeNull();
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(db.sqlite!.inTransaction()).toBe(false);
    // The connection (and Kysely's mutex over it) is free again: the next statements run, and nothing of the
    // refused transaction ran outside a transaction.
    expect(await scratchRows()).toBe(0);
    await within(10_000, "ORM transaction after the lock", db.orm.em.fork().transactional(async (em) => em.getConnection().execute("insert into fault_scratch (v) values ('orm')", [], "run", em.getTransactionContext())));
    expect(await scratchRows()).toBe(1);
  });

  test("a raw transaction meeting a lock fails with 'unavailable', and the next one commits", async () => {
    const lock = holdLock();
    let refused: unknown = null;
    try {
      await within(10_000, "raw transaction", rawTransaction(db, (run) => run("insert into fault_scratch (v) values ('raw')", [], "run"))).catch((error) => {
        refused = error;
      });
    } finally {
      lock.release();
    }
    expect(isDatabaseUnavailable(refused)).toBe(true);
    const before = await scratchRows();
    await within(10_000, "raw transaction after the lock", rawTransaction(db, (run) => run("insert into fault_scratch (v) values ('raw')", [], "run")));
    expect(await scratchRows()).toBe(before + 1);
  });

  test("a transaction SQLite ended by itself (the database is full) leaves the connection usable", async () => {
    const pages = ((await rawQuery(db, "PRAGMA page_count")) as Array<{ page_count: number }>)[0].page_count;
    const before = await scratchRows();
    await rawQuery(db, `PRAGMA max_page_count = ${pages + 2}`);
    const failures: unknown[] = [];
    try {
      // A raw transaction, the ORM's transaction, and a group commit, each writing more than fits.
      await within(
        10_000,
        "raw transaction on a full database",
        rawTransaction(db, async (run) => {
          await run("insert into fault_scratch (v) values ('small')", [], "run");
          await run("insert into fault_scratch (v) values (zeroblob(2000000))", [], "run");
        }),
      ).catch((error) => failures.push(error));
      await within(
        10_000,
        "ORM transaction on a full database",
        db.orm.em.fork().transactional(async (em) => {
          await em.getConnection().execute("insert into fault_scratch (v) values ('small')", [], "run", em.getTransactionContext());
          await em.getConnection().execute("insert into fault_scratch (v) values (zeroblob(2000000))", [], "run", em.getTransactionContext());
        }),
      ).catch((error) => failures.push(error));
      await within(
        10_000,
        "group commit on a full database",
        new SqliteGroupCommit(db).submit((run) => run("insert into fault_scratch (v) values (zeroblob(2000000))", [], "run")),
      ).catch((error) => failures.push(error));
    } finally {
      await rawQuery(db, "PRAGMA max_page_count = 4294967294");
    }
    expect(failures).toHaveLength(3);
    for (const failure of failures) expect(isDatabaseUnavailable(failure)).toBe(true);
    expect(db.sqlite!.inTransaction()).toBe(false);
    // Nothing of the failed transactions stayed, and the connection writes again.
    expect(await scratchRows()).toBe(before);
    await within(10_000, "raw transaction after the full database", rawTransaction(db, (run) => run("insert into fault_scratch (v) values ('after')", [], "run")));
    expect(await scratchRows()).toBe(before + 1);
    expect(integrityOf(path)).toBe("ok");
  });

  test("a group commit refused by a lock rejects the whole batch at once, then commits the next", async () => {
    const group = new SqliteGroupCommit(db);
    const before = await scratchRows();
    let ran = 0;
    // Counts the transactions tried: each BEGIN IMMEDIATE on a locked file waits the busy timeout, blocking.
    const sqlite = db.sqlite!;
    const prepare = sqlite.prepare.bind(sqlite);
    let begins = 0;
    sqlite.prepare = (sql) => {
      if (/^begin/i.test(sql)) begins += 1;
      return prepare(sql);
    };
    const lock = holdLock();
    const begin = performance.now();
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      outcomes = await within(
        20_000,
        "10 group-commit units on a locked file",
        Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            group.submit((run) => {
              ran += 1;
              return run("insert into fault_scratch (v) values (?)", [`unit ${i}`], "run");
            }),
          ),
        ),
      );
    } finally {
      lock.release();
      sqlite.prepare = prepare;
    }
    const ms = performance.now() - begin;
    expect(outcomes.map((o) => o.status)).toEqual(Array(10).fill("rejected"));
    for (const outcome of outcomes) expect(isDatabaseUnavailable((outcome as PromiseRejectedResult).reason)).toBe(true);
    // The units never ran: BEGIN IMMEDIATE was refused, and the batch was not split into ten more attempts.
    expect(ran).toBe(0);
    expect(begins).toBeGreaterThan(0);
    expect(begins).toBeLessThanOrEqual(3);
    expect(ms).toBeLessThan(ANSWER_BOUND_MS);
    const values = await within(10_000, "10 units after the lock", Promise.all(Array.from({ length: 10 }, (_, i) => group.submit((run) => run("insert into fault_scratch (v) values (?)", [`again ${i}`], "run")))));
    expect(values).toHaveLength(10);
    expect(await scratchRows()).toBe(before + 10);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("a service whose SQLite file another process keeps locked", () => {
  let dir: string;
  let path: string;
  let up: FakeUpstream;
  let svc: TestService;
  let locker: SqliteLocker;
  let key: string;
  let licenseId: number;
  const adminEmail = "locked-admin@example.com";

  beforeAll(async () => {
    dir = tempDir();
    path = join(dir, "chatello.db");
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up, { PROVIDER_TIMEOUT_MS: "10000" }), { sqlitePath: path });
    ({ key, licenseId } = await svc.issue({ plan: "pro" }));
    await createAdmin(svc, adminEmail);
    locker = await startSqliteLocker(path);
  });
  afterAll(async () => {
    await locker?.kill();
    await svc?.close();
    await up?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("writes answer 503 quickly, reads go on, the event loop keeps turning, and all recovers after the release", async () => {
    const api = client(svc);
    const answered: string[] = [];
    const chat = async (agent: string) => {
      const answer = await api.chat(key, agent);
      if (answer.status === 200) answered.push(agent);
      return answer;
    };

    // Before: everything works.
    expect((await chat("before-1")).status).toBe(200);
    expect((await chat("before-2")).status).toBe(200);
    expect((await api.validate(key)).status).toBe(200);
    expect((await api.login(adminEmail)).status).toBe(303);

    // A call already admitted when the lock comes: answered 200, its settlement and usage wait for the file.
    up.script({ delayMs: 1_500 });
    const held = chat("held");
    await until(10_000, () => up.openRequests(), (n) => n > 0);
    await locker.lock();
    try {
      expect((await held).status).toBe(200);

      const upstreamCalls = up.requests.length;
      const monitor = stallMonitor();
      const [chats, login, health] = await Promise.all([
        Promise.all(Array.from({ length: 10 }, (_, i) => chat(`locked-${i}`))),
        api.login(adminEmail),
        Bun.sleep(20).then(() => api.health()),
      ]);
      const stall = monitor.stop();
      chats.forEach((answer, i) => expectUnavailable(answer, `chat ${i} while locked`));
      expectUnavailable(login, "admin sign-in while locked");
      // Refused at admission: no call reached the provider.
      expect(up.requests.length).toBe(upstreamCalls);
      // Health answers (it reads), without waiting for the writes.
      expect([200, 503]).toContain(health.status);
      expect(health.ms).toBeLessThan(ANSWER_BOUND_MS);
      expect(stall).toBeLessThan(STALL_BOUND_MS);

      // Validation only reads; its best-effort last-validated update gives way.
      svc.clock.advance(2 * 24 * 60 * 60 * 1000);
      const validation = await api.validate(key);
      expect(validation.status).toBe(200);
      expect(validation.body.valid).toBe(true);
      expect(validation.ms).toBeLessThan(ANSWER_BOUND_MS);

      // A route that needs no database (the OpenAPI document) answers promptly while a write waits for the lock.
      const pending = chat("locked-late");
      const docs = await timed(() => svc.request("GET", "/swagger/json"));
      expect(docs.status).toBe(200);
      expect(docs.ms).toBeLessThan(STALL_BOUND_MS);
      expectUnavailable(await pending, "chat while locked");
    } finally {
      await locker.release();
    }

    // After the release, without any restart.
    expect((await chat("after-1")).status).toBe(200);
    expect((await api.validate(key)).status).toBe(200);
    expect((await api.login(adminEmail)).status).toBe(303);

    // Every answered call's usage event and settlement arrive, once each.
    const expected = ["before-1", "before-2", "held", "after-1"];
    expect(answered.sort()).toEqual([...expected].sort());
    const agents = await until(RECOVERY_BOUND_MS, () => api.usageAgents(licenseId), (a) => a.length >= expected.length);
    expect([...agents].sort()).toEqual([...expected].sort());
    expect(await until(RECOVERY_BOUND_MS, () => api.monthRequests(licenseId), (n) => n >= expected.length)).toBe(expected.length);
    expect(await until(RECOVERY_BOUND_MS, () => api.reservations(licenseId), (n) => n === 0)).toBe(0);
    expect(integrityOf(path)).toBe("ok");
  });

  test("`serve` on a file another process keeps locked refuses to start with one clear line", async () => {
    await locker.lock();
    try {
      await expectRefusedStart(path, dir, "locked", /locked by another process/);
    } finally {
      await locker.release();
    }
  });

  test("a locker that dies holding the lock frees the file, and the service writes again", async () => {
    const api = client(svc);
    await locker.lock();
    expectUnavailable(await api.chat(key, "killed-locked"), "chat while locked");
    await locker.kill();
    const after = await api.chat(key, "after-kill");
    expect(after.status).toBe(200);
    const agents = await until(RECOVERY_BOUND_MS, () => api.usageAgents(licenseId), (a) => a.includes("after-kill"));
    expect(agents.filter((a) => a === "after-kill")).toHaveLength(1);
    expect(agents).not.toContain("killed-locked");
    expect(integrityOf(path)).toBe("ok");
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("a read-only SQLite database", () => {
  test("`serve` refuses to start with one clear line naming the database", async () => {
    const ro = readOnlyCapableDir();
    const path = join(ro.dir, "chatello.db");
    try {
      // A database that served before: schema, plans and admin in place.
      const seeded = await startTestService({}, { sqlitePath: path });
      await seeded.close();
      const why = /read-only|cannot be opened/;

      // Closed cleanly (no -wal or -shm next to it): SQLite cannot even open it in WAL mode.
      ro.setReadOnly(true);
      await expectRefusedStart(path, ro.dir, `${ro.method}, closed cleanly`, why);
      ro.setReadOnly(false);

      // Left by a process that died (its -wal and -shm stay): SQLite opens it read-only without a word.
      const locker = await startSqliteLocker(path);
      await locker.kill();
      ro.setReadOnly(true);
      await expectRefusedStart(path, ro.dir, `${ro.method}, with -wal and -shm`, why);
      ro.setReadOnly(false);

      expect(integrityOf(path)).toBe("ok");
    } finally {
      ro.setReadOnly(false);
      await ro.remove();
    }
  });

  test("a running service whose connection turns read-only answers writes with 503, not 500, and recovers", async () => {
    // Linux refuses to remount a file system read-only while a process has a file on it open for writing
    // (EBUSY), and permissions are checked at open only, so a running service meets a read-only database
    // as SQLite's SQLITE_READONLY on its open connection, which PRAGMA query_only produces.
    const dir = tempDir();
    const path = join(dir, "chatello.db");
    const up = await startFakeUpstream();
    const svc = await startTestService(envFor(up), { sqlitePath: path });
    try {
      const api = client(svc);
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await createAdmin(svc, "ro-admin@example.com");
      expect((await api.chat(key, "rw-before")).status).toBe(200);

      await rawQuery(svc.services.db, "PRAGMA query_only = ON");
      try {
        expectUnavailable(await api.chat(key, "ro-chat"), "chat on a read-only database");
        expectUnavailable(await api.login("ro-admin@example.com"), "admin sign-in on a read-only database");
        svc.clock.advance(2 * 24 * 60 * 60 * 1000);
        const validation = await api.validate(key);
        expect(validation.status).toBe(200);
        expect(validation.body.valid).toBe(true);
        expect((await api.health()).ms).toBeLessThan(ANSWER_BOUND_MS);
      } finally {
        await rawQuery(svc.services.db, "PRAGMA query_only = OFF");
      }

      expect((await api.chat(key, "rw-after")).status).toBe(200);
      expect((await api.login("ro-admin@example.com")).status).toBe(303);
      const agents = await until(RECOVERY_BOUND_MS, () => api.usageAgents(licenseId), (a) => a.length >= 2);
      expect(agents.sort()).toEqual(["rw-after", "rw-before"]);
      expect(await until(RECOVERY_BOUND_MS, () => api.monthRequests(licenseId), (n) => n >= 2)).toBe(2);
      expect(integrityOf(path)).toBe("ok");
    } finally {
      await svc.close();
      await up.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("an SQLite database on a full disk", () => {
  let disk: SmallDisk;
  let path: string;
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    disk = mountSmallDisk(2 * 1024 * 1024);
    path = join(disk.dir, "chatello.db");
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up), { sqlitePath: path });
  });
  afterAll(async () => {
    await svc?.close();
    await up?.stop();
    await disk?.remove();
  });

  test("writes answer 503 while the disk is full, nothing crashes, and after space is freed every committed row is there", async () => {
    const api = client(svc);
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await createAdmin(svc, "full-admin@example.com");
    const answered: string[] = [];
    const chat = async (agent: string) => {
      const answer = await api.chat(key, agent);
      if (answer.status === 200) answered.push(agent);
      return answer;
    };
    for (let i = 0; i < 3; i++) expect((await chat(`before-${i}`)).status).toBe(200);
    await until(RECOVERY_BOUND_MS, () => api.usageAgents(licenseId), (a) => a.length >= 3);
    const licensesBefore = (await rawQuery(svc.services.db, "select id, status from licenses order by id")) as unknown[];

    // Every write now needs new space: the WAL is emptied into the database first, then the disk filled.
    await rawQuery(svc.services.db, "PRAGMA wal_checkpoint(TRUNCATE)");
    disk.fill();
    try {
      const refused = await Promise.all(Array.from({ length: 5 }, (_, i) => chat(`full-${i}`)));
      refused.forEach((answer, i) => expectUnavailable(answer, `chat ${i} on a full disk`));
      expectUnavailable(await api.login("full-admin@example.com"), "admin sign-in on a full disk");
      // Issuing a license (an ORM transaction) fails too, and cleanly.
      const issue = await svc.issue({ plan: "pro" }).then(
        () => null,
        (error) => error,
      );
      expect(isDatabaseUnavailable(issue)).toBe(true);
      svc.clock.advance(2 * 24 * 60 * 60 * 1000);
      expect((await api.validate(key)).status).toBe(200);
      expect([200, 503]).toContain((await api.health()).status);
    } finally {
      disk.free();
    }

    expect((await chat("after-0")).status).toBe(200);
    expect((await api.login("full-admin@example.com")).status).toBe(303);
    const issued = await svc.issue({ plan: "pro" });
    expect(issued.licenseId).toBeGreaterThan(0);

    const expected = ["before-0", "before-1", "before-2", "after-0"];
    expect(answered.sort()).toEqual([...expected].sort());
    const agents = await until(RECOVERY_BOUND_MS, () => api.usageAgents(licenseId), (a) => a.length >= expected.length);
    expect([...agents].sort()).toEqual([...expected].sort());
    expect(await until(RECOVERY_BOUND_MS, () => api.monthRequests(licenseId), (n) => n >= expected.length)).toBe(expected.length);

    // The rows committed before the disk filled are all there, and the file is sound.
    const licensesAfter = (await rawQuery(svc.services.db, "select id, status from licenses order by id")) as unknown[];
    expect(licensesAfter.slice(0, licensesBefore.length)).toEqual(licensesBefore);
    expect(licensesAfter).toHaveLength(licensesBefore.length + 1);
    await rawQuery(svc.services.db, "PRAGMA wal_checkpoint(TRUNCATE)");
    expect(integrityOf(path)).toBe("ok");
  });

  test("a CLI command on a full disk fails with one clear line, no stack trace", async () => {
    await rawQuery(svc.services.db, "PRAGMA wal_checkpoint(TRUNCATE)");
    disk.fill();
    let run: Awaited<ReturnType<typeof runMain>>;
    try {
      run = await runMain(["license", "create", "--email", "cli-full@example.com", "--plan", "pro"], serveEnv(path, disk.dir), 30_000);
    } finally {
      disk.free();
    }
    expect({
      failed: run.code !== 0,
      stderrLines: lines(run.stderr).length,
      saysWhy: /full/i.test(run.stderr) && /database/i.test(run.stderr),
      stackTrace: STACK_FRAME.test(run.stderr),
      output: { stdout: run.stdout, stderr: run.stderr },
    }).toEqual({ failed: true, stderrLines: 1, saysWhy: true, stackTrace: false, output: { stdout: run.stdout, stderr: run.stderr } });
    expect(integrityOf(path)).toBe("ok");
  });

  test("`serve` creating a new database on a full disk refuses to start with one clear line", async () => {
    const fresh = join(disk.dir, "fresh.db");
    disk.fill();
    try {
      await expectRefusedStart(fresh, disk.dir, "full disk", /full/);
    } finally {
      disk.free();
    }
    // The service on the other file was not disturbed.
    expect((await client(svc).validate((await svc.issue({ plan: "pro" })).key)).status).toBe(200);
  });
});
