// MariaDB going away under load: `bun src/app/main.ts serve` as a child process runs on a MariaDB server
// this file starts itself (Debian's mariadbd, an empty data directory of its own, a free port), never on
// the machine's shared server, while clients keep sending validations and chat calls (JSON and streamed)
// through a fake upstream. The database is stopped cleanly, killed, and frozen (SIGSTOP, as a network
// partition looks from the service) in turn. Each time: /api/health turns 503, requests get the JSON 503
// in a bounded time instead of hanging, the process stays up; once the database is back the service
// recovers by itself, and every answered chat call's usage event reaches the database, counted in the
// quota exactly once.
//
// The test owns its database server, so it runs the same way in both CI legs (TEST_DATABASE_URL set to
// MariaDB or not): it needs only the mariadbd binary, which CI installs for the MariaDB leg anyway.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { drain, freePort } from "../support/server.ts";
import { randomKey, runJson, startServe, type ServeProcess } from "./process_support.ts";

const MARIADBD = "/usr/sbin/mariadbd";
const DATABASE = "chatello";
const PROVIDER_KEY = "sk-vendor-openai-outage-0123456789";
/** The longest any request may wait for its answer while the database is away. */
const ANSWER_BOUND_MS = 10_000;
/** How long health may keep saying 200 after the database stopped, and 503 after it is back. */
const HEALTH_BOUND_MS = 8_000;
/** How long the fake upstream holds the call that is in flight when the database goes. */
const HELD_UPSTREAM_MS = 2_000;

/** A mariadbd of this test's own: its data directory and port survive stops and restarts. */
interface OwnMariaDb {
  port: number;
  /** Starts (or restarts) the server and resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGTERM (a clean shutdown) or SIGKILL (a crash); resolves once the process is gone. */
  stop(signal: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing, as behind a broken network. */
  freeze(): void;
  /** SIGCONT after a freeze. */
  thaw(): void;
  log(): string;
  remove(): Promise<void>;
}

async function ownMariaDb(): Promise<OwnMariaDb> {
  if (!existsSync(MARIADBD)) throw new Error(`${MARIADBD} is missing: install Debian's mariadb-server`);
  const dir = await mkdtemp(join(tmpdir(), "chatello-outage-db-"));
  const port = freePort();
  const log: string[] = [];
  let child: ReturnType<typeof Bun.spawn> | null = null;
  // An empty data directory with grant tables skipped starts in under a second (mariadb-install-db takes
  // several); InnoDB keeps its default durability, so a committed row survives SIGKILL.
  const args = [
    MARIADBD,
    "--no-defaults",
    `--datadir=${join(dir, "data")}`,
    `--socket=${join(dir, "mariadb.sock")}`,
    `--pid-file=${join(dir, "mariadb.pid")}`,
    `--tmpdir=${dir}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    "--skip-grant-tables",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--character-set-server=utf8mb4",
    // mariadbd refuses to run as root unless told so; as another user it runs as that user.
    ...(process.getuid?.() === 0 ? ["--user=root"] : []),
  ];
  await mkdir(join(dir, "data"));

  async function start(): Promise<void> {
    const from = log.length;
    const proc = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    child = proc;
    void drain(proc.stdout, log);
    void drain(proc.stderr, log);
    const deadline = Date.now() + 30_000;
    while (!log.slice(from).join("").includes("ready for connections")) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`mariadbd did not start (exit ${proc.exitCode}):\n${log.join("")}`);
      }
      await Bun.sleep(50);
    }
  }

  return {
    port,
    start,
    async stop(signal) {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await proc.exited;
    },
    freeze: () => child?.kill("SIGSTOP"),
    thaw: () => child?.kill("SIGCONT"),
    log: () => log.join(""),
    async remove() {
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGCONT");
        proc.kill("SIGKILL");
        await proc.exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

type Kind = "validate" | "chat" | "chat-stream";
const KINDS: Kind[] = ["validate", "chat", "chat-stream"];

/** One client request and what became of it; `agent` (its User-Agent) names it in the usage events. */
interface Attempt {
  agent: string;
  kind: Kind;
  sentAt: number;
  doneAt: number;
  status: number | null;
  contentType: string;
  body: string;
  /** Why no whole answer came (a fetch error, the client's own time-out). */
  error: string | null;
}

async function attempt(url: string, key: string, kind: Kind, agent: string): Promise<Attempt> {
  const sentAt = performance.now();
  const chat = kind !== "validate";
  let status: number | null = null;
  let contentType = "";
  try {
    const response = await fetch(`${url}${chat ? "/api/chat" : "/api/validate"}`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": agent, "x-license-key": key },
      body: JSON.stringify(chat ? { messages: [{ role: "user", content: `hello from ${agent}` }], stream: kind === "chat-stream" } : {}),
      // Far beyond the bound the test asserts: a hang shows up as an error, not as a stuck test.
      signal: AbortSignal.timeout(3 * ANSWER_BOUND_MS),
    });
    status = response.status;
    contentType = response.headers.get("content-type") ?? "";
    const body = await response.text();
    return { agent, kind, sentAt, doneAt: performance.now(), status, contentType, body, error: null };
  } catch (error) {
    const e = error as { code?: unknown; name?: unknown };
    return { agent, kind, sentAt, doneAt: performance.now(), status, contentType, body: "", error: String(e?.code ?? e?.name ?? error) };
  }
}

/** True when a 200 arrived whole: validation JSON, chat JSON with the answer, a stream up to [DONE]. */
function whole(a: Attempt): boolean {
  if (a.kind === "chat-stream") return a.body.trimEnd().endsWith("data: [DONE]");
  try {
    const json = JSON.parse(a.body);
    return a.kind === "validate" ? json.valid === true : json.success === true && json.usage?.total_tokens === 19;
  } catch {
    return false;
  }
}

/** Clients that keep sending validations and chat calls until stopped. */
function traffic(url: string, key: string, label: string, clients: number) {
  const attempts: Attempt[] = [];
  let running = true;
  const done = Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; running; n++) {
        const a = await attempt(url, key, KINDS[(client + n) % KINDS.length], `outage-${label}/${client}/${n}`);
        attempts.push(a);
        // Refusals come back fast: a short pause keeps a waiting client from spinning.
        await Bun.sleep(a.status === 200 ? 5 : 50);
      }
    }),
  );
  return {
    attempts,
    /** Answered 200s of `kind` sent after `since`. */
    ok: (kind: Kind, since = 0) => attempts.filter((a) => a.kind === kind && a.status === 200 && a.sentAt >= since).length,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function until(what: string, bound: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > bound) throw new Error(`timed out after ${bound} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
  return performance.now();
}

async function healthStatus(url: string): Promise<number> {
  try {
    const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(ANSWER_BOUND_MS) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

interface Stored {
  agents: string[];
  billed: number;
  tokens: number;
  counted: { requests: number; tokens: number };
  reservations: number;
  dailyRequests: number;
}

describe("the service while its MariaDB stops and comes back", () => {
  let db: OwnMariaDb;
  let fake: FakeUpstream;
  let serve: ServeProcess;
  let sql: SQL;
  let env: Record<string, string>;
  let dataDir: string;
  const licenses: Record<string, { key: string; customerId: number }> = {};

  /** Everything the database holds about one customer's calls. */
  async function stored(customerId: number): Promise<Stored> {
    const [license] = await sql`select id from licenses where customer_id = ${customerId}`;
    const events: Array<{ user_agent: string; outcome: string; prompt_tokens: unknown; completion_tokens: unknown }> =
      await sql`select user_agent, outcome, prompt_tokens, completion_tokens from usage_events where license_id = ${license.id}`;
    const [counted] = await sql`select coalesce(sum(requests), 0) as requests, coalesce(sum(tokens), 0) as tokens
      from quota_counters where license_id = ${license.id} and period = 'month'`;
    const [reservations] = await sql`select count(*) as n from quota_reservations where license_id = ${license.id}`;
    const [daily] = await sql`select coalesce(sum(requests), 0) as n from usage_daily where license_id = ${license.id}`;
    const billed = events.filter((e) => e.outcome !== "error");
    return {
      agents: events.map((e) => e.user_agent).sort(),
      billed: billed.length,
      tokens: billed.reduce((sum, e) => sum + Number(e.prompt_tokens) + Number(e.completion_tokens), 0),
      counted: { requests: Number(counted.requests), tokens: Number(counted.tokens) },
      reservations: Number(reservations.n),
      dailyRequests: Number(daily.n),
    };
  }

  beforeAll(async () => {
    db = await ownMariaDb();
    await db.start();
    // A brand-new InnoDB system tablespace is not recoverable from its redo log alone until a first
    // checkpoint: one clean restart makes the fresh data directory survive the SIGKILL below.
    await db.stop("SIGTERM");
    await db.start();
    sql = new SQL({ adapter: "mysql", hostname: "127.0.0.1", port: db.port, username: "root", password: "", database: "information_schema" });
    await sql.unsafe(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4`);
    await sql.close();
    fake = await startFakeUpstream();
    // Each call waits a little upstream, so some are always in flight when the database goes.
    fake.defaultBehaviour = { delayMs: 150, chunkDelayMs: 20 };
    dataDir = await mkdtemp(join(tmpdir(), "chatello-outage-"));
    env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? dataDir,
      TMPDIR: tmpdir(),
      DATABASE_URL: `mariadb://root@127.0.0.1:${db.port}/${DATABASE}`,
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ENCRYPTION_KEY: randomKey(),
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      OPENAI_API_KEY: PROVIDER_KEY,
      PROVIDER_MAX_RETRIES: "0",
    };
    const create = async (name: string) => {
      const created = await runJson<{ license_key: string; customer_id: number }>(["license", "create", "--email", `${name}@example.com`, "--plan", "pro"], env);
      licenses[name] = { key: created.license_key, customerId: created.customer_id };
    };
    // The first CLI run creates the schema; the others can then run side by side.
    await create("clean");
    await Promise.all(["crash", "freeze"].map(create));
    sql = new SQL({ adapter: "mysql", hostname: "127.0.0.1", port: db.port, username: "root", password: "", database: DATABASE });
    // 0 lifts a limit: every call of the load must be admitted, so a refusal can only be the outage's.
    await sql`update plans set monthly_requests = 0, requests_per_minute = 0, requests_per_hour = 0, monthly_budget_eur = 0 where name = 'pro'`;
    serve = await startServe(env);
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await sql?.close().catch(() => {});
    await fake?.stop();
    await db?.remove();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function outage(label: "clean" | "crash" | "freeze"): Promise<void> {
    const { key, customerId } = licenses[label];
    const load = traffic(serve.url, key, label, 4);
    try {
      await until("answers before the outage", 15_000, () => KINDS.every((kind) => load.ok(kind) >= 3));
      // One call is held upstream across the moment the database goes: it is answered during the outage, so
      // its settlement and its usage event have to wait for the database to come back.
      const heldIndex = fake.requests.length;
      fake.script({ delayMs: HELD_UPSTREAM_MS });
      const heldArrivedAt = await until("a call held upstream", 5_000, () => fake.requests.length > heldIndex);
      const heldAgent = String(fake.requests[heldIndex].body.messages[0].content).replace("hello from ", "");

      const stoppedAt = performance.now();
      if (label === "freeze") db.freeze();
      else await db.stop(label === "clean" ? "SIGTERM" : "SIGKILL");
      const goneAt = performance.now();
      expect(goneAt - heldArrivedAt).toBeLessThan(HELD_UPSTREAM_MS - 500);
      const unhealthyAt = await until("health 503", HEALTH_BOUND_MS + 2_000, async () => (await healthStatus(serve.url)) === 503);
      expect(unhealthyAt - stoppedAt).toBeLessThan(HEALTH_BOUND_MS);
      // The outage lasts at least two seconds, until every kind of request was refused a few times and the
      // held call was answered.
      const refused = (kind: Kind) => load.attempts.filter((a) => a.kind === kind && a.sentAt >= goneAt && a.status === 503).length;
      const heldAnswered = () => load.attempts.some((a) => a.agent === heldAgent);
      await until("refusals during the outage", 20_000, () => performance.now() - goneAt > 2_000 && KINDS.every((kind) => refused(kind) >= 2) && heldAnswered());

      const backAt = performance.now();
      if (label === "freeze") db.thaw();
      else await db.start();
      const healthyAt = await until("health 200", HEALTH_BOUND_MS + 2_000, async () => (await healthStatus(serve.url)) === 200);
      expect(healthyAt - backAt).toBeLessThan(HEALTH_BOUND_MS);
      await until("answers after the outage", 15_000, () => KINDS.every((kind) => load.ok(kind, healthyAt) >= 3));
      await load.stop();

      // The process never went down.
      expect(await Promise.race([serve.exited, Bun.sleep(0).then(() => "running")])).toBe("running");
      const attempts = load.attempts;
      const show = (a: Attempt) => `${a.agent} ${a.kind} ${a.status} ${a.error} ${Math.round(a.doneAt - a.sentAt)} ms ${a.body.slice(0, 160)}`;
      // Every request got an answer, in a bounded time, even while the database did not answer at all.
      expect(attempts.filter((a) => a.status === null || a.error !== null || a.doneAt - a.sentAt > ANSWER_BOUND_MS).map(show)).toEqual([]);
      // A whole 200, or the contract's JSON error body with 503: never a 500, a cut answer or an HTML page.
      const wrong = attempts.filter((a) => {
        if (a.status === 200) return !whole(a);
        if (a.status !== 503 || !a.contentType.includes("application/json")) return true;
        const body = JSON.parse(a.body);
        return body.code !== "service_unavailable" || typeof body.error !== "string";
      });
      expect(wrong.map(show)).toEqual([]);
      // 503s only while the database was away; everything sent after health recovered succeeded.
      expect(attempts.filter((a) => a.status === 503 && (a.doneAt < stoppedAt || a.sentAt > healthyAt)).map(show)).toEqual([]);
      expect(attempts.filter((a) => a.sentAt >= goneAt && a.doneAt <= backAt && a.status !== 503).map(show)).toEqual([]);
      // The held call was answered while the database was away.
      const held = attempts.find((a) => a.agent === heldAgent)!;
      expect({ status: held.status, whole: whole(held), duringOutage: held.doneAt > goneAt && held.doneAt < backAt }).toEqual({
        status: 200,
        whole: true,
        duringOutage: true,
      });

      // Every chat call answered 200 has its usage event (once), and the quota counted it: none lost.
      const answered = attempts.filter((a) => a.kind !== "validate" && a.status === 200).map((a) => a.agent).sort();
      // Written once the database is back: the queued events within a flush interval, the queued settlements
      // within a retry interval.
      // A call refused while its admission was under way may have been reserved after all (the database took
      // the commit but its answer never came): such a reservation only expires with its TTL, as after a crash.
      const maybeReserved = attempts.filter((a) => a.kind !== "validate" && a.status === 503 && a.sentAt < goneAt).length;
      let data = await stored(customerId);
      await until("usage events and settlements written", 10_000, async () => {
        data = await stored(customerId);
        return data.agents.length >= answered.length && data.reservations <= maybeReserved && data.counted.requests >= data.billed;
      }).catch(() => {});
      expect(data.agents).toEqual(answered);
      expect(data.dailyRequests).toBe(answered.length);
      expect(data.reservations).toBeLessThanOrEqual(maybeReserved);
      // Settled exactly once each: the quota counts what the events bill, and no reservation is left behind.
      expect(data.counted).toEqual({ requests: data.billed, tokens: data.tokens });
    } catch (error) {
      // What the clients saw and what the service logged, to tell a hang from a 500 from a lost event.
      const seen = new Map<string, number>();
      for (const a of load.attempts) seen.set(`${a.kind} ${a.status ?? a.error}`, (seen.get(`${a.kind} ${a.status ?? a.error}`) ?? 0) + 1);
      console.error(`answers: ${JSON.stringify(Object.fromEntries(seen))}\nservice log (tail):\n${serve.stdout().slice(-1_000)}${serve.stderr().slice(-3_000)}\nmariadbd log (tail):\n${db.log().slice(-1_500)}`);
      throw error;
    } finally {
      await load.stop();
    }
  }

  test("a clean stop of MariaDB under load turns health and requests into prompt 503s, and the service recovers by itself without losing a usage event", async () => {
    await outage("clean");
  }, 60_000);

  test("MariaDB killed under load (SIGKILL) turns health and requests into prompt 503s, and the service recovers by itself without losing a usage event", async () => {
    await outage("crash");
  }, 60_000);

  test("MariaDB frozen under load (SIGSTOP, like a broken network) answers 503s within the bound instead of hanging, and the service recovers once it thaws", async () => {
    await outage("freeze");
  }, 60_000);
});
