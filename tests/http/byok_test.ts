// Bring your own key: PUT/GET/DELETE /api/keys, the key never shown or stored in clear, and chat calls that
// run on the customer's key: allowed on Starter, not charged to the budget, still rate limited.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";
import { conn, counter, envFor, HELLO, jsonOf, setCounter, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const OWN_KEY = "sk-own-abcdef123456";
const OWN_SECRET_PART = "abcdef12";

/** Every row of a table as one string, to search for a secret in clear. */
async function tableText(svc: TestService, table: string): Promise<string> {
  const rows = await conn(svc).execute(`select * from ${table}`);
  return JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? String(v) : v));
}

describe("bring your own key", () => {
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

  const putKey = (key: string, provider: string, apiKey: unknown) => svc.request("PUT", `/api/keys/${provider}`, { key, body: { api_key: apiKey } });
  const chat = (key: string, body: unknown = { messages: HELLO }) => svc.request("POST", "/api/chat", { key, body });

  describe("the key routes", () => {
    test("without a license key they answer 401 license_missing", async () => {
      for (const [method, path] of [["GET", "/api/keys"], ["PUT", "/api/keys/openai"], ["DELETE", "/api/keys/openai"]] as const) {
        const res = await svc.request(method, path, { body: method === "PUT" ? { api_key: OWN_KEY } : undefined });
        expect(res.status).toBe(401);
        expect((await jsonOf(res)).code).toBe("license_missing");
      }
    });

    test("PUT stores the key and answers 200 with its last four characters only", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      const res = await putKey(key, "openai", OWN_KEY);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ success: true, provider: "openai", last4: "3456" });
      expect(text).not.toContain(OWN_SECRET_PART);
    });

    test("GET lists the stored keys as provider, last4 and created_at", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      expect((await jsonOf(await svc.request("GET", "/api/keys", { key })))).toEqual({ keys: [] });
      await putKey(key, "openai", OWN_KEY);
      await putKey(key, "anthropic", "sk-ant-own-zyxw9876");
      const res = await svc.request("GET", "/api/keys", { key });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({
        keys: [
          { provider: "anthropic", last4: "9876", created_at: T0.toISOString() },
          { provider: "openai", last4: "3456", created_at: T0.toISOString() },
        ],
      });
      expect(text).not.toContain(OWN_SECRET_PART);
      expect(text).not.toContain("zyxw");
    });

    test("the key is not in the database in clear, nor in the audit log or the service log", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const keys = await tableText(svc, "provider_keys");
      expect(keys).toContain("3456");
      expect(keys).not.toContain(OWN_KEY);
      expect(keys).not.toContain(OWN_SECRET_PART);
      expect(await tableText(svc, "audit_log")).not.toContain(OWN_SECRET_PART);
      expect(svc.logLines.join("\n")).not.toContain(OWN_SECRET_PART);
    });

    test("PUT again replaces the stored key", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const res = await putKey(key, "openai", "sk-own-replaced-7777");
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({ success: true, provider: "openai", last4: "7777" });
      const list = await jsonOf(await svc.request("GET", "/api/keys", { key }));
      expect(list.keys).toEqual([{ provider: "openai", last4: "7777", created_at: T0.toISOString() }]);
      expect((await chat(key)).status).toBe(200);
      expect(up.requests[0]!.headers.authorization).toBe("Bearer sk-own-replaced-7777");
    });

    test("DELETE removes the key with 200, then answers 404 key_not_found", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const res = await svc.request("DELETE", "/api/keys/openai", { key });
      expect(res.status).toBe(200);
      expect(await jsonOf(res)).toEqual({ success: true, provider: "openai", deleted: true });
      expect(await jsonOf(await svc.request("GET", "/api/keys", { key }))).toEqual({ keys: [] });
      const again = await svc.request("DELETE", "/api/keys/openai", { key });
      expect(again.status).toBe(404);
      expect(await jsonOf(again)).toEqual({ error: "No openai key stored", code: "key_not_found" });
    });

    test("after DELETE a Starter license is back to 403 ai_not_included", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      expect((await chat(key)).status).toBe(200);
      await svc.request("DELETE", "/api/keys/openai", { key });
      const res = await chat(key);
      expect(res.status).toBe(403);
      expect((await jsonOf(res)).code).toBe("ai_not_included");
    });

    test("an unknown provider is refused with 400 invalid_provider on PUT and DELETE", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      for (const method of ["PUT", "DELETE"] as const) {
        const res = await svc.request(method, "/api/keys/cohere", { key, body: method === "PUT" ? { api_key: OWN_KEY } : undefined });
        expect(res.status).toBe(400);
        expect(await jsonOf(res)).toEqual({ error: "Invalid AI provider", code: "invalid_provider", allowed_providers: ["openai", "anthropic", "deepseek"] });
      }
      expect(await jsonOf(await svc.request("GET", "/api/keys", { key }))).toEqual({ keys: [] });
    });

    for (const [what, apiKey] of [
      ["a missing api_key", undefined],
      ["an api_key that is not a string", 12345678],
      ["an empty api_key", ""],
      ["an api_key too short to be a key", "sk-1"],
      ["an api_key with whitespace inside", "sk-own abc def"],
    ] as const) {
      test(`${what} is refused with 422 invalid_request naming api_key`, async () => {
        const { key } = await svc.issue({ plan: "starter" });
        const res = await svc.request("PUT", "/api/keys/openai", { key, body: apiKey === undefined ? {} : { api_key: apiKey } });
        expect(res.status).toBe(422);
        const body = await jsonOf(res);
        expect(body.code).toBe("invalid_request");
        expect(body.field).toBe("api_key");
        expect(await jsonOf(await svc.request("GET", "/api/keys", { key }))).toEqual({ keys: [] });
      });
    }

    test("keys belong to the customer: another customer's license sees none and cannot delete them", async () => {
      const owner = await svc.issue({ plan: "starter" });
      const stranger = await svc.issue({ plan: "starter" });
      await putKey(owner.key, "openai", OWN_KEY);
      expect(await jsonOf(await svc.request("GET", "/api/keys", { key: stranger.key }))).toEqual({ keys: [] });
      expect((await svc.request("DELETE", "/api/keys/openai", { key: stranger.key })).status).toBe(404);
      expect((await chat(stranger.key)).status).toBe(403);
      expect((await jsonOf(await svc.request("GET", "/api/keys", { key: owner.key }))).keys).toHaveLength(1);
    });
  });

  describe("chat calls on the customer's own key", () => {
    test("a Starter license gets 403 ai_not_included without a stored key and 200 with one", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      const refused = await chat(key);
      expect(refused.status).toBe(403);
      expect(await jsonOf(refused)).toEqual({
        error: "AI not included in your plan",
        code: "ai_not_included",
        plan: "starter",
        message: "Upgrade to Pro or Agency plan for included AI",
      });
      expect(up.requests).toHaveLength(0);
      await putKey(key, "openai", OWN_KEY);
      const res = await chat(key);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ success: true, provider: "openai", model: "gpt-4o-mini" });
      expect(text).not.toContain(OWN_SECRET_PART);
    });

    test("the call goes upstream with the customer's key, not the vendor's", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      expect((await chat(key)).status).toBe(200);
      expect(up.requests).toHaveLength(1);
      expect(up.requests[0]!.headers.authorization).toBe(`Bearer ${OWN_KEY}`);
    });

    test("an Anthropic key is sent as Anthropic's x-api-key", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "anthropic", "sk-ant-own-zyxw9876");
      const res = await chat(key, { messages: HELLO, api_provider: "anthropic" });
      expect(res.status).toBe(200);
      expect(up.requests[0]!.headers["x-api-key"]).toBe("sk-ant-own-zyxw9876");
    });

    test("a key for one provider does not open the others on Starter", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const res = await chat(key, { messages: HELLO, api_provider: "anthropic" });
      expect(res.status).toBe(403);
      expect((await jsonOf(res)).code).toBe("ai_not_included");
    });

    test("the plan's model allow-list still applies to own-key calls", async () => {
      const { key } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const res = await chat(key, { messages: HELLO, model: "gpt-4o" });
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).code).toBe("model_not_allowed");
    });

    test("an own-key call is counted as a request but costs the plan nothing", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      up.script({ usage: { prompt: 1234, cached: 200, completion: 567 } });
      const body = await jsonOf(await chat(key));
      expect(body.usage).toMatchObject({ prompt_tokens: 1234, completion_tokens: 567, tokens: 1801, cost_eur: 0 });
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 1801, costEur: 0 });
      await svc.services.usageRecorder.flush();
      const rows = (await conn(svc).execute("select byok, cost_eur from usage_events where license_id = ?", [licenseId])) as Array<Record<string, unknown>>;
      expect(rows).toHaveLength(1);
      expect(Boolean(Number(rows[0]!.byok))).toBe(true);
      expect(Number(rows[0]!.cost_eur)).toBe(0);
    });

    test("a Pro customer's own key is used for that provider and the month cost stays unchanged", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await putKey(key, "openai", OWN_KEY);
      await setCounter(svc, licenseId, "month", { requests: 5, tokens: 100, costEur: 1.5 });
      up.script({ usage: { prompt: 5000, completion: 2000 } });
      const body = await jsonOf(await chat(key));
      expect(body.usage.cost_eur).toBe(0);
      expect(up.requests[0]!.headers.authorization).toBe(`Bearer ${OWN_KEY}`);
      expect(await counter(svc, licenseId)).toEqual({ requests: 6, tokens: 7100, costEur: 1.5 });
    });

    test("a Pro customer's own key for OpenAI does not cover DeepSeek: that call uses the vendor key and is charged", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await putKey(key, "openai", OWN_KEY);
      const body = await jsonOf(await chat(key, { messages: HELLO, api_provider: "deepseek" }));
      expect(body.usage.cost_eur).toBeGreaterThan(0);
      expect(up.requests[0]!.headers.authorization).toBe("Bearer sk-ds-9999");
      expect((await counter(svc, licenseId)).costEur).toBe(body.usage.cost_eur);
    });

    test("an own-key call is not refused by a used-up budget", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await setCounter(svc, licenseId, "month", { requests: 5, costEur: 4 });
      expect((await chat(key)).status).toBe(402);
      await putKey(key, "openai", OWN_KEY);
      const res = await chat(key);
      expect(res.status).toBe(200);
      expect((await counter(svc, licenseId)).costEur).toBe(4);
    });

    test("own-key calls still count against the per-minute limit", async () => {
      const { key } = await svc.issue({ plan: "pro" });
      await putKey(key, "openai", OWN_KEY);
      for (let i = 0; i < 10; i++) expect((await chat(key)).status).toBe(200);
      const res = await chat(key);
      expect(res.status).toBe(429);
      expect(await jsonOf(res)).toEqual({
        error: "Rate limit exceeded: too many requests per minute",
        code: "rate_limit_minute",
        limit: 10,
        reset_time: "2026-03-15T12:01:00.000Z",
      });
      expect(res.headers.get("retry-after")).toBe("30");
      expect(up.requests).toHaveLength(10);
    });

    test("own-key calls still count against the monthly request limit", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await putKey(key, "openai", OWN_KEY);
      await setCounter(svc, licenseId, "month", { requests: 1000 });
      const res = await chat(key);
      expect(res.status).toBe(429);
      expect((await jsonOf(res)).code).toBe("monthly_limit");
    });

    test("a rejected own key answers 502 with the provider's status and is never retried on the vendor's key", async () => {
      const { key, licenseId } = await svc.issue({ plan: "pro" });
      await putKey(key, "openai", OWN_KEY);
      up.script({ status: 401 });
      const res = await chat(key);
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: "AI provider request failed", code: "provider_error", provider_status: 401 });
      expect(text).not.toContain(OWN_SECRET_PART);
      expect(up.requests).toHaveLength(1);
      expect(await counter(svc, licenseId)).toEqual({ requests: 0, tokens: 0, costEur: 0 });
    });

    test("an own-key stream is billed to no budget and uses the customer's key", async () => {
      const { key, licenseId } = await svc.issue({ plan: "starter" });
      await putKey(key, "openai", OWN_KEY);
      const res = await chat(key, { messages: HELLO, stream: true });
      expect(res.status).toBe(200);
      expect(await res.text()).toEndWith("data: [DONE]\n\n");
      expect(up.requests[0]!.headers.authorization).toBe(`Bearer ${OWN_KEY}`);
      expect(await counter(svc, licenseId)).toEqual({ requests: 1, tokens: 19, costEur: 0 });
    });
  });
});
