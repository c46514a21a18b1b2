// The admin JSON API beyond customers and licenses: usage totals (service, license, customer), the price
// table, write-only provider keys, the audit log's filters, and API tokens shown once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CLI_ACTOR, createApiToken } from "../../src/domain/admin/mod.ts";
import type { UsageEvent } from "../../src/domain/usage/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";

type Json = Record<string, any>;

function client(svc: TestService, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> => {
    const res = await svc.request(method, path, { body, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {}, text };
  };
}

async function newToken(svc: TestService, scope: "read" | "write", name = `${scope} token`) {
  const s = svc.services;
  const { token, info } = await createApiToken({ tokens: s.tokens, random: s.random, clock: s.clock, audit: s.audit }, { name, scope, actor: CLI_ACTOR, createdBy: null });
  return { token, id: info.id };
}

function usage(licenseId: number, at: string, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    licenseId,
    customerId: null,
    provider: "openai",
    model: "gpt-4o-mini",
    endpoint: "chat",
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    costEur: 0.001,
    priceSnapshot: null,
    estimated: false,
    byok: false,
    upstreamMs: 90,
    totalMs: 100,
    outcome: "ok",
    errorCode: null,
    clientIp: null,
    userAgent: null,
    createdAt: new Date(at),
    ...over,
  };
}

describe("admin API usage", () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  let ann: { licenseId: number; customerId: number };
  let bob: { licenseId: number; customerId: number };
  beforeAll(async () => {
    svc = await startTestService(); // Sunday 2026-03-15 12:00 UTC
    api = client(svc, (await newToken(svc, "read")).token);
    ann = await svc.issue({ email: "ann@example.com", plan: "agency" });
    const ann2 = await svc.issue({ email: "ann@example.com", plan: "pro" });
    bob = await svc.issue({ email: "bob@example.com", plan: "pro" });
    const events = [
      usage(ann.licenseId, "2026-02-01T10:00:00Z", { costEur: 9 }), // before the default range
      usage(ann.licenseId, "2026-03-02T08:00:00Z", { costEur: 0.5, totalMs: 300 }),
      usage(ann.licenseId, "2026-03-09T09:00:00Z", { provider: "anthropic", model: "claude-haiku-4-5", costEur: 0.25, totalMs: 500 }),
      usage(ann2.licenseId, "2026-03-10T09:00:00Z", { costEur: 0.125 }),
      usage(bob.licenseId, "2026-03-15T11:00:00Z", { provider: "deepseek", model: "deepseek-chat", costEur: 0.000001 }),
    ];
    for (const e of events) svc.services.usageRecorder.record(e);
    await svc.services.usageRecorder.flush();
  });
  afterAll(async () => {
    await svc.close();
  });

  test("totals the last 30 days by day, with providers and models", async () => {
    const res = await api("GET", "/api/admin/usage");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ from: "2026-02-14", to: "2026-03-15", group: "day", provider: null });
    expect(res.body.totals).toEqual({ requests: 4, errors: 0, tokens: 60, cost_eur: 0.875001, avg_latency_ms: 250 });
    expect(res.body.periods).toHaveLength(30);
    expect(res.body.periods.find((p: Json) => p.period === "2026-03-02").cost_eur).toBe(0.5);
    expect(res.body.by_provider.map((p: Json) => p.provider)).toEqual(["openai", "anthropic", "deepseek"]);
    expect(res.body.by_model[0]).toMatchObject({ provider: "openai", model: "gpt-4o-mini", requests: 2 });
  });

  test("filters by range, week and provider, and names a bad filter with 422", async () => {
    const weeks = await api("GET", "/api/admin/usage?from=2026-02-01&to=2026-03-15&group=week&provider=openai");
    expect(weeks.body.totals.requests).toBe(3);
    expect(weeks.body.totals.cost_eur).toBe(9.625);
    expect(weeks.body.periods[0].period).toBe("2026-01-26");
    for (const [query, field] of [["from=2026-13-01", "from"], ["from=2026-03-10&to=2026-03-01", "to"], ["group=month", "group"]]) {
      const res = await api("GET", `/api/admin/usage?${query}`);
      expect({ query, status: res.status, field: res.body.field }).toEqual({ query, status: 422, field });
    }
  });

  test("answers one license's and one customer's usage, and 404 for unknown ones", async () => {
    const license = await api("GET", `/api/admin/licenses/${ann.licenseId}/usage?from=2026-03-01&to=2026-03-15`);
    expect(license.status).toBe(200);
    expect(license.body.totals).toMatchObject({ requests: 2, cost_eur: 0.75 });
    const customer = await api("GET", `/api/admin/customers/${ann.customerId}/usage?from=2026-03-01&to=2026-03-15`);
    expect(customer.body.totals).toMatchObject({ requests: 3, cost_eur: 0.875 });
    const anthropic = await api("GET", `/api/admin/customers/${ann.customerId}/usage?from=2026-03-01&to=2026-03-15&provider=anthropic`);
    expect(anthropic.body.totals.requests).toBe(1);
    expect((await api("GET", `/api/admin/customers/${bob.customerId}/usage`)).body.totals.cost_eur).toBe(0.000001);
    expect((await api("GET", "/api/admin/licenses/99999/usage")).status).toBe(404);
    expect((await api("GET", "/api/admin/customers/99999/usage")).status).toBe(404);
  });
});

describe("admin API prices, provider keys, audit and tokens", () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  let read: ReturnType<typeof client>;
  beforeAll(async () => {
    svc = await startTestService();
    api = client(svc, (await newToken(svc, "write", "ops bot")).token);
    read = client(svc, (await newToken(svc, "read")).token);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("lists prices with filters and adds a new price effective from a date", async () => {
    const all = await api("GET", "/api/admin/prices?per_page=100");
    expect(all.status).toBe(200);
    expect(all.body.total).toBeGreaterThan(0);
    const model = all.body.items.find((p: Json) => p.provider === "openai").model;
    const before = await api("GET", `/api/admin/prices?provider=openai&model=${model}`);
    expect(before.body.items).toHaveLength(1);
    expect(before.body.items[0].current).toBe(true);

    const future = await api("POST", "/api/admin/prices", { provider: "openai", model, input_eur_per_mtok: 0.2, output_eur_per_mtok: 0.8, effective_from: "2026-04-01" });
    expect(future.status).toBe(201);
    expect(future.body).toEqual({ provider: "openai", model, input_eur_per_mtok: 0.2, output_eur_per_mtok: 0.8, cached_input_eur_per_mtok: 0.2, effective_from: "2026-04-01T00:00:00.000Z", current: false });
    const now = await api("POST", "/api/admin/prices", { provider: "openai", model, input_eur_per_mtok: 0.15, output_eur_per_mtok: 0.6, cached_input_eur_per_mtok: 0.075 });
    expect(now.body.current).toBe(true);
    const current = await api("GET", `/api/admin/prices?provider=openai&model=${model}&current=true`);
    expect(current.body.items.map((p: Json) => p.input_eur_per_mtok)).toEqual([0.15]);
    expect((await api("GET", `/api/admin/prices?model=${model}`)).body.total).toBe(3);

    const dup = await api("POST", "/api/admin/prices", { provider: "openai", model, input_eur_per_mtok: 1, output_eur_per_mtok: 1, effective_from: "2026-04-01T00:00:00Z" });
    expect(dup.status).toBe(409);
    const cases: Array<[Json, string]> = [
      [{ provider: "mistral", model: "m", input_eur_per_mtok: 1, output_eur_per_mtok: 1 }, "provider"],
      [{ provider: "openai", model: "m", input_eur_per_mtok: -1, output_eur_per_mtok: 1 }, "input_eur_per_mtok"],
      [{ provider: "openai", model: "m", input_eur_per_mtok: 1, output_eur_per_mtok: 0.1234567 }, "output_eur_per_mtok"],
      [{ provider: "openai", model: "m", input_eur_per_mtok: 1, output_eur_per_mtok: 1, effective_from: "soon" }, "effective_from"],
      [{ provider: "openai", input_eur_per_mtok: 1, output_eur_per_mtok: 1 }, "model"],
    ];
    for (const [body, field] of cases) {
      const res = await api("POST", "/api/admin/prices", body);
      expect({ body, status: res.status, field: res.body.field }).toEqual({ body, status: 422, field });
    }
    const audit = await api("GET", "/api/admin/audit?action=price.added");
    expect(audit.body.total).toBe(2);
  });

  test("provider keys are write-only: set, list with last4, remove — the key never comes back", async () => {
    const secret = "sk-test-SECRET-value-9876";
    const initial = await api("GET", "/api/admin/provider-keys");
    expect(initial.body.items.map((k: Json) => k.provider)).toEqual(["openai", "anthropic", "deepseek"]);
    expect(initial.body.items.every((k: Json) => k.configured === false && k.last4 === null)).toBe(true);

    const set = await api("PUT", "/api/admin/provider-keys/openai", { api_key: secret });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ provider: "openai", configured: true, last4: "9876", replaced: false });
    expect(set.text).not.toContain("SECRET");
    const replaced = await api("PUT", "/api/admin/provider-keys/openai", { api_key: `${secret}X` });
    expect(replaced.body.replaced).toBe(true);

    const listed = await read("GET", "/api/admin/provider-keys");
    expect(listed.body.items[0]).toMatchObject({ provider: "openai", configured: true, last4: "876X" });
    expect(listed.body.items[0].updated_at).toMatch(/Z$/);
    expect(listed.text).not.toContain("SECRET");
    expect((await svc.services.providerKeys.vendorKey("openai"))?.apiKey).toBe(`${secret}X`);

    const bad = await api("PUT", "/api/admin/provider-keys/openai", { api_key: "short" });
    expect(bad.status).toBe(422);
    expect(bad.body.field).toBe("api_key");
    expect((await api("PUT", "/api/admin/provider-keys/mistral", { api_key: secret })).status).toBe(404);

    const removed = await api("DELETE", "/api/admin/provider-keys/openai");
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ provider: "openai", configured: false, last4: null, removed_last4: "876X" });
    expect((await api("DELETE", "/api/admin/provider-keys/openai")).status).toBe(404);

    const audit = await api("GET", "/api/admin/audit?target_type=provider_key&per_page=100");
    expect(audit.body.items.map((e: Json) => e.action)).toEqual(["provider_key.removed", "provider_key.set", "provider_key.set"]);
    expect(audit.text).not.toContain("SECRET");
  });

  test("the audit log filters by action, actor, target type and days, and pages", async () => {
    for (let i = 0; i < 3; i++) await api("POST", "/api/admin/customers", { email: `audit${i}@example.com` });
    const byActor = await api("GET", "/api/admin/audit?actor=ops%20bot&action=customer.created&per_page=2");
    expect(byActor.body).toMatchObject({ total: 3, page: 1, per_page: 2 });
    expect(byActor.body.items).toHaveLength(2);
    expect(byActor.body.items[0]).toMatchObject({ action: "customer.created", target_type: "customer", actor: { type: "token" }, client_ip: "203.0.113.10" });
    expect(byActor.body.items[0].created_at).toMatch(/Z$/);
    expect((await api("GET", "/api/admin/audit?actor=somebody-else&action=customer.created")).body.total).toBe(0);
    expect((await api("GET", "/api/admin/audit?action=customer.created&from=2026-03-15&to=2026-03-15")).body.total).toBe(3);
    expect((await api("GET", "/api/admin/audit?action=customer.created&from=2026-03-16")).body.total).toBe(0);
    const bad = await api("GET", "/api/admin/audit?from=yesterday");
    expect(bad.status).toBe(422);
    expect(bad.body.field).toBe("from");
    const backwards = await api("GET", "/api/admin/audit?from=2026-03-15&to=2026-03-01");
    expect(backwards.body.field).toBe("to");
  });

  test("creates a token shown once, lists tokens without secrets, sorts and filters them, and revokes", async () => {
    const created = await api("POST", "/api/admin/tokens", { name: "ci", scope: "read" });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^chtl_[0-9a-f]{40}$/);
    expect(created.body).toMatchObject({ name: "ci", scope: "read", active: true, prefix: created.body.token.slice(0, 12) });
    const secret = created.body.token;
    expect((await client(svc, secret)("GET", "/api/admin/plans")).status).toBe(200);

    const list = await api("GET", "/api/admin/tokens?sort=name&order=asc");
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain("digest");
    expect(list.body.items.map((x: Json) => x.name)).toEqual(["ci", "ops bot", "read token"]);
    expect(list.body.items.every((x: Json) => !("token" in x))).toBe(true);
    const reads = await api("GET", "/api/admin/tokens?scope=read");
    expect(reads.body.total).toBe(2);

    const bad = await api("POST", "/api/admin/tokens", { name: "x", scope: "admin" });
    expect(bad.status).toBe(422);
    expect(bad.body.field).toBe("scope");
    const blank = await api("POST", "/api/admin/tokens", { name: "   ", scope: "read" });
    expect(blank.status).toBe(422);
    expect(blank.body.field).toBe("name");

    const revoked = await api("DELETE", `/api/admin/tokens/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toMatch(/Z$/);
    expect((await client(svc, secret)("GET", "/api/admin/plans")).status).toBe(401);
    expect((await api("GET", "/api/admin/tokens?active=false")).body.items.map((x: Json) => x.id)).toEqual([created.body.id]);
    expect((await api("DELETE", "/api/admin/tokens/99999")).status).toBe(404);
    const audit = await api("GET", "/api/admin/audit?target_type=api_token&actor=ops%20bot");
    expect(audit.body.items.map((e: Json) => e.action)).toEqual(["api_token.revoked", "api_token.created"]);
    expect(audit.text).not.toContain(secret);
  });
});
