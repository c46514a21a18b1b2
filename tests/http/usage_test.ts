// GET /api/usage: this month's AI usage of the calling license, per UTC day.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

describe("GET /api/usage", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  /** Records one AI request as the proxy does: through the batched usage recorder (events + daily aggregates). */
  async function recordUsage(
    licenseId: number,
    at: Date,
    extra: { endpoint?: string; promptTokens?: number; completionTokens?: number; outcome?: string } = {},
  ): Promise<void> {
    svc.services.usageRecorder.record({
      licenseId,
      customerId: null,
      provider: "openai",
      model: "gpt-4o-mini",
      endpoint: extra.endpoint ?? "chat",
      promptTokens: extra.promptTokens ?? 20,
      completionTokens: extra.completionTokens ?? 35,
      cachedTokens: 0,
      costEur: 0.000041,
      priceSnapshot: null,
      estimated: false,
      byok: false,
      upstreamMs: 800,
      totalMs: 812,
      outcome: (extra.outcome ?? "ok") as "ok" | "error",
      errorCode: null,
      clientIp: null,
      userAgent: null,
      createdAt: at,
    });
    await svc.services.usageRecorder.flush();
  }

  test("without a key it answers 401 license_missing", async () => {
    const res = await svc.request("GET", "/api/usage");
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test("with an unknown key it answers 401 license_invalid", async () => {
    const res = await svc.request("GET", "/api/usage", { key: "CHA-00000000-00000000-00000000-00000000" });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).code).toBe("license_invalid");
  });

  test("a suspended license answers 401 license_inactive", async () => {
    const { key } = await svc.issue({});
    await svc.setStatus(key, "suspend");
    const res = await svc.request("GET", "/api/usage", { key });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "suspended" });
  });

  test("a license without AI usage gets its id, plan, monthly limit and an empty usage object", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro" });
    const res = await svc.request("GET", "/api/usage", { key });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ license_id: licenseId, plan: "pro", monthly_limit: 1000, usage: {} });
  });

  test("validations are not usage: a validated license still reports empty usage", async () => {
    const { key } = await svc.issue({});
    for (let i = 0; i < 3; i++) await svc.request("POST", "/api/validate", { key });
    expect((await jsonOf(await svc.request("GET", "/api/usage", { key }))).usage).toEqual({});
  });

  test("an AI request of this month appears under its UTC day with requests, tokens and endpoints", async () => {
    const { key, licenseId } = await svc.issue({});
    const now = svc.clock.now();
    await recordUsage(licenseId, now, { promptTokens: 20, completionTokens: 35 });
    const res = await svc.request("GET", "/api/usage", { key });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    const day = now.toISOString().slice(0, 10);
    expect(body.usage).toEqual({ [day]: { requests: 1, tokens: 55, endpoints: { chat: 1 } } });
  });

  test("usage lists only this month's requests of the calling license, added up per day", async () => {
    const { key, licenseId } = await svc.issue({ plan: "agency" });
    const other = await svc.issue({});
    const now = svc.clock.now();
    const thisMonth = (day: number, hour = 9) =>
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), day, hour));
    await recordUsage(licenseId, thisMonth(2), { promptTokens: 10, completionTokens: 5 });
    await recordUsage(licenseId, thisMonth(2, 23), { promptTokens: 1, completionTokens: 2 });
    await recordUsage(licenseId, thisMonth(now.getUTCDate(), 0), { promptTokens: 100, completionTokens: 1 });
    // Last month, another license: none of these belong to this answer.
    await recordUsage(licenseId, new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 28)));
    await recordUsage(other.licenseId, thisMonth(2));
    const body = await jsonOf(await svc.request("GET", "/api/usage", { key }));
    expect(body.plan).toBe("agency");
    expect(body.monthly_limit).toBe(5000);
    const iso = (d: Date) => d.toISOString().slice(0, 10);
    expect(body.usage).toEqual({
      [iso(thisMonth(2))]: { requests: 2, tokens: 18, endpoints: { chat: 2 } },
      [iso(thisMonth(now.getUTCDate()))]: { requests: 1, tokens: 101, endpoints: { chat: 1 } },
    });
    for (const day of Object.values(body.usage) as Array<{ requests: number; tokens: number }>) {
      expect(Number.isInteger(day.requests)).toBe(true);
      expect(Number.isInteger(day.tokens)).toBe(true);
    }
  });
});
