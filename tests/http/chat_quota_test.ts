// POST /api/chat admission: monthly requests, per-minute and per-hour rates and the monthly budget, in the
// contract's order, with exact bodies and Retry-After; atomic admission under concurrency; and a provider
// without a key (503) answered after the quota checks.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";
import { counter, envFor, HELLO, jsonOf, NEXT_HOUR, NEXT_MINUTE, NEXT_MONTH, reservationsOf, setCounter, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const SECONDS_TO_NEXT_MONTH = (Date.parse(NEXT_MONTH) - T0.getTime()) / 1000; // 1 425 570

const MONTHLY_LIMIT = { error: "Monthly request limit exceeded", code: "monthly_limit", limit: 1000, reset_time: NEXT_MONTH };
const MINUTE_LIMIT = { error: "Rate limit exceeded: too many requests per minute", code: "rate_limit_minute", limit: 10, reset_time: NEXT_MINUTE };
const HOUR_LIMIT = { error: "Rate limit exceeded: too many requests per hour", code: "rate_limit_hour", limit: 200, reset_time: NEXT_HOUR };
const BUDGET = { error: "Monthly budget exceeded", code: "budget_exceeded", budget_eur: 4, reset_time: NEXT_MONTH };

describe("POST /api/chat admission against the plan's limits", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  const chat = (key: string, body: unknown = { messages: HELLO }) => svc.request("POST", "/api/chat", { key, body });

  test("a Pro license with its 1000 monthly requests used gets 429 monthly_limit resetting at the first instant of next month", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 1000 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MONTHLY_LIMIT);
    expect(res.headers.get("retry-after")).toBe(String(SECONDS_TO_NEXT_MONTH));
    expect(up.requests).toHaveLength(0);
  });

  test("the month's limit resets on the first instant of the next month", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 1000 });
    svc.clock.current = new Date(Date.parse(NEXT_MONTH) - 1);
    expect((await chat(key)).status).toBe(429);
    svc.clock.current = new Date(NEXT_MONTH);
    expect((await chat(key)).status).toBe(200);
  });

  test("the eleventh call of a minute on Pro gets 429 rate_limit_minute resetting at the next minute", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    for (let i = 0; i < 10; i++) expect((await chat(key)).status).toBe(200);
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MINUTE_LIMIT);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(up.requests).toHaveLength(10);
  });

  test("the per-minute limit lets calls through again in the next minute", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "minute", { requests: 10 });
    expect((await chat(key)).status).toBe(429);
    svc.clock.current = new Date(NEXT_MINUTE);
    expect((await chat(key)).status).toBe(200);
  });

  test("a Pro license with 200 calls this hour gets 429 rate_limit_hour resetting at the next hour", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "hour", { requests: 200 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(HOUR_LIMIT);
    expect(res.headers.get("retry-after")).toBe(String(59 * 60 + 30));
  });

  test("a Pro license whose month cost reached 4 EUR gets 402 budget_exceeded with budget_eur", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 10, tokens: 1000, costEur: 4 });
    const res = await chat(key);
    expect(res.status).toBe(402);
    expect(await jsonOf(res)).toEqual(BUDGET);
    expect(up.requests).toHaveLength(0);
  });

  test("a month cost a micro-euro under the budget still admits the call", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 10, costEur: 3.999999 });
    expect((await chat(key)).status).toBe(200);
  });

  test("the Agency budget is its own 10 EUR", async () => {
    const { key, licenseId } = await svc.issue({ plan: "agency" });
    await setCounter(svc, licenseId, "month", { costEur: 9.5 });
    expect((await chat(key)).status).toBe(200);
    await setCounter(svc, licenseId, "month", { costEur: 10 });
    const res = await chat(key);
    expect(res.status).toBe(402);
    expect(await jsonOf(res)).toEqual({ ...BUDGET, budget_eur: 10 });
  });

  test("when every limit is hit the monthly limit is answered first", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 1000, costEur: 5 });
    await setCounter(svc, licenseId, "hour", { requests: 200 });
    await setCounter(svc, licenseId, "minute", { requests: 10 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MONTHLY_LIMIT);
  });

  test("the per-minute limit is answered before the per-hour limit and the budget", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 500, costEur: 5 });
    await setCounter(svc, licenseId, "hour", { requests: 200 });
    await setCounter(svc, licenseId, "minute", { requests: 10 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MINUTE_LIMIT);
  });

  test("the per-hour limit is answered before the budget", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 500, costEur: 5 });
    await setCounter(svc, licenseId, "hour", { requests: 200 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(HOUR_LIMIT);
  });

  test("a malformed body is answered 400 even when the quota is used up", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 1000 });
    const res = await chat(key, { messages: [] });
    expect(res.status).toBe(400);
    expect(await jsonOf(res)).toEqual({ error: "Messages required", code: "messages_required" });
    const model = await chat(key, { messages: HELLO, model: "gpt-4.1" });
    expect(model.status).toBe(400);
    expect((await jsonOf(model)).code).toBe("model_not_allowed");
  });

  test("refused calls are not counted and leave no reservation", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "minute", { requests: 10 });
    for (let i = 0; i < 3; i++) expect((await chat(key)).status).toBe(429);
    expect(await counter(svc, licenseId, "minute")).toEqual({ requests: 10, tokens: 0, costEur: 0 });
    expect(await counter(svc, licenseId, "month")).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    expect(await reservationsOf(svc, licenseId)).toBe(0);
  });

  test("the budget is reached by real calls: once their cost adds up to the budget the next call gets 402", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    // 3.99 EUR spent; one gpt-4o call of 1000 output tokens costs 0.0086 EUR and crosses 4 EUR.
    await setCounter(svc, licenseId, "month", { requests: 5, costEur: 3.99 });
    up.script({ usage: { prompt: 0, completion: 1000 } }, { usage: { prompt: 0, completion: 1000 } });
    expect((await chat(key, { messages: HELLO, model: "gpt-4o" })).status).toBe(200);
    expect((await chat(key, { messages: HELLO, model: "gpt-4o" })).status).toBe(200);
    const month = await counter(svc, licenseId);
    expect(month.costEur).toBeGreaterThanOrEqual(4);
    const res = await chat(key);
    expect(res.status).toBe(402);
    expect((await jsonOf(res)).code).toBe("budget_exceeded");
  });
});

describe("POST /api/chat admission under concurrency", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  async function parallel(key: string, n: number): Promise<Array<{ status: number; body: any }>> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } });
        return { status: res.status, body: await res.json() };
      }),
    );
  }

  test("50 parallel calls against 7 remaining monthly requests admit exactly 7", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 993 });
    const answers = await parallel(key, 50);
    // Every admitted call is answered 200 and every refused one 429: nothing else (no 500 from the settlement).
    expect(answers.filter((a) => a.status !== 200 && a.status !== 429)).toEqual([]);
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok).toHaveLength(7);
    expect(refused).toHaveLength(43);
    for (const r of refused) expect(r.body).toEqual(MONTHLY_LIMIT);
    expect(up.requests).toHaveLength(7);
    expect((await counter(svc, licenseId)).requests).toBe(1000);
    expect(await reservationsOf(svc, licenseId)).toBe(0);
  });

  test("30 parallel calls in one minute admit exactly the plan's 10 per minute", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    const answers = await parallel(key, 30);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 429)).toEqual([]);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(20);
    for (const r of refused) expect(r.body).toEqual(MINUTE_LIMIT);
    expect((await counter(svc, licenseId, "minute")).requests).toBe(10);
    expect((await counter(svc, licenseId, "month")).requests).toBe(10);
    expect(await reservationsOf(svc, licenseId)).toBe(0);
  });

  test("burst after burst, every admitted call is settled: 200, counted once, no reservation left, never a 500", async () => {
    for (let round = 0; round < 6; round++) {
      // Each burst in a new hour, so the settlements create the hour and minute counter rows concurrently.
      svc.clock.current = new Date(T0.getTime() + round * 3_600_000);
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 993 });
      const answers = await parallel(key, 50);
      expect(answers.filter((a) => a.status !== 200 && a.status !== 429)).toEqual([]);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(7);
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      expect((await counter(svc, licenseId)).requests).toBe(1000);
      expect((await counter(svc, licenseId, "hour")).requests).toBe(7);
    }
  });

  test("parallel calls of two licenses do not take each other's quota", async () => {
    const a = await svc.issue({ plan: "pro" });
    const b = await svc.issue({ plan: "pro" });
    await setCounter(svc, a.licenseId, "month", { requests: 997 });
    const [answersA, answersB] = await Promise.all([parallel(a.key, 12), parallel(b.key, 12)]);
    expect([...answersA, ...answersB].filter((x) => x.status !== 200 && x.status !== 429)).toEqual([]);
    expect(answersA.filter((x) => x.status === 200)).toHaveLength(3);
    expect(answersB.filter((x) => x.status === 200)).toHaveLength(10);
  });
});

describe("POST /api/chat when the provider has no key configured", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    // OpenAI has no vendor key in this service.
    svc = await startTestService(envFor(up, { OPENAI_API_KEY: "" }));
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  const chat = (key: string, body: unknown = { messages: HELLO, api_provider: "openai" }) => svc.request("POST", "/api/chat", { key, body });

  test("a call to that provider answers 503 provider_not_configured", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    const res = await chat(key);
    expect(res.status).toBe(503);
    expect(await jsonOf(res)).toEqual({ error: "openai not configured", code: "provider_not_configured" });
    expect(up.requests).toHaveLength(0);
    expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    expect(await reservationsOf(svc, licenseId)).toBe(0);
  });

  test("the other providers still answer", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const res = await chat(key, { messages: HELLO, api_provider: "anthropic" });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).provider).toBe("anthropic");
  });

  test("a used-up monthly quota is answered 429 before the missing key", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { requests: 1000 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MONTHLY_LIMIT);
    expect(res.headers.get("retry-after")).toBe(String(SECONDS_TO_NEXT_MONTH));
  });

  test("a per-minute limit is answered 429 before the missing key", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "minute", { requests: 10 });
    const res = await chat(key);
    expect(res.status).toBe(429);
    expect(await jsonOf(res)).toEqual(MINUTE_LIMIT);
  });

  test("a used-up budget is answered 402 before the missing key", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    await setCounter(svc, licenseId, "month", { costEur: 4 });
    const res = await chat(key);
    expect(res.status).toBe(402);
    expect(await jsonOf(res)).toEqual(BUDGET);
  });

  test("a Starter license without its own key is answered 403 before the missing key", async () => {
    const { key } = await svc.issue({ plan: "starter" });
    const res = await chat(key);
    expect(res.status).toBe(403);
    expect((await jsonOf(res)).code).toBe("ai_not_included");
  });

  test("a body error is answered before the missing key", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const res = await chat(key, { api_provider: "openai" });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).code).toBe("messages_required");
  });
});
