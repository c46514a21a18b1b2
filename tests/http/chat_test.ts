// POST /api/chat, the AI proxy: order of checks, exact refusal bodies, the 200 answer, upstream failures,
// costs from the price table, streaming (native events, usage settlement, broken and abandoned streams)
// and the plan's fallback provider. The upstream is the fake provider on 127.0.0.1.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readJson } from "../../src/adapters/db/_support.ts";
import { DEFAULT_PRICES } from "../../src/domain/pricing/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { conn, counter, envFor, HELLO, jsonOf, reservationsOf, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

async function usageEvents(svc: TestService, licenseId: number): Promise<Array<Record<string, any>>> {
  await svc.services.usageRecorder.flush();
  return (await conn(svc).execute("select * from usage_events where license_id = ? order by id", [licenseId])) as Array<Record<string, any>>;
}

/** Expected cost in EUR, computed from the seeded price row: uncached prompt, cached prompt and completion. */
function expectedCost(provider: string, model: string, prompt: number, cached: number, completion: number): number {
  const price = DEFAULT_PRICES.find((p) => p.provider === provider && p.model === model)!;
  const microEur = (prompt - cached) * price.inputEurPerMTok + cached * price.cachedInputEurPerMTok + completion * price.outputEurPerMTok;
  return Math.round(microEur) / 1e6;
}

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await Bun.sleep(25);
  }
}

/** The SSE blocks of a stream body, split on blank lines. */
function sseBlocks(text: string): string[] {
  return text.split("\n\n").filter((block) => block.length > 0);
}

describe("POST /api/chat", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
    svc.clock.current = new Date(T0);
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  const chat = (key: string | undefined, body: unknown) => svc.request("POST", "/api/chat", { key, body });

  describe("authentication comes first", () => {
    test("a call without a license key is refused with 401 license_missing, even with a broken body", async () => {
      const res = await svc.request("POST", "/api/chat", { rawBody: "{not json", headers: { "content-type": "application/json" } });
      expect(res.status).toBe(401);
      expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
      expect(up.requests).toHaveLength(0);
    });

    test("a call with an unknown license key is refused with 401 license_invalid", async () => {
      const res = await chat("CHA-00000000-00000000-00000000-00000000", { messages: HELLO });
      expect(res.status).toBe(401);
      expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_invalid", status: null });
      expect(up.requests).toHaveLength(0);
    });

    test("a call with a suspended license is refused with 401 license_inactive", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      await svc.setStatus(key, "suspend");
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(401);
      expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "suspended" });
      expect(up.requests).toHaveLength(0);
    });
  });

  describe("the body is checked before anything else happens", () => {
    let key: string;
    beforeAll(async () => {
      ({ key } = await svc.issue({ plan: "pro" }));
    });

    test("a body without messages answers 400 messages_required", async () => {
      const res = await chat(key, { api_provider: "openai" });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Messages required", code: "messages_required" });
    });

    test("an empty messages array answers 400 messages_required", async () => {
      const res = await chat(key, { messages: [] });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Messages required", code: "messages_required" });
    });

    test("an empty JSON body answers 400 messages_required", async () => {
      const res = await chat(key, {});
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Messages required", code: "messages_required" });
    });

    test("a conversation of system messages only answers 400 messages_required", async () => {
      const res = await chat(key, { messages: [{ role: "system", content: "Be brief." }] });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Messages required", code: "messages_required" });
    });

    test("malformed JSON from a valid license answers 400 invalid_json", async () => {
      const res = await svc.request("POST", "/api/chat", { key, rawBody: "{\"messages\":", headers: { "content-type": "application/json" } });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "JSON data required", code: "invalid_json" });
    });

    const wrongTypes: Array<[string, Record<string, unknown>, string]> = [
      ["messages given as a string", { messages: "Hello?" }, "messages"],
      ["a message that is not an object", { messages: ["Hello?"] }, "messages.0"],
      ["a message with an unknown role", { messages: [{ role: "bot", content: "Hi" }] }, "messages.0.role"],
      ["a message whose content is not a string", { messages: [{ role: "user", content: "Hi" }, { role: "user", content: 42 }] }, "messages.1.content"],
      ["a temperature that is not a number", { messages: HELLO, temperature: "warm" }, "temperature"],
      ["a temperature above 2", { messages: HELLO, temperature: 2.5 }, "temperature"],
      ["max_tokens of zero", { messages: HELLO, max_tokens: 0 }, "max_tokens"],
      ["max_tokens that is not an integer", { messages: HELLO, max_tokens: 10.5 }, "max_tokens"],
      ["max_tokens sent as a string", { messages: HELLO, max_tokens: "100" }, "max_tokens"],
      ["stream that is not a boolean", { messages: HELLO, stream: "yes" }, "stream"],
    ];
    for (const [what, body, field] of wrongTypes) {
      test(`${what} answers 422 invalid_request naming the field ${field}`, async () => {
        const res = await chat(key, body);
        expect(res.status).toBe(422);
        const answer = await jsonOf(res);
        expect(answer.code).toBe("invalid_request");
        expect(answer.field).toBe(field);
        expect(typeof answer.error).toBe("string");
        expect(answer.error).toContain(field);
        expect(up.requests).toHaveLength(0);
      });
    }

    test("an unknown api_provider answers 400 invalid_provider with the allowed providers", async () => {
      const res = await chat(key, { messages: HELLO, api_provider: "cohere" });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "Invalid AI provider", code: "invalid_provider", allowed_providers: ["openai", "anthropic", "deepseek"] });
    });

    test("an unknown provider sent under the old name `provider` answers 400 invalid_provider too", async () => {
      const res = await chat(key, { messages: HELLO, provider: "mistral" });
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).code).toBe("invalid_provider");
    });

    test("a provider that is not a string answers 400 invalid_provider", async () => {
      const res = await chat(key, { messages: HELLO, api_provider: 7 });
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).code).toBe("invalid_provider");
    });

    test("a model outside the plan's allow-list answers 400 model_not_allowed", async () => {
      const res = await chat(key, { messages: HELLO, api_provider: "openai", model: "gpt-4.1" });
      expect(res.status).toBe(400);
      const body = await jsonOf(res);
      expect(body).toMatchObject({ error: "Model not allowed for your plan", code: "model_not_allowed", model: "gpt-4.1", provider: "openai" });
      expect(body.allowed_models).toEqual(["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"]);
      expect(up.requests).toHaveLength(0);
    });

    test("a model of another provider answers 400 model_not_allowed for the chosen provider", async () => {
      const res = await chat(key, { messages: HELLO, api_provider: "openai", model: "claude-3-5-haiku-latest" });
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).code).toBe("model_not_allowed");
    });

    test("a Starter license without its own key gets the exact 403 ai_not_included answer", async () => {
      const starter = await svc.issue({ plan: "starter" });
      const res = await chat(starter.key, { messages: HELLO });
      expect(res.status).toBe(403);
      expect(await jsonOf(res)).toEqual({
        error: "AI not included in your plan",
        code: "ai_not_included",
        plan: "starter",
        message: "Upgrade to Pro or Agency plan for included AI",
      });
      expect(up.requests).toHaveLength(0);
    });

    test("a Starter license with a malformed body gets the 400 before the 403", async () => {
      const starter = await svc.issue({ plan: "starter" });
      expect((await jsonOf(await chat(starter.key, { messages: [] }))).code).toBe("messages_required");
      const res = await chat(starter.key, { messages: HELLO, model: "gpt-4o" });
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).code).toBe("model_not_allowed");
    });
  });

  describe("a successful call", () => {
    test("answers 200 with success, provider, model, the provider's own JSON and integer usage", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 20, completion: 35 }, content: "Ciao!" });
      const res = await chat(key, { messages: HELLO, api_provider: "openai", model: "gpt-4o-mini" });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(Object.keys(body).sort()).toEqual(["model", "provider", "response", "success", "usage"]);
      expect(body.success).toBe(true);
      expect(body.provider).toBe("openai");
      expect(body.model).toBe("gpt-4o-mini");
      // The provider's JSON, untouched.
      expect(body.response).toMatchObject({
        object: "chat.completion",
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "Ciao!" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 20, completion_tokens: 35, total_tokens: 55 },
      });
      expect(body.response.id).toMatch(/^chatcmpl-fake-\d+$/);
      expect(body.usage).toMatchObject({
        prompt_tokens: 20,
        completion_tokens: 35,
        total_tokens: 55,
        tokens: 55,
        cost_eur: expectedCost("openai", "gpt-4o-mini", 20, 0, 35),
      });
      for (const field of ["prompt_tokens", "completion_tokens", "total_tokens", "tokens", "response_time_ms"]) {
        expect(Number.isInteger(body.usage[field])).toBe(true);
      }
      expect(body.usage.response_time_ms).toBeGreaterThanOrEqual(0);
      expect(typeof body.usage.cost_eur).toBe("number");
    });

    test("carries X-Proxy-Overhead-Ms as a non-negative integer of milliseconds", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(200);
      const overhead = res.headers.get("x-proxy-overhead-ms");
      expect(overhead).not.toBeNull();
      expect(overhead!).toMatch(/^\d+$/);
      expect(res.headers.get("x-request-id")).toBeTruthy();
    });

    test("goes to the plan's default provider and model with the vendor key when none is named", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const body = await jsonOf(await chat(key, { messages: HELLO }));
      expect(body.provider).toBe("openai");
      expect(body.model).toBe("gpt-4o-mini");
      expect(up.requests).toHaveLength(1);
      expect(up.requests[0]!.path).toBe("/v1/chat/completions");
      expect(up.requests[0]!.headers.authorization).toBe("Bearer sk-test-vendor-1234");
      expect(up.requests[0]!.body).toMatchObject({ model: "gpt-4o-mini", messages: HELLO });
    });

    test("forwards the temperature and the conversation in order", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const messages = [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
        { role: "user", content: "How are you?" },
      ];
      expect((await chat(key, { messages, temperature: 0.3 })).status).toBe(200);
      expect(up.requests[0]!.body.messages).toEqual(messages);
      expect(up.requests[0]!.body.temperature).toBe(0.3);
    });

    test("max_tokens defaults to 1000 when the request names none", async () => {
      const { key } = await svc.issue({ plan: "agency" });
      expect((await chat(key, { messages: HELLO })).status).toBe(200);
      expect(up.requests[0]!.body.max_tokens).toBe(1000);
    });

    test("max_tokens below the plan's cap is passed through as asked", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      expect((await chat(key, { messages: HELLO, max_tokens: 300 })).status).toBe(200);
      expect(up.requests[0]!.body.max_tokens).toBe(300);
    });

    test("max_tokens above the plan's cap is lowered to the cap (Pro 1000, Agency 4000)", async () => {
      const pro = await svc.issue({ plan: "pro" });
      const agency = await svc.issue({ plan: "agency" });
      expect((await chat(pro.key, { messages: HELLO, max_tokens: 5000 })).status).toBe(200);
      expect((await chat(agency.key, { messages: HELLO, max_tokens: 5000 })).status).toBe(200);
      expect(up.requests.map((r) => r.body.max_tokens)).toEqual([1000, 4000]);
    });

    test("the old field `provider` is accepted as an alias of api_provider", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await chat(key, { messages: HELLO, provider: "anthropic" });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.provider).toBe("anthropic");
      expect(body.model).toBe("claude-3-5-haiku-latest");
      expect(up.requests[0]!.path).toBe("/v1/messages");
    });

    test("api_provider wins over provider when a body sends both", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const body = await jsonOf(await chat(key, { messages: HELLO, api_provider: "deepseek", provider: "anthropic" }));
      expect(body.provider).toBe("deepseek");
      expect(up.requests[0]!.path).toBe("/v1/chat/completions");
    });

    test("the provider name is accepted in any case", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const res = await chat(key, { messages: HELLO, api_provider: "OpenAI" });
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).provider).toBe("openai");
    });

    test("Anthropic gets the system messages in `system`, its own headers, and the answer comes back", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ content: "Salve!", usage: { prompt: 30, completion: 4 } });
      const res = await chat(key, {
        api_provider: "anthropic",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi" },
          { role: "system", content: "Answer in Italian." },
        ],
        max_tokens: 200,
      });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.provider).toBe("anthropic");
      expect(body.model).toBe("claude-3-5-haiku-latest");
      expect(body.response).toMatchObject({ type: "message", role: "assistant", content: [{ type: "text", text: "Salve!" }] });
      expect(body.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 4, total_tokens: 34, tokens: 34 });
      const sent = up.requests[0]!;
      expect(sent.path).toBe("/v1/messages");
      expect(sent.headers["x-api-key"]).toBe("sk-ant-vendor-5678");
      expect(sent.headers["anthropic-version"]).toBeTruthy();
      expect(sent.body.system).toBe("Be brief.\n\nAnswer in Italian.");
      expect(sent.body.messages).toEqual([{ role: "user", content: "Hi" }]);
      expect(sent.body.max_tokens).toBe(200);
    });

    test("DeepSeek is called on its base URL with the DeepSeek vendor key", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      const body = await jsonOf(await chat(key, { messages: HELLO, api_provider: "deepseek" }));
      expect(body).toMatchObject({ success: true, provider: "deepseek", model: "deepseek-chat" });
      expect(up.requests[0]!.headers.authorization).toBe("Bearer sk-ds-9999");
      expect(up.requests[0]!.body.model).toBe("deepseek-chat");
    });

    test("a completed call is counted once in the month, hour and minute with its real tokens and cost", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 100, completion: 50 } });
      expect((await chat(key, { messages: HELLO })).status).toBe(200);
      const cost = expectedCost("openai", "gpt-4o-mini", 100, 0, 50);
      for (const period of ["month", "hour", "minute"] as const) {
        expect(await counter(svc, licenseId, period)).toEqual({ requests: 1, tokens: 150, costEur: cost });
      }
      expect(await reservationsOf(svc, licenseId)).toBe(0);
    });

    test("a complete answer without reported usage is billed on an estimate flagged as estimated", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ omitUsage: true });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.usage.estimated).toBe(true);
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
      expect((await counter(svc, licenseId)).requests).toBe(1);
      const [event] = await usageEvents(svc, licenseId);
      expect(Boolean(Number(event!.estimated))).toBe(true);
    });
  });

  describe("upstream failures cost nothing", () => {
    test("an upstream 500 answers 502 provider_error with provider_status 500 and consumes no quota", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ status: 500 });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: 500 });
      expect(text).not.toContain("fake upstream");
      for (const period of ["month", "hour", "minute"] as const) {
        expect(await counter(svc, licenseId, period)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
      }
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      const current = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(current.current_usage.current_month).toMatchObject({ requests: 0, tokens: 0, cost_eur: 0 });
      expect(current.current_usage.current_minute).toEqual({ requests: 0 });
    });

    test("an upstream 429 answers 502 provider_error with provider_status 429", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ status: 429 });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(502);
      expect(await jsonOf(res)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: 429 });
      expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    });

    test("a failed call after a successful one leaves exactly the successful call counted", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 10, completion: 5 } }, { status: 503 });
      expect((await chat(key, { messages: HELLO })).status).toBe(200);
      expect((await chat(key, { messages: HELLO })).status).toBe(502);
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 15, costEur: expectedCost("openai", "gpt-4o-mini", 10, 0, 5) });
      const current = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(current.current_usage.current_month).toMatchObject({ requests: 1, tokens: 15 });
    });

    test("an upstream slower than PROVIDER_TIMEOUT_MS answers 504 provider_timeout and consumes no quota", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ delayMs: 1600 });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(504);
      const body = await jsonOf(res);
      expect(body.code).toBe("provider_timeout");
      expect(typeof body.error).toBe("string");
      expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      const current = await jsonOf(await svc.request("GET", "/api/usage/current", { key }));
      expect(current.current_usage.current_month).toMatchObject({ requests: 0, tokens: 0, cost_eur: 0 });
    });

    test("a failed call is logged as an error usage event that costs nothing", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ status: 500 });
      await chat(key, { messages: HELLO });
      const [event] = await usageEvents(svc, licenseId);
      expect(event).toMatchObject({ outcome: "error", error_code: "provider_error" });
      expect(Number(event!.cost_eur)).toBe(0);
      expect(Number(event!.prompt_tokens) + Number(event!.completion_tokens)).toBe(0);
    });
  });

  describe("costs come from the price table", () => {
    test("an OpenAI usage with cached prompt tokens costs the price table's figure to the micro-euro", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 1234, cached: 200, completion: 567 } });
      const body = await jsonOf(await chat(key, { messages: HELLO, model: "gpt-4o-mini" }));
      // ((1234 - 200) × 0.129 + 200 × 0.0645 + 567 × 0.516) / 1e6 EUR, rounded to 6 decimals.
      const expected = expectedCost("openai", "gpt-4o-mini", 1234, 200, 567);
      expect(expected).toBe(0.000439);
      expect(body.usage).toMatchObject({ prompt_tokens: 1234, completion_tokens: 567, total_tokens: 1801, tokens: 1801, cost_eur: expected });
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 1801, costEur: expected });
    });

    test("a DeepSeek usage prices its cache-hit tokens at the cached rate", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 10000, cached: 6000, completion: 1000 } });
      const body = await jsonOf(await chat(key, { messages: HELLO, api_provider: "deepseek" }));
      const expected = expectedCost("deepseek", "deepseek-chat", 10000, 6000, 1000);
      expect(expected).not.toBe(expectedCost("deepseek", "deepseek-chat", 10000, 0, 1000));
      expect(body.usage.cost_eur).toBe(expected);
      expect(body.usage.tokens).toBe(11000);
      expect((await counter(svc, licenseId)).costEur).toBe(expected);
    });

    test("an Anthropic usage with cache reads prices them at the cached rate", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 5000, cached: 4000, completion: 300 } });
      const body = await jsonOf(await chat(key, { messages: HELLO, api_provider: "anthropic" }));
      expect(body.usage).toMatchObject({ prompt_tokens: 5000, completion_tokens: 300 });
      expect(body.usage.cost_eur).toBe(expectedCost("anthropic", "claude-3-5-haiku-latest", 5000, 4000, 300));
    });

    test("each usage event keeps the price it was charged at, even after the price changes", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      // gpt-4.1-mini is used by this test only, so the new price cannot affect other tests.
      up.script({ usage: { prompt: 1000, completion: 1000 } }, { usage: { prompt: 1000, completion: 1000 } });
      const first = await jsonOf(await chat(key, { messages: HELLO, model: "gpt-4.1-mini" }));
      const seeded = DEFAULT_PRICES.find((p) => p.provider === "openai" && p.model === "gpt-4.1-mini")!;
      expect(first.usage.cost_eur).toBe(expectedCost("openai", "gpt-4.1-mini", 1000, 0, 1000));

      const newPrice = { provider: "openai" as const, model: "gpt-4.1-mini", inputEurPerMTok: 1, outputEurPerMTok: 2, cachedInputEurPerMTok: 0.5 };
      await svc.services.prices.add({ ...newPrice, effectiveFrom: new Date(T0.getTime() - 1000) }, svc.clock.now());
      const second = await jsonOf(await chat(key, { messages: HELLO, model: "gpt-4.1-mini" }));
      expect(second.usage.cost_eur).toBe(0.003);

      const events = await usageEvents(svc, licenseId);
      expect(events).toHaveLength(2);
      expect(Number(events[0]!.cost_eur)).toBe(first.usage.cost_eur);
      expect(readJson<unknown>(events[0]!.price_snapshot, null)).toEqual({
        provider: "openai",
        model: "gpt-4.1-mini",
        inputEurPerMTok: seeded.inputEurPerMTok,
        outputEurPerMTok: seeded.outputEurPerMTok,
        cachedInputEurPerMTok: seeded.cachedInputEurPerMTok,
        effectiveFrom: "2025-01-01T00:00:00.000Z",
      });
      expect(Number(events[1]!.cost_eur)).toBe(0.003);
      expect(readJson<unknown>(events[1]!.price_snapshot, null)).toEqual({ ...newPrice, effectiveFrom: new Date(T0.getTime() - 1000).toISOString() });
      expect(Number(events[0]!.prompt_tokens)).toBe(1000);
      expect(Number(events[0]!.completion_tokens)).toBe(1000);
      expect(Boolean(Number(events[0]!.estimated))).toBe(false);
    });
  });

  describe("streaming", () => {
    test("an OpenAI stream is passed through as text/event-stream data lines ending with data: [DONE]", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ content: "One two three" });
      const res = await chat(key, { messages: HELLO, stream: true });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      expect(res.headers.get("x-proxy-overhead-ms")).toMatch(/^\d+$/);
      const blocks = sseBlocks(await res.text());
      for (const block of blocks) expect(block.startsWith("data: ")).toBe(true);
      expect(blocks.at(-1)).toBe("data: [DONE]");
      const chunks = blocks.slice(0, -1).map((b) => JSON.parse(b.slice("data: ".length)));
      expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
      expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("One two three");
    });

    test("the proxy asks OpenAI and DeepSeek for the final usage chunk with stream_options.include_usage", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      await (await chat(key, { messages: HELLO, stream: true })).text();
      await (await chat(key, { messages: HELLO, stream: true, api_provider: "deepseek" })).text();
      expect(up.requests).toHaveLength(2);
      for (const sent of up.requests) {
        expect(sent.body.stream).toBe(true);
        expect(sent.body.stream_options).toEqual({ include_usage: true });
      }
    });

    test("a streamed OpenAI call is settled from the provider's final usage event", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ usage: { prompt: 40, cached: 10, completion: 9 } });
      await (await chat(key, { messages: HELLO, stream: true })).text();
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 49, costEur: expectedCost("openai", "gpt-4o-mini", 40, 10, 9) });
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      const [event] = await usageEvents(svc, licenseId);
      expect(Boolean(Number(event!.estimated))).toBe(false);
      expect(Number(event!.cached_tokens)).toBe(10);
    });

    test("an Anthropic stream is passed through as event: and data: lines and settled from its usage events", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ content: "Ciao a tutti", usage: { prompt: 30, completion: 11 } });
      const res = await chat(key, { messages: [{ role: "system", content: "Be brief." }, ...HELLO], api_provider: "anthropic", stream: true });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const blocks = sseBlocks(await res.text());
      for (const block of blocks) expect(block).toMatch(/^event: [a-z_]+\ndata: \{/);
      const names = blocks.map((b) => /^event: ([a-z_]+)/.exec(b)![1]);
      expect(names[0]).toBe("message_start");
      expect(names.at(-1)).toBe("message_stop");
      expect(names).toContain("message_delta");
      const text = blocks
        .filter((b) => b.startsWith("event: content_block_delta"))
        .map((b) => JSON.parse(b.split("\ndata: ")[1]!).delta.text)
        .join("");
      expect(text).toBe("Ciao a tutti");
      expect(up.requests[0]!.body.system).toBe("Be brief.");
      expect(up.requests[0]!.body.stream).toBe(true);
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 41, costEur: expectedCost("anthropic", "claude-3-5-haiku-latest", 30, 0, 11) });
    });

    test("a stream the upstream cuts mid-way ends, is billed as an estimate of what was produced and leaves no reservation", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ content: "Hello from the fake upstream", failAfterChunks: 2 });
      const res = await chat(key, { messages: HELLO, stream: true });
      expect(res.status).toBe(200);
      const blocks = sseBlocks(await res.text());
      // What the upstream produced before the cut reached the client; no [DONE] follows a broken stream.
      expect(blocks).not.toContain("data: [DONE]");
      const text = blocks.map((b) => JSON.parse(b.slice(6)).choices[0]?.delta?.content ?? "").join("");
      expect(text).toBe("Hello from");
      // The call counts as one request billed on an estimate (prompt estimate + produced text), recorded as a
      // "partial" event flagged estimated, so /api/usage counts it like the quota does.
      const month = await counter(svc, licenseId);
      expect(month.requests).toBe(1);
      expect(month.tokens).toBeGreaterThan(0);
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      const [event] = await usageEvents(svc, licenseId);
      expect(event).toMatchObject({ outcome: "partial", error_code: "provider_error" });
      expect(Boolean(Number(event!.estimated))).toBe(true);
      await svc.services.usageRecorder.flush();
      const usage = await (await svc.request("GET", "/api/usage", { key })).json();
      const days = Object.values(usage.usage) as Array<{ requests: number }>;
      expect(days.reduce((n, d) => n + d.requests, 0)).toBe(1);
      expect(Number(event!.prompt_tokens) + Number(event!.completion_tokens)).toBe(month.tokens);
      expect(Number(event!.completion_tokens)).toBe(Math.ceil("Hello from".length / 4));
      expect(Number(event!.cost_eur)).toBe(month.costEur);
    });

    test("a complete answer without reported usage is billed on an estimate of its prompt and its text, flagged estimated", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ content: "Hello from the fake upstream", omitUsage: true });
      const res = await chat(key, { messages: HELLO });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.usage.estimated).toBe(true);
      expect(body.usage.completion_tokens).toBe(Math.ceil("Hello from the fake upstream".length / 4));
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    });

    test("a client that reads the first chunk and leaves is still billed the provider's full usage", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      up.script({ chunkDelayMs: 80, usage: { prompt: 50, completion: 25 } });
      const res = await chat(key, { messages: HELLO, stream: true });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      expect(new TextDecoder().decode(first.value)).toStartWith("data: ");
      await reader.cancel();
      const month = await until(() => counter(svc, licenseId), (c) => c.requests > 0);
      expect(month).toEqual({ requests: 1, tokens: 75, costEur: expectedCost("openai", "gpt-4o-mini", 50, 0, 25) });
      expect(await reservationsOf(svc, licenseId)).toBe(0);
      const [event] = await usageEvents(svc, licenseId);
      expect(Boolean(Number(event!.estimated))).toBe(false);
      expect(event!.outcome).toBe("ok");
    });

    test("a stream refused before it starts answers JSON, not an event stream", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      up.script({ status: 500 });
      const res = await chat(key, { messages: HELLO, stream: true });
      expect(res.status).toBe(502);
      expect(await jsonOf(res)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: 500 });
    });
  });
});

describe("POST /api/chat with the plan's fallback provider", () => {
  let up: FakeUpstream;
  let svc: TestService;
  let key: string;
  let licenseId: number;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
    svc.clock.current = new Date(T0);
    // A new service whose plans were never read: the plans cache cannot hold the old row.
    await conn(svc).execute("update plans set fallback_provider = 'anthropic' where name = 'pro'", [], "run");
    ({ key, licenseId } = await svc.issue({ plan: "pro" }));
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => up.reset());

  test("an OpenAI 500 is answered by Anthropic and the body names anthropic", async () => {
    up.script({ status: 500 }, { content: "From Claude", usage: { prompt: 12, completion: 7 } });
    const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.provider).toBe("anthropic");
    expect(body.model).toBe("claude-3-5-haiku-latest");
    expect(body.response.content[0].text).toBe("From Claude");
    expect(body.usage.cost_eur).toBe(expectedCost("anthropic", "claude-3-5-haiku-latest", 12, 0, 7));
    expect(up.requests.map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/messages"]);
    expect(up.requests[1]!.headers["x-api-key"]).toBe("sk-ant-vendor-5678");
  });

  test("a fallen-back call is counted once", async () => {
    const before = await counter(svc, licenseId);
    up.script({ status: 500 });
    expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(200);
    const after = await counter(svc, licenseId);
    expect(after.requests).toBe(before.requests + 1);
    expect(after.tokens).toBe(before.tokens + 19);
  });

  test("a stream whose primary fails before the first byte is served by the fallback", async () => {
    up.script({ status: 500 });
    const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO, stream: true } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toStartWith("event: message_start");
    expect(up.requests.map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/messages"]);
  });

  test("a stream that breaks after its first bytes is neither retried nor sent to the fallback", async () => {
    up.script({ failAfterChunks: 1 });
    const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO, stream: true } });
    expect(res.status).toBe(200);
    await res.text();
    expect(up.requests.map((r) => r.path)).toEqual(["/v1/chat/completions"]);
  });

  test("when the fallback fails too the call answers 502 and costs nothing", async () => {
    const before = await counter(svc, licenseId);
    up.script({ status: 500 }, { status: 529 });
    const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } });
    expect(res.status).toBe(502);
    expect((await jsonOf(res)).code).toBe("provider_error");
    expect(await counter(svc, licenseId)).toEqual(before);
    expect(await reservationsOf(svc, licenseId)).toBe(0);
  });
});
