// GET /api/usage/current, GET /api/usage/history and GET /api/limits/check: exact shapes, the 80 % warnings,
// the history's period and filters, and the status a limits check answers with (200, 429, 402).
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { envFor, HELLO, jsonOf, NEXT_HOUR, NEXT_MINUTE, NEXT_MONTH, setCounter, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const REQUESTS_WARNING = "Monthly request limit approaching (>80%)";
const BUDGET_WARNING = "Monthly budget limit approaching (>80%)";

interface EventInput {
  at: string;
  provider?: string;
  model?: string;
  prompt?: number;
  completion?: number;
  costEur?: number;
  totalMs?: number;
  outcome?: "ok" | "error";
  errorCode?: string | null;
}

/** Records AI calls as the proxy does (usage events + daily aggregates) and writes them. */
async function recordEvents(svc: TestService, licenseId: number, events: EventInput[]): Promise<void> {
  for (const e of events) {
    svc.services.usageRecorder.record({
      licenseId,
      customerId: null,
      provider: e.provider ?? "openai",
      model: e.model ?? "gpt-4o-mini",
      endpoint: "chat",
      promptTokens: e.prompt ?? 20,
      completionTokens: e.completion ?? 35,
      cachedTokens: 0,
      costEur: e.costEur ?? 0.000041,
      priceSnapshot: null,
      estimated: false,
      byok: false,
      upstreamMs: 700,
      totalMs: e.totalMs ?? 800,
      outcome: e.outcome ?? "ok",
      errorCode: e.errorCode ?? null,
      clientIp: null,
      userAgent: null,
      createdAt: new Date(e.at),
    });
  }
  await svc.services.usageRecorder.flush();
}

describe("usage routes", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
    // A plan without AI included but with a budget and a per-minute limit, as a BYOK plan could be edited to.
    const starter = DEFAULT_PLANS.find((p) => p.name === "starter")!;
    await svc.services.plans.seed(
      [{ ...starter, name: "starter_capped", displayName: "Starter capped", limits: { ...starter.limits, monthlyBudgetEur: 1, requestsPerMinute: 2 } }],
      T0,
    );
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  describe("GET /api/usage/current", () => {
    test("without a key it answers 401 license_missing", async () => {
      const res = await svc.request("GET", "/api/usage/current");
      expect(res.status).toBe(401);
      expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
    });

    test("a fresh Pro license gets the exact shape with zeros and no warnings", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await svc.request("GET", "/api/usage/current", { key });
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({
        status: "success",
        plan: { name: "pro", display_name: "Pro - AI Included", price: 7.99 },
        current_usage: {
          current_month: { requests: 0, tokens: 0, cost_eur: 0, avg_response_time_ms: 0 },
          current_hour: { requests: 0 },
          current_minute: { requests: 0 },
          limits: { monthly_requests: 1000, requests_per_minute: 10, requests_per_hour: 200, monthly_budget_eur: 4 },
          usage_percentages: { requests: 0, budget: 0 },
        },
        warnings: [],
        timestamp: T0.toISOString(),
      });
    });

    test("at 80 % of the requests and of the budget it reports both percentages and both warnings", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 800, tokens: 50000, costEur: 3.2 });
      await setCounter(svc, licenseId, "hour", { requests: 40, tokens: 100, costEur: 0.1 });
      await setCounter(svc, licenseId, "minute", { requests: 3, tokens: 10, costEur: 0.01 });
      await recordEvents(svc, licenseId, [
        { at: "2026-03-02T08:00:00.000Z", totalMs: 800 },
        { at: "2026-03-15T11:00:00.000Z", totalMs: 1000 },
      ]);
      const res = await svc.request("GET", "/api/usage/current", { key });
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({
        status: "success",
        plan: { name: "pro", display_name: "Pro - AI Included", price: 7.99 },
        current_usage: {
          current_month: { requests: 800, tokens: 50000, cost_eur: 3.2, avg_response_time_ms: 900 },
          current_hour: { requests: 40 },
          current_minute: { requests: 3 },
          limits: { monthly_requests: 1000, requests_per_minute: 10, requests_per_hour: 200, monthly_budget_eur: 4 },
          usage_percentages: { requests: 80, budget: 80 },
        },
        warnings: [REQUESTS_WARNING, BUDGET_WARNING],
        timestamp: T0.toISOString(),
      });
    });

    test("just under 80 % there are no warnings", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 799, costEur: 3 });
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.current_usage.usage_percentages).toEqual({ requests: 79.9, budget: 75 });
      expect(body.warnings).toEqual([]);
    });

    test("only the request warning appears when only the requests reach 80 %", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 850, costEur: 1 });
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.current_usage.usage_percentages).toEqual({ requests: 85, budget: 25 });
      expect(body.warnings).toEqual([REQUESTS_WARNING]);
    });

    test("only the budget warning appears when only the budget reaches 80 %", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 10, costEur: 3.5 });
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.current_usage.usage_percentages).toEqual({ requests: 1, budget: 87.5 });
      expect(body.warnings).toEqual([BUDGET_WARNING]);
    });

    test("an unlimited Starter plan reports 0 % and no warnings whatever it used", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter" });
      await setCounter(svc, licenseId, "month", { requests: 100000, costEur: 500 });
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.plan).toEqual({ name: "starter", display_name: "Starter - BYOK", price: 2.99 });
      expect(body.current_usage.limits).toEqual({ monthly_requests: 0, requests_per_minute: 0, requests_per_hour: 0, monthly_budget_eur: 0 });
      expect(body.current_usage.usage_percentages).toEqual({ requests: 0, budget: 0 });
      expect(body.warnings).toEqual([]);
    });

    test("real chat calls show up in the month, hour and minute with integer counts", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 20, completion: 35 } }, { usage: { prompt: 10, completion: 5 } });
      const costs: number[] = [];
      for (let i = 0; i < 2; i++) {
        const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } });
        expect(res.status).toBe(200);
        costs.push((await res.json()).usage.cost_eur);
      }
      await svc.services.usageRecorder.flush();
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.current_usage.current_month).toMatchObject({ requests: 2, tokens: 70, cost_eur: Math.round((costs[0]! + costs[1]!) * 1e6) / 1e6 });
      expect(Number.isInteger(body.current_usage.current_month.avg_response_time_ms)).toBe(true);
      expect(body.current_usage.current_hour).toEqual({ requests: 2 });
      expect(body.current_usage.current_minute).toEqual({ requests: 2 });
      expect(body.current_usage.usage_percentages.requests).toBe(0.2);
    });

    test("the minute counter of the previous minute is not the current minute", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(200);
      svc.clock.current = new Date(NEXT_MINUTE);
      const body = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(body.current_usage.current_minute).toEqual({ requests: 0 });
      expect(body.current_usage.current_hour).toEqual({ requests: 1 });
      expect(body.current_usage.current_month.requests).toBe(1);
    });
  });

  describe("GET /api/usage/history", () => {
    const events: EventInput[] = [
      { at: "2026-03-15T10:00:00.000Z", provider: "openai", model: "gpt-4o-mini", prompt: 20, completion: 35, costEur: 0.000041, totalMs: 800 },
      { at: "2026-03-15T11:00:00.000Z", provider: "openai", model: "gpt-4o", prompt: 10, completion: 5, costEur: 0.00001, totalMs: 1000 },
      { at: "2026-03-15T11:30:00.000Z", provider: "anthropic", model: "claude-3-5-haiku-latest", prompt: 100, completion: 50, costEur: 0.0003, totalMs: 1200 },
      { at: "2026-03-12T09:00:00.000Z", provider: "deepseek", model: "deepseek-chat", prompt: 1, completion: 1, costEur: 0.000001, totalMs: 500 },
      // Before the 30-day period (it starts 2026-02-14): not reported.
      { at: "2026-02-13T23:59:59.000Z", provider: "openai", prompt: 1000, completion: 1000, costEur: 1 },
    ];

    test("without a key it answers 401 license_missing", async () => {
      const res = await svc.request("GET", "/api/usage/history");
      expect(res.status).toBe(401);
      expect((await jsonOf(res)).code).toBe("license_missing");
    });

    test("by default it reports the last 30 days by day and provider, the recent calls and a summary", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, events);
      const res = await svc.request("GET", "/api/usage/history", { key });
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({
        status: "success",
        period: { start: "2026-02-14T00:00:00.000Z", end: "2026-03-16T00:00:00.000Z", days: 30 },
        daily_usage: {
          "2026-03-12": {
            total_requests: 1,
            total_tokens: 2,
            total_cost_eur: 0.000001,
            avg_response_time: 500,
            by_provider: { deepseek: { requests: 1, tokens: 2, cost_eur: 0.000001 } },
          },
          "2026-03-15": {
            total_requests: 3,
            total_tokens: 220,
            total_cost_eur: 0.000351,
            avg_response_time: 1000,
            by_provider: {
              openai: { requests: 2, tokens: 70, cost_eur: 0.000051 },
              anthropic: { requests: 1, tokens: 150, cost_eur: 0.0003 },
            },
          },
        },
        recent_requests: [
          { timestamp: "2026-03-15T11:30:00.000Z", provider: "anthropic", model: "claude-3-5-haiku-latest", endpoint: "chat", tokens: 150, cost_eur: 0.0003, response_time_ms: 1200, success: true, error_code: null },
          { timestamp: "2026-03-15T11:00:00.000Z", provider: "openai", model: "gpt-4o", endpoint: "chat", tokens: 15, cost_eur: 0.00001, response_time_ms: 1000, success: true, error_code: null },
          { timestamp: "2026-03-15T10:00:00.000Z", provider: "openai", model: "gpt-4o-mini", endpoint: "chat", tokens: 55, cost_eur: 0.000041, response_time_ms: 800, success: true, error_code: null },
          { timestamp: "2026-03-12T09:00:00.000Z", provider: "deepseek", model: "deepseek-chat", endpoint: "chat", tokens: 2, cost_eur: 0.000001, response_time_ms: 500, success: true, error_code: null },
        ],
        summary: { total_requests: 4, total_tokens: 222, days_with_usage: 2, avg_requests_per_day: 0.13 },
      });
    });

    test("days narrows the period to the last N UTC days including today", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, events);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history?days=2", { key }));
      expect(body.period).toEqual({ start: "2026-03-14T00:00:00.000Z", end: "2026-03-16T00:00:00.000Z", days: 2 });
      expect(Object.keys(body.daily_usage)).toEqual(["2026-03-15"]);
      expect(body.recent_requests).toHaveLength(3);
      expect(body.summary).toEqual({ total_requests: 3, total_tokens: 220, days_with_usage: 1, avg_requests_per_day: 1.5 });
    });

    test("days=90 reaches back ninety days", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, events);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history?days=90", { key }));
      expect(body.period).toEqual({ start: "2025-12-16T00:00:00.000Z", end: "2026-03-16T00:00:00.000Z", days: 90 });
      expect(body.summary.total_requests).toBe(5);
      expect(Object.keys(body.daily_usage).sort()).toEqual(["2026-02-13", "2026-03-12", "2026-03-15"]);
    });

    test("provider filters the days, the recent calls and the summary", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, events);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history?provider=anthropic", { key }));
      expect(body.daily_usage).toEqual({
        "2026-03-15": {
          total_requests: 1,
          total_tokens: 150,
          total_cost_eur: 0.0003,
          avg_response_time: 1200,
          by_provider: { anthropic: { requests: 1, tokens: 150, cost_eur: 0.0003 } },
        },
      });
      expect(body.recent_requests.map((r: any) => r.provider)).toEqual(["anthropic"]);
      expect(body.summary).toEqual({ total_requests: 1, total_tokens: 150, days_with_usage: 1, avg_requests_per_day: 0.03 });
    });

    test("the provider filter ignores case", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, events);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history?provider=OpenAI", { key }));
      expect(body.summary.total_requests).toBe(2);
    });

    test("recent_requests lists at most the 50 newest calls, newest first", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      const many: EventInput[] = Array.from({ length: 60 }, (_, i) => ({ at: new Date(Date.UTC(2026, 2, 15, 0, i)).toISOString() }));
      await recordEvents(svc, licenseId, many);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history", { key }));
      expect(body.recent_requests).toHaveLength(50);
      expect(body.recent_requests[0].timestamp).toBe("2026-03-15T00:59:00.000Z");
      expect(body.recent_requests[49].timestamp).toBe("2026-03-15T00:10:00.000Z");
      expect(body.summary).toEqual({ total_requests: 60, total_tokens: 60 * 55, days_with_usage: 1, avg_requests_per_day: 2 });
      expect(body.daily_usage["2026-03-15"].total_requests).toBe(60);
    });

    test("a failed call is listed as unsuccessful with its error code", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await recordEvents(svc, licenseId, [{ at: "2026-03-15T12:00:00.000Z", prompt: 0, completion: 0, costEur: 0, outcome: "error", errorCode: "provider_error" }]);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history", { key }));
      expect(body.recent_requests[0]).toMatchObject({ success: false, error_code: "provider_error", tokens: 0, cost_eur: 0 });
    });

    test("another license's calls are not in the history", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const other = await svc.issue({ plan: "pro" });
      await recordEvents(svc, other.licenseId, events);
      const body = await jsonOf(await svc.request("GET", "/api/usage/history", { key }));
      expect(body.daily_usage).toEqual({});
      expect(body.recent_requests).toEqual([]);
      expect(body.summary).toEqual({ total_requests: 0, total_tokens: 0, days_with_usage: 0, avg_requests_per_day: 0 });
    });

    for (const days of ["0", "91", "-5", "abc", "1.5"]) {
      test(`days=${days} is refused with 422 invalid_request naming days`, async () => {
        const { key } = await svc.issue({ plan: "pro" });
        const res = await svc.request("GET", `/api/usage/history?days=${days}`, { key });
        expect(res.status).toBe(422);
        const body = await jsonOf(res);
        expect(body.code).toBe("invalid_request");
        expect(body.field).toBe("days");
      });
    }

    test("an unknown provider is refused with 400 invalid_provider", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await svc.request("GET", "/api/usage/history?provider=cohere", { key });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Invalid AI provider", code: "invalid_provider", allowed_providers: ["openai", "anthropic", "deepseek"] });
    });
  });

  describe("GET /api/limits/check", () => {
    const resetTimes = { monthly: NEXT_MONTH, hour: NEXT_HOUR, minute: NEXT_MINUTE };
    const check = (key: string) => svc.request("GET", "/api/limits/check", { key });

    test("without a key it answers 401 license_missing", async () => {
      const res = await svc.request("GET", "/api/limits/check");
      expect(res.status).toBe(401);
      expect((await jsonOf(res)).code).toBe("license_missing");
    });

    test("a fresh Pro license answers 200 with every limit passed, the exact shape and the reset times", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await check(key);
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({
        status: "success",
        can_make_request: true,
        limits_status: {
          monthly_requests: { passed: true, current: 0, limit: 1000, percentage: 0 },
          requests_per_minute: { passed: true, current: 0, limit: 10, percentage: 0 },
          requests_per_hour: { passed: true, current: 0, limit: 200, percentage: 0 },
          monthly_budget: { passed: true, current_cost_eur: 0, limit_eur: 4, percentage: 0 },
        },
        blocking_factors: [],
        reset_times: resetTimes,
      });
    });

    test("used quota shows in current and percentage while still allowed", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 250, costEur: 1 });
      await setCounter(svc, licenseId, "hour", { requests: 50 });
      await setCounter(svc, licenseId, "minute", { requests: 5 });
      const res = await check(key);
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).limits_status).toEqual({
        monthly_requests: { passed: true, current: 250, limit: 1000, percentage: 25 },
        requests_per_minute: { passed: true, current: 5, limit: 10, percentage: 50 },
        requests_per_hour: { passed: true, current: 50, limit: 200, percentage: 25 },
        monthly_budget: { passed: true, current_cost_eur: 1, limit_eur: 4, percentage: 25 },
      });
    });

    test("a used-up month answers 429 naming monthly_limit as the blocking factor", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 1000, costEur: 1 });
      const res = await check(key);
      expect(res.status).toBe(429);
      const body = await jsonOf(res);
      expect(body).toMatchObject({ status: "success", can_make_request: false, blocking_factors: ["monthly_limit"], reset_times: resetTimes });
      expect(body.limits_status.monthly_requests).toEqual({ passed: false, current: 1000, limit: 1000, percentage: 100 });
      expect(body.limits_status.monthly_budget.passed).toBe(true);
    });

    test("a used-up minute answers 429 naming rate_limit_minute", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "minute", { requests: 10 });
      const res = await check(key);
      expect(res.status).toBe(429);
      const body = await jsonOf(res);
      expect(body.blocking_factors).toEqual(["rate_limit_minute"]);
      expect(body.limits_status.requests_per_minute).toEqual({ passed: false, current: 10, limit: 10, percentage: 100 });
    });

    test("a used-up hour answers 429 naming rate_limit_hour", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "hour", { requests: 200 });
      const res = await check(key);
      expect(res.status).toBe(429);
      expect((await jsonOf(res)).blocking_factors).toEqual(["rate_limit_hour"]);
    });

    test("a 429 from the limits check carries Retry-After in seconds, like every 429", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "minute", { requests: 10 });
      const res = await check(key);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("30");
    });

    test("a used-up budget alone answers 402 naming budget_exceeded", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 100, costEur: 4 });
      const res = await check(key);
      expect(res.status).toBe(402);
      const body = await jsonOf(res);
      expect(body).toMatchObject({ status: "success", can_make_request: false, blocking_factors: ["budget_exceeded"] });
      expect(body.limits_status.monthly_budget).toEqual({ passed: false, current_cost_eur: 4, limit_eur: 4, percentage: 100 });
      expect(body.limits_status.monthly_requests.passed).toBe(true);
    });

    test("a request limit and the budget together answer 429 and list both in the contract's order", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 100, costEur: 4.5 });
      await setCounter(svc, licenseId, "minute", { requests: 10 });
      const res = await check(key);
      expect(res.status).toBe(429);
      expect((await jsonOf(res)).blocking_factors).toEqual(["rate_limit_minute", "budget_exceeded"]);
    });

    test("the limits check agrees with the chat call it predicts", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 100, costEur: 4 });
      expect((await check(key)).status).toBe(402);
      expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(402);
    });

    test("a Starter license is never blocked: its limits are unlimited", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter" });
      await setCounter(svc, licenseId, "month", { requests: 100000, costEur: 100 });
      const res = await check(key);
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.can_make_request).toBe(true);
      expect(body.limits_status.monthly_requests).toEqual({ passed: true, current: 100000, limit: 0, percentage: 0 });
    });

    test("a BYOK license is not blocked by the budget, its own key pays", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter_capped" });
      await setCounter(svc, licenseId, "month", { requests: 10, costEur: 5 });
      const res = await check(key);
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.can_make_request).toBe(true);
      expect(body.blocking_factors).toEqual([]);
      expect(body.limits_status.monthly_budget.passed).toBe(true);
    });

    test("a BYOK license is still blocked by its rate limits", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter_capped" });
      await setCounter(svc, licenseId, "month", { requests: 10, costEur: 5 });
      await setCounter(svc, licenseId, "minute", { requests: 2 });
      const res = await check(key);
      expect(res.status).toBe(429);
      expect((await jsonOf(res)).blocking_factors).toEqual(["rate_limit_minute"]);
    });
  });
});
