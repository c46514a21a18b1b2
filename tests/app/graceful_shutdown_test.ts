// Graceful shutdown as a supervisor triggers it: `bun src/app/main.ts serve` as a child process, under load
// from concurrent clients (JSON and streamed chat on /api/chat and /v1/chat/completions) against a slow fake
// upstream, gets SIGTERM. It must refuse new connections, finish what it admitted (or cut it at
// SHUTDOWN_TIMEOUT_MS and bill it as partial), write every usage event, leave no reservation and exit 0.
// Runs on a SQLite file, or on a throwaway MariaDB database when TEST_DATABASE_URL is set.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { createSandbox, randomKey, runJson, startServe, TEST_DIALECT, withDb, type Sandbox, type ServeProcess } from "./process_support.ts";

type Kind = "chat" | "chat-stream" | "v1" | "v1-stream";
const KINDS: Kind[] = ["chat", "chat-stream", "v1", "v1-stream"];

/** One client request and what became of it; `agent` (its User-Agent) names it in the usage events. */
interface Attempt {
  agent: string;
  kind: Kind;
  sentAt: number;
  status: number | null;
  doneAt: number;
  body: string;
  /** The fetch error's code (ECONNREFUSED, ...) when no answer came, or the body broke off. */
  error: string | null;
}

interface EventRow {
  user_agent: string;
  outcome: string;
  estimated: unknown;
  prompt_tokens: unknown;
  completion_tokens: unknown;
  cost_eur: unknown;
  error_code: string | null;
}

interface Stored {
  events: EventRow[];
  counted: { requests: number; tokens: number; costEur: number };
  reservations: number;
  dailyRequests: number;
}

const PROVIDER_KEY = "sk-vendor-openai-shutdown-0123456789";
/** Forty words: a stream of forty content chunks. */
const LONG_TEXT = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown };
  return String(e?.code ?? e?.name ?? error);
}

function isStream(kind: Kind): boolean {
  return kind.endsWith("-stream");
}

/** Starts one chat request of `kind`, named by its User-Agent. */
function send(url: string, key: string, kind: Kind, agent: string): Promise<Response> {
  const messages = [{ role: "user", content: `hello from ${agent}` }];
  const stream = isStream(kind);
  const v1 = kind.startsWith("v1");
  return fetch(`${url}${v1 ? "/v1/chat/completions" : "/api/chat"}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": agent,
      ...(v1 ? { authorization: `Bearer ${key}` } : { "x-license-key": key }),
    },
    body: JSON.stringify(v1 ? { model: "gpt-4o-mini", messages, stream } : { messages, stream }),
  });
}

/** Sends one request and reads its answer to the end. */
async function attempt(url: string, key: string, kind: Kind, agent: string): Promise<Attempt> {
  const sentAt = performance.now();
  let status: number | null = null;
  try {
    const response = await send(url, key, kind, agent);
    status = response.status;
    const body = await response.text();
    return { agent, kind, sentAt, status, doneAt: performance.now(), body, error: null };
  } catch (error) {
    return { agent, kind, sentAt, status, doneAt: performance.now(), body: "", error: errorCode(error) };
  }
}

/** True when a 200 answer arrived whole: a stream up to its `[DONE]`, a JSON answer that parses with its content. */
function complete(a: Attempt): boolean {
  if (isStream(a.kind)) return a.body.trimEnd().endsWith("data: [DONE]");
  try {
    const json = JSON.parse(a.body);
    return (a.kind === "chat" ? json.response : json)?.choices?.[0]?.message?.content === "Hello from the fake upstream";
  } catch {
    return false;
  }
}

/** A stream held open by the test: its first bytes have arrived, the rest is read in the background. */
interface OpenStream {
  agent: string;
  status: number;
  first: string;
  rest: Promise<{ body: string; error: string | null }>;
}

async function openStream(url: string, key: string, kind: Kind, agent: string): Promise<OpenStream> {
  const response = await send(url, key, kind, agent);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  const head = first.done ? "" : decoder.decode(first.value, { stream: true });
  const rest = (async () => {
    let body = head;
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return { body, error: null };
        body += decoder.decode(chunk.value, { stream: true });
      }
    } catch (error) {
      return { body, error: errorCode(error) };
    }
  })();
  return { agent, status: response.status, first: head, rest };
}

/** Everything the database holds about one customer's calls, read after the process exited. */
function stored(sandbox: Sandbox, customerId: number): Promise<Stored> {
  return withDb(sandbox, async (db) => {
    const connection = db.orm.em.getConnection();
    const [license] = await connection.execute<Array<{ id: number }>>("select id from licenses where customer_id = ?", [customerId]);
    const events = await connection.execute<EventRow[]>(
      "select user_agent, outcome, estimated, prompt_tokens, completion_tokens, cost_eur, error_code from usage_events where license_id = ?",
      [license.id],
    );
    const counters = (await connection.execute(
      "select requests, tokens, cost_eur from quota_counters where license_id = ? and period = 'month'",
      [license.id],
    )) as Array<{ requests: unknown; tokens: unknown; cost_eur: unknown }>;
    const [reservations] = await connection.execute<Array<{ n: unknown }>>("select count(*) as n from quota_reservations where license_id = ?", [license.id]);
    const [daily] = await connection.execute<Array<{ n: unknown }>>("select coalesce(sum(requests), 0) as n from usage_daily where license_id = ?", [license.id]);
    return {
      events,
      counted: {
        requests: counters.reduce((sum, row) => sum + Number(row.requests), 0),
        tokens: counters.reduce((sum, row) => sum + Number(row.tokens), 0),
        costEur: counters.reduce((sum, row) => sum + Number(row.cost_eur), 0),
      },
      reservations: Number(reservations.n),
      dailyRequests: Number(daily.n),
    };
  });
}

/** The quota counters hold exactly the billed events (ok and partial): requests, tokens and cost. */
function expectCountersMatchEvents(data: Stored): void {
  const billed = data.events.filter((e) => e.outcome !== "error");
  expect(data.counted.requests).toBe(billed.length);
  expect(data.counted.tokens).toBe(billed.reduce((sum, e) => sum + Number(e.prompt_tokens) + Number(e.completion_tokens), 0));
  expect(data.counted.costEur).toBeCloseTo(billed.reduce((sum, e) => sum + Number(e.cost_eur), 0), 5);
  expect(data.reservations).toBe(0);
  expect(data.dailyRequests).toBe(data.events.length);
}

async function exitWithin(serve: ServeProcess, ms: number): Promise<{ code: number | null; afterMs: number }> {
  const started = performance.now();
  const code = await Promise.race([serve.exited, Bun.sleep(ms).then(() => null)]);
  return { code, afterMs: performance.now() - started };
}

describe(`graceful shutdown of serve on ${TEST_DIALECT}`, () => {
  let fake: FakeUpstream;
  let sandbox: Sandbox;
  let env: Record<string, string>;
  const serves: ServeProcess[] = [];
  /** One customer with a pro license per test, so each test reads only its own events. */
  const licenses: Record<string, { key: string; customerId: number }> = {};

  async function newLicense(name: string): Promise<void> {
    const created = await runJson<{ license_key: string; customer_id: number }>(["license", "create", "--email", `${name}@example.com`, "--plan", "pro"], env);
    licenses[name] = { key: created.license_key, customerId: created.customer_id };
  }

  async function serve(shutdownTimeoutMs: number): Promise<ServeProcess> {
    const started = await startServe({ ...env, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) });
    serves.push(started);
    return started;
  }

  beforeAll(async () => {
    fake = await startFakeUpstream();
    sandbox = await createSandbox();
    env = sandbox.env({
      ENCRYPTION_KEY: randomKey(),
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      OPENAI_API_KEY: PROVIDER_KEY,
      PROVIDER_MAX_RETRIES: "0",
    });
    for (const name of ["load", "left", "deadline", "twice"]) await newLicense(name);
    // 0 lifts a limit: the load below must be admitted in full, so every answer is a 200 or a refused connection.
    await withDb(sandbox, (db) =>
      db.orm.em
        .getConnection()
        .execute("update plans set monthly_requests = 0, requests_per_minute = 0, requests_per_hour = 0, monthly_budget_eur = 0 where name = 'pro'", [], "run"),
    );
  }, 30_000);

  afterAll(async () => {
    for (const running of serves) await running.stop();
    await fake?.stop();
    await sandbox?.remove();
  });

  test("SIGTERM under load from 16 clients finishes every admitted request and stream, refuses new connections, writes every usage event and exits 0", async () => {
    const { key, customerId } = licenses.load;
    fake.reset();
    fake.defaultBehaviour = { delayMs: 250, chunkDelayMs: 40, content: "Hello from the fake upstream" };
    const deadlineMs = 10_000;
    const server = await serve(deadlineMs);

    const attempts: Attempt[] = [];
    const pending = new Set<{ kind: Kind; sentAt: number }>();
    let sigtermAt = Infinity;
    const clients = Array.from({ length: 16 }, async (_, client) => {
      await Bun.sleep(client * 15); // staggered, so the answers do not come back in waves
      // Each client goes on until the listener is gone and its connection is refused.
      for (let n = 0; n < 500; n++) {
        const kind = KINDS[(client + n) % KINDS.length];
        const started = { kind, sentAt: performance.now() };
        pending.add(started);
        const a = await attempt(server.url, key, kind, `shutdown-test/${client}/${n}`);
        pending.delete(started);
        attempts.push(a);
        if (a.error === "ECONNREFUSED" && a.sentAt > sigtermAt) return;
      }
      throw new Error(`client ${client} was never refused`);
    });
    // Load until a steady state: answers are coming back, and a JSON call and a stream sent well before the
    // signal (so the service has surely read them) are still waiting for the upstream's 250 ms.
    const waitingSince = (stream: boolean) => [...pending].some((p) => isStream(p.kind) === stream && performance.now() - p.sentAt > 100);
    while (attempts.filter((a) => a.status === 200).length < 24 || !waitingSince(true) || !waitingSince(false)) await Bun.sleep(5);
    server.signal("SIGTERM");
    sigtermAt = performance.now();
    const exit = await exitWithin(server, deadlineMs);
    await Promise.all(clients);
    const diagnostics = `stdout: ${server.stdout()}\nstderr: ${server.stderr()}`;

    expect({ code: exit.code, diagnostics }).toEqual({ code: 0, diagnostics });
    // Nothing was cut: the drain ended when the last admitted stream did, well before the deadline.
    expect(exit.afterMs).toBeLessThan(deadlineMs);
    expect(server.stdout()).not.toContain("deadline reached");

    // Every answer is a whole 200: nothing admitted was cut or failed, no 5xx.
    const answered = attempts.filter((a) => a.status !== null);
    expect(answered.filter((a) => a.status !== 200 || a.error !== null || !complete(a)).map((a) => `${a.agent} ${a.kind} ${a.status} ${a.error}`)).toEqual([]);
    // Requests without an answer were refused (the listener is gone), or reset: written on a kept-alive
    // connection in the instant the server closed it, never read (HTTP/1.1 cannot rule this race out), and so
    // never admitted either: the usage events below hold none of them.
    const unanswered = attempts.filter((a) => a.status === null);
    expect(unanswered.filter((a) => a.error !== "ECONNREFUSED" && a.error !== "ECONNRESET").map((a) => `${a.agent} ${a.error}`)).toEqual([]);
    // The premise: requests and streams were in flight when the signal came, and finished after it.
    const drained = answered.filter((a) => a.sentAt < sigtermAt && a.doneAt > sigtermAt);
    expect(drained.filter((a) => isStream(a.kind)).length).toBeGreaterThan(0);
    expect(drained.filter((a) => !isStream(a.kind)).length).toBeGreaterThan(0);

    const data = await stored(sandbox, customerId);
    // One event per answered request, matched by its User-Agent; none for a request refused or reset.
    expect(data.events.map((e) => e.user_agent).sort()).toEqual(answered.map((a) => a.agent).sort());
    expect(data.events.filter((e) => e.outcome !== "ok")).toEqual([]);
    expectCountersMatchEvents(data);
    expect(data.counted.requests).toBe(answered.length);
  }, 30_000);

  test("a stream whose client left before the signal is still read to its end, billed and recorded before the process exits", async () => {
    const { key, customerId } = licenses.left;
    fake.reset();
    // Forty chunks 50 ms apart: the upstream goes on for about 2 s after the client has gone.
    fake.defaultBehaviour = { chunkDelayMs: 50, content: LONG_TEXT };
    const server = await serve(10_000);
    const response = await send(server.url, key, "chat-stream", "left-stream/0");
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    await Bun.sleep(100);

    // No connection is open any more, yet the call is: the process waits for it instead of closing the database under it.
    server.signal("SIGTERM");
    const exit = await exitWithin(server, 10_000);
    const diagnostics = `stdout: ${server.stdout()}\nstderr: ${server.stderr()}`;
    expect({ code: exit.code, diagnostics }).toEqual({ code: 0, diagnostics });
    expect(exit.afterMs).toBeGreaterThan(1_000);

    const data = await stored(sandbox, customerId);
    expect(data.events).toHaveLength(1);
    // Read to its end: the provider's own usage (12 + 7 tokens), not an estimate.
    expect(data.events[0]).toMatchObject({ user_agent: "left-stream/0", outcome: "ok" });
    expect([Number(data.events[0].prompt_tokens), Number(data.events[0].completion_tokens)]).toEqual([12, 7]);
    expectCountersMatchEvents(data);
    expect(data.counted.requests).toBe(1);
  }, 30_000);

  test("streams still running at SHUTDOWN_TIMEOUT_MS are cut and billed as partial, a call still waiting for the provider costs nothing, and the process exits 0", async () => {
    const { key, customerId } = licenses.deadline;
    fake.reset();
    fake.defaultBehaviour = { chunkDelayMs: 150, content: LONG_TEXT };
    const deadlineMs = 1_000;
    const server = await serve(deadlineMs);

    const streams = await Promise.all(
      ["chat-stream", "v1-stream", "chat-stream", "v1-stream"].map((kind, i) => openStream(server.url, key, kind as Kind, `deadline-stream/${i}`)),
    );
    // A JSON call whose provider is still thinking when the deadline comes.
    fake.defaultBehaviour = { delayMs: 10_000 };
    const waiting = attempt(server.url, key, "chat", "deadline-json/0");
    while (fake.requests.length < 5) await Bun.sleep(10);

    server.signal("SIGTERM");
    const exit = await exitWithin(server, deadlineMs + 5_000);
    const diagnostics = `stdout: ${server.stdout()}\nstderr: ${server.stderr()}`;
    expect({ code: exit.code, diagnostics }).toEqual({ code: 0, diagnostics });
    expect(exit.afterMs).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(exit.afterMs).toBeLessThan(deadlineMs + 3_000);

    for (const stream of streams) {
      expect(stream.status).toBe(200);
      const { body, error } = await stream.rest;
      // The stream ended cleanly but early: some of the forty chunks, no [DONE].
      expect(error).toBeNull();
      expect(body).toContain("word1");
      expect(body).not.toContain("word39");
      expect(body).not.toContain("[DONE]");
    }
    const cutJson = await waiting;
    expect(cutJson.status).toBe(502);
    expect(JSON.parse(cutJson.body)).toMatchObject({ code: "provider_error" });

    const data = await stored(sandbox, customerId);
    const byAgent = new Map(data.events.map((e) => [e.user_agent, e]));
    expect([...byAgent.keys()].sort()).toEqual([...streams.map((s) => s.agent), "deadline-json/0"].sort());
    for (const stream of streams) {
      const event = byAgent.get(stream.agent)!;
      expect(event.outcome).toBe("partial");
      expect(Boolean(Number(event.estimated))).toBe(true);
      expect(Number(event.completion_tokens)).toBeGreaterThan(0);
      expect(Number(event.cost_eur)).toBeGreaterThan(0);
    }
    expect(byAgent.get("deadline-json/0")).toMatchObject({ outcome: "error", error_code: "provider_error" });
    expect(Number(byAgent.get("deadline-json/0")!.cost_eur)).toBe(0);
    expectCountersMatchEvents(data);
    expect(data.counted.requests).toBe(streams.length);
  }, 30_000);

  test("a second signal during the drain cuts the streams at once, bills them as partial and exits 0", async () => {
    const { key, customerId } = licenses.twice;
    fake.reset();
    fake.defaultBehaviour = { chunkDelayMs: 150, content: LONG_TEXT };
    const server = await serve(60_000);

    const streams = await Promise.all(["chat-stream", "v1-stream", "v1-stream"].map((kind, i) => openStream(server.url, key, kind as Kind, `twice-stream/${i}`)));
    server.signal("SIGTERM");
    // Draining: the streams go on, and the process waits for them.
    expect((await exitWithin(server, 600)).code).toBeNull();
    const refused = await attempt(server.url, key, "chat", "twice-late/0");
    expect(refused).toMatchObject({ status: null, error: "ECONNREFUSED" });

    server.signal("SIGINT");
    const exit = await exitWithin(server, 5_000);
    const diagnostics = `stdout: ${server.stdout()}\nstderr: ${server.stderr()}`;
    expect({ code: exit.code, diagnostics }).toEqual({ code: 0, diagnostics });
    expect(exit.afterMs).toBeLessThan(2_000);

    const data = await stored(sandbox, customerId);
    expect(data.events.map((e) => e.user_agent).sort()).toEqual(streams.map((s) => s.agent).sort());
    for (const stream of streams) {
      const { body, error } = await stream.rest;
      expect(error).toBeNull();
      expect(body).toContain("word1");
      expect(body).not.toContain("[DONE]");
    }
    expect(data.events.map((e) => e.outcome)).toEqual(["partial", "partial", "partial"]);
    expectCountersMatchEvents(data);
  }, 30_000);
});
