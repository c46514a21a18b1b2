// Another process holding an SQLite file's write lock, as a second service instance, a backup tool or an
// admin's `sqlite3` shell in a long transaction would. Run as a child (`startSqliteLocker`), it opens the
// file with bun:sqlite and obeys one command per line on stdin: `lock` (BEGIN IMMEDIATE, which in WAL mode is
// the write lock; readers go on) and `release` (ROLLBACK), answering `locked` / `released` on stdout. It
// exits when stdin closes; killed, the operating system drops its lock.
import { Database } from "bun:sqlite";
import { drain } from "./server.ts";

/** A running locker process. */
export interface SqliteLocker {
  /** Takes the write lock and resolves once it holds it. */
  lock(): Promise<void>;
  /** Gives the lock back and resolves once it is released. */
  release(): Promise<void>;
  /** Ends the process (SIGKILL: whatever it held is dropped, its -wal and -shm files stay). */
  kill(): Promise<void>;
  /** What it wrote on stderr (for failure messages). */
  stderr(): string;
}

/** Starts a locker on `dbPath` (the file must exist); it holds nothing until `lock()`. */
export async function startSqliteLocker(dbPath: string): Promise<SqliteLocker> {
  const child = Bun.spawn([process.execPath, import.meta.path, dbPath], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const errors: string[] = [];
  void drain(child.stderr, errors);
  const reader = child.stdout.getReader();
  let buffered = "";
  // One read in flight at a time, kept across waits, so no output is dropped when a wait gives up.
  let reading: ReturnType<typeof reader.read> | null = null;
  // Waits for the next line the child prints, failing when it ends first or stays silent too long.
  async function expectLine(expected: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === expected) return;
        throw new Error(`sqlite locker said "${line}", expected "${expected}"; stderr: ${errors.join("")}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`sqlite locker did not say "${expected}" in time; stderr: ${errors.join("")}`);
      reading ??= reader.read();
      const next = await Promise.race([reading, Bun.sleep(left).then(() => null)]);
      if (next === null) continue;
      reading = null;
      if (next.done) throw new Error(`sqlite locker ended before saying "${expected}" (exit ${await child.exited}); stderr: ${errors.join("")}`);
      buffered += new TextDecoder().decode(next.value);
    }
  }
  async function command(name: string, answer: string): Promise<void> {
    child.stdin.write(`${name}\n`);
    await child.stdin.flush();
    await expectLine(answer);
  }
  await expectLine("ready");
  return {
    lock: () => command("lock", "locked"),
    release: () => command("release", "released"),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await child.exited;
    },
    stderr: () => errors.join(""),
  };
}

// The child: one connection, commands from stdin.
if (import.meta.main) {
  const db = new Database(process.argv[2], { strict: true });
  // The service may be in the middle of a write when `lock` arrives; waiting for it is fine here.
  db.exec("PRAGMA busy_timeout = 10000");
  db.exec("PRAGMA journal_mode = WAL");
  process.stdout.write("ready\n");
  let pending = "";
  const input = Bun.stdin.stream().getReader();
  for (;;) {
    const { done, value } = await input.read();
    if (done) break;
    pending += new TextDecoder().decode(value);
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line === "lock") {
        db.exec("BEGIN IMMEDIATE");
        process.stdout.write("locked\n");
      } else if (line === "release") {
        if (db.inTransaction) db.exec("ROLLBACK");
        process.stdout.write("released\n");
      } else {
        process.stdout.write(`unknown command ${line}\n`);
      }
    }
  }
  db.close();
}
