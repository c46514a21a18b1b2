// Upstream faults, end to end through /api/chat and /v1/chat/completions: a provider that never answers,
// keeps failing, cuts or stalls its stream, sends no usage or absurd usage. Every wait is bounded, the
// answer is the contract's 502/504, the quota reservation is settled or released, the counters match the
// usage events, and no upstream request is left open (the fake upstream sees each one end).
// tests/http/chat_test.ts covers the single-failure basics (one 500, one 429, one timeout, one cut stream).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { MAX_REPORTED_TOKENS } from "../../src/adapters/providers/_shared.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { conn, counter, envFor, HELLO, reservationsOf, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { freePort } from "../support/server.ts";

/** PROVIDER_TIMEOUT_MS of these services (its smallest allowed value). */
const TIMEOUT_MS = 1000;
/** Slack on top of the timeout for the proxy's own work and a loaded CI machine. */
const SLACK_MS = 1500;

type Provider = "openai" | "anthropic" | "deepseek";
const PROVIDERS: Provider[] = ["openai", "anthropic", "deepseek"];

/** Polls `probe` until `done` holds or `timeoutMs` passes; answers the last value. */
async function until<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await Bun.sleep(20);
  }
}

/** A request and the time until its whole body was read. */
async function timed(send: () => Promise<Response>): Promise<{ res: Response; text: string; ms: number }> {
  const started = performance.now();
  const res = await send();
  const text = await res.text();
  return { res, text, ms: performance.now() - started };
}

async function usageEvents(svc: TestService, licenseId: number): Promise<Array<Record<string, any>>> {
  await svc.services.usageRecorder.flush();
  return (await conn(svc).execute("select * from usage_events where license_id = ? order by id", [licenseId])) as Array<Record<string, any>>;
}

/**
 * The license's books balance: no reservation is left, and the month's counter holds exactly the billed
 * events (ok and partial): their number, tokens and cost.
 */
async function expectBooksBalanced(svc: TestService, licenseId: number): Promise<void> {
  expect(await until(() => reservationsOf(svc, licenseId), (n) => n === 0)).toBe(0);
  const billed = (await usageEvents(svc, licenseId)).filter((e) => e.outcome === "ok" || e.outcome === "partial");
  const tokens = billed.reduce((n, e) => n + Number(e.prompt_tokens) + Number(e.completion_tokens), 0);
  const cost = billed.reduce((n, e) => n + Number(e.cost_eur), 0);
  const month = await counter(svc, licenseId);
  expect({ requests: month.requests, tokens: month.tokens, costEur: month.costEur }).toEqual({ requests: billed.length, tokens, costEur: Math.round(cost * 1e6) / 1e6 });
}

/** No request to the fake upstream is still open: the service closed every one it started. */
async function expectNoOpenUpstreamRequests(up: FakeUpstream): Promise<void> {
  expect(await until(() => up.openRequests(), (n) => n === 0)).toBe(0);
}

function chatBody(provider: Provider, stream: boolean): Record<string, unknown> {
  return { messages: HELLO, api_provider: provider, stream };
}

describe("an upstream that never answers", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    // Retries on: a timeout must still not be retried (three timeouts would triple the wait).
    svc = await startTestService(envFor(up, { PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS), PROVIDER_MAX_RETRIES: "2" }));
    svc.clock.current = new Date(T0);
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  afterEach(() => up.reset());

  test("every provider, streamed or not, answers 504 provider_timeout within the timeout and releases the reservation", async () => {
    up.defaultBehaviour = { hang: true };
    const cases = PROVIDERS.flatMap((provider) => [false, true].map((stream) => ({ provider, stream })));
    const licenses = await Promise.all(cases.map(() => svc.issue({ plan: "pro" })));
    const answers = await Promise.all(cases.map((c, i) => timed(() => svc.request("POST", "/api/chat", { key: licenses[i]!.key, body: chatBody(c.provider, c.stream) }))));
    for (const [i, { res, text, ms }] of answers.entries()) {
      const label = `${cases[i]!.provider} stream=${cases[i]!.stream}`;
      expect({ label, status: res.status, type: res.headers.get("content-type") }).toEqual({ label, status: 504, type: "application/json; charset=utf-8" });
      expect(JSON.parse(text)).toEqual({ error: "AI provider timed out", code: "provider_timeout" });
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    // One attempt each: timeouts are not retried.
    expect(up.requests).toHaveLength(cases.length);
    for (const { licenseId } of licenses) {
      await expectBooksBalanced(svc, licenseId);
      expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
      const [event] = await usageEvents(svc, licenseId);
      expect(event).toMatchObject({ outcome: "error", error_code: "provider_timeout" });
    }
    // The service hung up on every one of them: nothing is left open upstream.
    await expectNoOpenUpstreamRequests(up);
    expect(up.abandoned).toBe(cases.length);
  });

  test("the OpenAI-compatible route answers the timeout as 504 in OpenAI's error envelope", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ hang: true }, { hang: true });
    for (const stream of [false, true]) {
      const { res, text, ms } = await timed(() =>
        svc.request("POST", "/v1/chat/completions", { headers: { authorization: `Bearer ${key}` }, body: { model: "gpt-4o-mini", messages: HELLO, stream } }),
      );
      expect(res.status).toBe(504);
      expect(JSON.parse(text).error).toMatchObject({ code: "provider_timeout", message: expect.any(String), type: expect.any(String) });
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    await expectBooksBalanced(svc, licenseId);
    await expectNoOpenUpstreamRequests(up);
  });

  test("an upstream slower than the timeout is answered 504 and the late answer is not billed", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ delayMs: TIMEOUT_MS + 400, usage: { prompt: 500, completion: 500 } });
    const { res, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody("openai", false) }));
    expect(res.status).toBe(504);
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    // The fake finishes its delay and answers into a closed connection; nothing of it reaches the books.
    await expectNoOpenUpstreamRequests(up);
    await expectBooksBalanced(svc, licenseId);
    expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
  });
});

describe("an upstream that keeps failing, with retries", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    // DeepSeek points at a port nobody listens on: connection refused on every attempt.
    svc = await startTestService(
      envFor(up, { PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS), PROVIDER_MAX_RETRIES: "2", DEEPSEEK_BASE_URL: `http://127.0.0.1:${freePort()}/v1` }),
    );
    svc.clock.current = new Date(T0);
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  afterEach(() => up.reset());

  for (const status of [500, 502, 503, 429]) {
    for (const provider of ["openai", "anthropic"] as const) {
      test(`${provider}: ${status} on every attempt answers 502 provider_error after three attempts, in bounded time, costing nothing`, async () => {
        const { key, licenseId } = await svc.issue({ plan: "pro" });
        up.defaultBehaviour = { status };
        const { res, text, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody(provider, false) }));
        expect(res.status).toBe(502);
        expect(JSON.parse(text)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: status });
        expect(text).not.toContain("fake upstream");
        expect(up.requests).toHaveLength(3);
        // Two backoffs of at most 250 and 500 ms.
        expect(ms).toBeLessThan(750 + SLACK_MS);
        await expectBooksBalanced(svc, licenseId);
        expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
        await expectNoOpenUpstreamRequests(up);
      });
    }
  }

  test("a streamed call whose upstream fails on every attempt answers 502 JSON, not an event stream", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.defaultBehaviour = { status: 503 };
    const res = await svc.request("POST", "/api/chat", { key, body: chatBody("anthropic", true) });
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect((await res.json()).provider_status).toBe(503);
    expect(up.requests).toHaveLength(3);
    await expectBooksBalanced(svc, licenseId);
  });

  test("failures that stop before the retries run out end in one billed 200", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ status: 502 }, { status: 429 }, { usage: { prompt: 20, completion: 10 } });
    const res = await svc.request("POST", "/api/chat", { key, body: chatBody("openai", false) });
    expect(res.status).toBe(200);
    expect(up.requests).toHaveLength(3);
    expect((await counter(svc, licenseId)).requests).toBe(1);
    expect((await counter(svc, licenseId)).tokens).toBe(30);
    await expectBooksBalanced(svc, licenseId);
  });

  test("a 429 asking to wait longer than the adapters ever wait ends the retries at once", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.defaultBehaviour = { status: 429, headers: { "retry-after": "60" } };
    const { res, text, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody("openai", false) }));
    expect(res.status).toBe(502);
    expect(JSON.parse(text).provider_status).toBe(429);
    expect(up.requests).toHaveLength(1);
    expect(ms).toBeLessThan(SLACK_MS);
    await expectBooksBalanced(svc, licenseId);
  });

  test("an upstream that refuses connections answers 502 provider_error without a status, after the retries, quickly", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    const { res, text, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody("deepseek", false) }));
    expect(res.status).toBe(502);
    expect(JSON.parse(text)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: null });
    expect(ms).toBeLessThan(750 + SLACK_MS);
    await expectBooksBalanced(svc, licenseId);
    const [event] = await usageEvents(svc, licenseId);
    expect(event).toMatchObject({ outcome: "error", error_code: "provider_error" });
  });
});

describe("a stream that breaks, stalls or reports no usage", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up, { PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS), PROVIDER_MAX_RETRIES: "2" }));
    svc.clock.current = new Date(T0);
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  afterEach(() => up.reset());

  for (const provider of PROVIDERS) {
    test(`${provider}: a stream cut mid-way ends for the client and is billed as partial, with the books balanced`, async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ content: "one two three four five", failAfterChunks: 2 });
      const { res, text, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody(provider, true) }));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      expect(text).toContain("one");
      expect(text).not.toContain("five");
      expect(text).not.toContain("[DONE]");
      expect(text).not.toContain("message_stop");
      expect(ms).toBeLessThan(SLACK_MS);
      // A cut after bytes went out is never retried (it would repeat output the client has seen).
      expect(up.requests).toHaveLength(1);
      await until(() => counter(svc, licenseId), (c) => c.requests > 0);
      const [event] = await usageEvents(svc, licenseId);
      expect(event).toMatchObject({ outcome: "partial", error_code: "provider_error" });
      await expectBooksBalanced(svc, licenseId);
      await expectNoOpenUpstreamRequests(up);
    });

    test(`${provider}: a stream that stalls forever after its first chunks ends within the timeout, billed as partial`, async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ content: "one two three four five", stallAfterChunks: 2 });
      const { res, text, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody(provider, true) }));
      expect(res.status).toBe(200);
      expect(text).toContain("one");
      expect(text).not.toContain("three");
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      await until(() => counter(svc, licenseId), (c) => c.requests > 0);
      const [event] = await usageEvents(svc, licenseId);
      expect(event).toMatchObject({ outcome: "partial", error_code: "provider_timeout" });
      await expectBooksBalanced(svc, licenseId);
      // The service closed the stalled connection itself: the upstream saw its client leave.
      await expectNoOpenUpstreamRequests(up);
      expect(up.abandoned).toBe(1);
    });
  }

  test("a stream that stalls before any content ends within the timeout and costs nothing", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ stallAfterChunks: 0 });
    const { res, ms } = await timed(() => svc.request("POST", "/api/chat", { key, body: chatBody("openai", true) }));
    expect(res.status).toBe(200);
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    await expectBooksBalanced(svc, licenseId);
    expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    const [event] = await until(() => usageEvents(svc, licenseId), (events) => events.length > 0);
    expect(event).toMatchObject({ outcome: "error", error_code: "provider_timeout" });
    await expectNoOpenUpstreamRequests(up);
  });

  test("a /v1 stream that stalls ends within the timeout and its client gets what was produced", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ content: "alpha beta gamma", stallAfterChunks: 1 });
    const { res, text, ms } = await timed(() =>
      svc.request("POST", "/v1/chat/completions", { headers: { authorization: `Bearer ${key}` }, body: { model: "anthropic/claude-3-5-haiku-latest", messages: HELLO, stream: true } }),
    );
    expect(res.status).toBe(200);
    expect(text).toContain("alpha");
    expect(text).toContain("chat.completion.chunk");
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    await until(() => counter(svc, licenseId), (c) => c.requests > 0);
    await expectBooksBalanced(svc, licenseId);
    await expectNoOpenUpstreamRequests(up);
  });

  test("a client that leaves a stalled stream still has its reservation settled once the timeout ends the upstream", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    up.script({ content: "one two three", stallAfterChunks: 1 });
    const res = await svc.request("POST", "/api/chat", { key, body: chatBody("openai", true) });
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    expect(await until(() => reservationsOf(svc, licenseId), (n) => n === 0, TIMEOUT_MS + SLACK_MS)).toBe(0);
    await until(() => counter(svc, licenseId), (c) => c.requests > 0);
    await expectBooksBalanced(svc, licenseId);
    await expectNoOpenUpstreamRequests(up);
  });

  for (const provider of PROVIDERS) {
    test(`${provider}: a stream without usage is billed on an estimate, flagged estimated, with the books balanced`, async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ content: "Hello from the fake upstream", omitUsage: true });
      const res = await svc.request("POST", "/api/chat", { key, body: chatBody(provider, true) });
      expect(res.status).toBe(200);
      await res.text();
      await until(() => counter(svc, licenseId), (c) => c.requests > 0);
      const [event] = await usageEvents(svc, licenseId);
      expect(event!.outcome).toBe("ok");
      expect(Boolean(Number(event!.estimated))).toBe(true);
      expect(Number(event!.completion_tokens)).toBe(Math.ceil("Hello from the fake upstream".length / 4));
      await expectBooksBalanced(svc, licenseId);
    });
  }

  for (const [provider, stream] of PROVIDERS.flatMap((p) => [false, true].map((s) => [p, s] as const))) {
    test(`${provider}${stream ? " stream" : ""}: absurd usage counts are clamped, so the call is still recorded and counted`, async () => {
      const { key, licenseId } = await svc.issue({ plan: "agency" });
      up.script({ usage: { prompt: 1e12, completion: 5e15, cached: 0 } });
      const res = await svc.request("POST", "/api/chat", { key, body: chatBody(provider, stream) });
      expect(res.status).toBe(200);
      await res.text();
      await until(() => counter(svc, licenseId), (c) => c.requests > 0);
      const [event] = await usageEvents(svc, licenseId);
      expect(event!.outcome).toBe("ok");
      expect(Number(event!.prompt_tokens)).toBeLessThanOrEqual(3 * MAX_REPORTED_TOKENS);
      expect(Number(event!.completion_tokens)).toBe(MAX_REPORTED_TOKENS);
      await expectBooksBalanced(svc, licenseId);
    });
  }
});
