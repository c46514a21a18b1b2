// The admin JSON API: bearer tokens (401 with WWW-Authenticate, read tokens 403 on writes), customers,
// licenses with their lifecycle and sites, plans — happy paths, 404s, 422s with the field, pagination,
// filters and sorting, and full keys only where the contract allows them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CLI_ACTOR, createApiToken } from "../../src/domain/admin/mod.ts";
import { startTestService, type TestService } from "../support/app.ts";

type Json = Record<string, any>;

/** A client for the admin API with one bearer token. */
function client(svc: TestService, token: string | null) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; headers: Headers; text: string }> => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const res = await svc.request(method, path, { body, headers });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers, text };
  };
}

async function newToken(svc: TestService, scope: "read" | "write", name = `${scope} token`): Promise<{ token: string; id: number }> {
  const s = svc.services;
  const { token, info } = await createApiToken({ tokens: s.tokens, random: s.random, clock: s.clock, audit: s.audit }, { name, scope, actor: CLI_ACTOR, createdBy: null });
  return { token, id: info.id };
}

describe("admin API authentication", () => {
  let svc: TestService;
  let write: ReturnType<typeof client>;
  let read: ReturnType<typeof client>;
  beforeAll(async () => {
    svc = await startTestService();
    write = client(svc, (await newToken(svc, "write")).token);
    read = client(svc, (await newToken(svc, "read")).token);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("a request without a token gets 401 with WWW-Authenticate", async () => {
    const res = await client(svc, null)("GET", "/api/admin/customers");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("token_missing");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });

  test("an unknown token gets 401", async () => {
    const res = await client(svc, `chtl_${"0".repeat(40)}`)("GET", "/api/admin/plans");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("token_invalid");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });

  test("a revoked token gets 401 once revoked through the API", async () => {
    const victim = await newToken(svc, "write", "to revoke");
    const before = await client(svc, victim.token)("GET", "/api/admin/plans");
    expect(before.status).toBe(200);
    const revoked = await write("DELETE", `/api/admin/tokens/${victim.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.active).toBe(false);
    const after = await client(svc, victim.token)("GET", "/api/admin/plans");
    expect(after.status).toBe(401);
    expect(after.body.code).toBe("token_revoked");
    expect(after.headers.get("www-authenticate")).toContain("Bearer");
    expect((await write("DELETE", `/api/admin/tokens/${victim.id}`)).status).toBe(404);
  });

  test("a read token can GET every resource but gets 403 on every write", async () => {
    const { licenseId } = await svc.issue({ email: "reader@example.com" });
    for (const path of ["/api/admin/customers", "/api/admin/licenses", `/api/admin/licenses/${licenseId}`, "/api/admin/plans", "/api/admin/prices", "/api/admin/usage", "/api/admin/provider-keys", "/api/admin/audit", "/api/admin/tokens"]) {
      const res = await read("GET", path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
    const writes: Array<[string, string, unknown?]> = [
      ["POST", "/api/admin/customers", { email: "no@example.com" }],
      ["PATCH", "/api/admin/customers/1", { name: "x" }],
      ["DELETE", "/api/admin/customers/1"],
      ["POST", "/api/admin/licenses", { email: "no@example.com", plan: "pro" }],
      ["POST", `/api/admin/licenses/${licenseId}/suspend`],
      ["DELETE", `/api/admin/licenses/${licenseId}`],
      ["PATCH", "/api/admin/plans/1", { price_eur: 1 }],
      ["POST", "/api/admin/prices", { provider: "openai", model: "m", input_eur_per_mtok: 1, output_eur_per_mtok: 1 }],
      ["PUT", "/api/admin/provider-keys/openai", { api_key: "sk-abcdefgh1234" }],
      ["DELETE", "/api/admin/provider-keys/openai"],
      ["POST", "/api/admin/tokens", { name: "sneaky", scope: "write" }],
      ["DELETE", "/api/admin/tokens/1"],
    ];
    for (const [method, path, body] of writes) {
      const res = await read(method, path, body);
      expect({ method, path, status: res.status, code: res.body.code }).toEqual({ method, path, status: 403, code: "token_read_only" });
    }
    expect((await write("GET", `/api/admin/licenses/${licenseId}`)).body.status).toBe("active");
  });

  test("the OpenAPI document lists the admin routes with their responses and the bearer scheme", async () => {
    const doc = (await (await svc.request("GET", "/swagger/json")).json()) as Json;
    const route = doc.paths["/api/admin/licenses/{id}"]?.get;
    expect(route).toBeDefined();
    expect(route.tags).toEqual(["Admin"]);
    expect(route.security).toEqual([{ adminToken: [] }]);
    expect(Object.keys(route.responses).sort()).toEqual(["200", "401", "404", "422", "500", "503"]);
    expect(Object.keys(doc.paths["/api/admin/licenses"].post.responses).sort()).toEqual(["201", "400", "401", "403", "409", "422", "500", "503"]);
  });
});

describe("admin API customers", () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    svc = await startTestService();
    api = client(svc, (await newToken(svc, "write")).token);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("creates, shows, edits and deletes a customer, auditing each change with the token", async () => {
    const created = await api("POST", "/api/admin/customers", { email: "Ada@Example.com", name: "Ada", company: "Engines" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: "ada@example.com", name: "Ada", company: "Engines", notes: null, licenses: 0 });
    expect(created.body.created_at).toMatch(/Z$/);
    const id = created.body.id;

    const edited = await api("PATCH", `/api/admin/customers/${id}`, { notes: "VIP" });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ email: "ada@example.com", name: "Ada", company: "Engines", notes: "VIP" });

    await svc.issue({ email: "ada@example.com", domain: "ada.example.com" });
    const shown = await api("GET", `/api/admin/customers/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.body.licenses).toBe(1);
    expect(shown.body.license_list[0]).toMatchObject({ customer_id: id, plan: "pro", status: "active", active_sites: 1 });
    expect(shown.text).not.toMatch(/CHA-\w{8}-\w{8}/);

    const deleted = await api("DELETE", `/api/admin/customers/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id, email: "ada@example.com", deleted: true, licenses: 1, active_sites: 1, usage_events: 0 });
    expect((await api("GET", `/api/admin/customers/${id}`)).status).toBe(404);

    const audit = await api("GET", `/api/admin/audit?target_type=customer&per_page=100`);
    const actions = audit.body.items.filter((e: Json) => e.target_id === String(id)).map((e: Json) => e.action);
    expect(actions.sort()).toEqual(["customer.created", "customer.deleted", "customer.updated"]);
    expect(audit.body.items[0].actor.type).toBe("token");
    expect(audit.body.items[0].actor.label).toContain("write token");
  });

  test("a taken e-mail is 409, a bad one 422 with the field, an unknown id 404", async () => {
    await api("POST", "/api/admin/customers", { email: "taken@example.com" });
    const taken = await api("POST", "/api/admin/customers", { email: "TAKEN@example.com" });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ code: "conflict", field: "email" });
    const bad = await api("POST", "/api/admin/customers", { email: "not-an-email" });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ code: "invalid_request", field: "email" });
    const missing = await api("POST", "/api/admin/customers", { name: "no email" });
    expect(missing.status).toBe(422);
    expect(missing.body.field).toBe("email");
    const wrongType = await api("PATCH", "/api/admin/customers/1", { name: 5 });
    expect(wrongType.status).toBe(422);
    expect(wrongType.body.field).toBe("name");
    for (const [method, path] of [["GET", "/api/admin/customers/999999"], ["PATCH", "/api/admin/customers/999999"], ["DELETE", "/api/admin/customers/999999"], ["GET", "/api/admin/customers/999999/usage"]]) {
      const res = await api(method, path, method === "PATCH" ? { name: "x" } : undefined);
      expect({ path, method, status: res.status, code: res.body.code }).toEqual({ path, method, status: 404, code: "not_found" });
    }
    const badId = await api("GET", "/api/admin/customers/abc");
    expect(badId.status).toBe(422);
    expect(badId.body.field).toBe("id");
    const badJson = await svc.request("POST", "/api/admin/customers", { rawBody: "{", headers: { "content-type": "application/json", authorization: (await newAuth(svc)) } });
    expect(badJson.status).toBe(400);
  });

  test("lists customers with search, pagination and both orders", async () => {
    for (let i = 1; i <= 7; i++) await api("POST", "/api/admin/customers", { email: `page${i}@list.example`, name: `Pager ${i}` });
    const first = await api("GET", "/api/admin/customers?q=list.example&per_page=3");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ total: 7, page: 1, per_page: 3 });
    expect(first.body.items.map((c: Json) => c.email)).toEqual(["page7@list.example", "page6@list.example", "page5@list.example"]);
    const last = await api("GET", "/api/admin/customers?q=list.example&per_page=3&page=3");
    expect(last.body.items.map((c: Json) => c.email)).toEqual(["page1@list.example"]);
    const asc = await api("GET", "/api/admin/customers?q=list.example&per_page=3&page=1&order=asc&sort=created_at");
    expect(asc.body.items.map((c: Json) => c.email)).toEqual(["page1@list.example", "page2@list.example", "page3@list.example"]);
    const ascLast = await api("GET", "/api/admin/customers?q=list.example&per_page=3&page=3&order=asc");
    expect(ascLast.body.items.map((c: Json) => c.email)).toEqual(["page7@list.example"]);
    const beyond = await api("GET", "/api/admin/customers?q=list.example&per_page=3&page=9&order=asc");
    expect(beyond.body.items).toEqual([]);
    const tooMany = await api("GET", "/api/admin/customers?per_page=101");
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.field).toBe("per_page");
    const zero = await api("GET", "/api/admin/customers?page=0");
    expect(zero.status).toBe(422);
    expect(zero.body.field).toBe("page");
    const badOrder = await api("GET", "/api/admin/customers?order=sideways");
    expect(badOrder.status).toBe(422);
    expect(badOrder.body.field).toBe("order");
  });
});

let authCounter = 0;
async function newAuth(svc: TestService): Promise<string> {
  return `Bearer ${(await newToken(svc, "write", `extra ${++authCounter}`)).token}`;
}

describe("admin API licenses", () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    svc = await startTestService();
    api = client(svc, (await newToken(svc, "write")).token);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("issues a license: 201 with the full key, which only the key route shows again", async () => {
    const res = await api("POST", "/api/admin/licenses", { email: "New@Example.com", plan: "pro", months: 3, domain: "https://shop.example.com/" });
    expect(res.status).toBe(201);
    expect(res.body.license_key).toMatch(/^CHA-/);
    expect(res.body.customer_created).toBe(true);
    expect(res.body.expires_at).toBe("2026-06-15T12:00:00.000Z");
    expect(res.body.license).toMatchObject({ plan: "pro", status: "active", customer_email: "new@example.com", active_sites: 1, lifetime: false });
    const id = res.body.license.id;

    const shown = await api("GET", `/api/admin/licenses/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.text).not.toContain(res.body.license_key);
    expect(shown.body.sites.map((s: Json) => s.host)).toEqual(["shop.example.com"]);
    expect(shown.body.month_usage).toEqual({ month: "2026-03", requests: 0, tokens: 0, cost_eur: 0 });

    const key = await api("GET", `/api/admin/licenses/${id}/key`);
    expect(key.body).toEqual({ id, license_key: res.body.license_key });
    const list = await api("GET", "/api/admin/licenses?per_page=100");
    expect(list.text).not.toContain(res.body.license_key);

    const lifetime = await api("POST", "/api/admin/licenses", { email: "new@example.com", plan: "pro", lifetime: true });
    expect(lifetime.status).toBe(201);
    expect(lifetime.body.customer_created).toBe(false);
    expect(lifetime.body.expires_at).toBeNull();
    expect(lifetime.body.license.lifetime).toBe(true);
  });

  test("issuing refuses an unknown plan, a bad term, a bad domain and a bad e-mail with 422 and the field", async () => {
    const cases: Array<[Json, string]> = [
      [{ email: "a@example.com", plan: "platinum" }, "plan"],
      [{ email: "a@example.com", plan: "pro", months: 0 }, "months"],
      [{ email: "a@example.com", plan: "pro", months: 3, lifetime: true }, "months"],
      [{ email: "a@example.com", plan: "pro", domain: "not a domain" }, "domain"],
      [{ email: "nope", plan: "pro" }, "email"],
      [{ plan: "pro" }, "email"],
    ];
    for (const [body, field] of cases) {
      const res = await api("POST", "/api/admin/licenses", body);
      expect({ body, status: res.status, field: res.body.field }).toEqual({ body, status: 422, field });
    }
  });

  test("suspends, reactivates, extends, changes plan and cancels, with 409 for an impossible transition", async () => {
    const { licenseId } = await svc.issue({ email: "life@example.com", plan: "pro", term: { months: 1 } });
    const suspended = await api("POST", `/api/admin/licenses/${licenseId}/suspend`);
    expect(suspended.status).toBe(200);
    expect(suspended.body.status).toBe("suspended");
    expect((await api("POST", `/api/admin/licenses/${licenseId}/suspend`)).body.status).toBe("suspended"); // idempotent
    expect((await api("POST", `/api/admin/licenses/${licenseId}/reactivate`)).body.status).toBe("active");

    const extended = await api("POST", `/api/admin/licenses/${licenseId}/extend`, { months: 3 });
    expect(extended.status).toBe(200);
    expect(extended.body).toMatchObject({ changed: true, expires_at: "2026-07-15T12:00:00.000Z" });
    const badMonths = await api("POST", `/api/admin/licenses/${licenseId}/extend`, { months: 5 });
    expect(badMonths.status).toBe(422);
    expect(badMonths.body.field).toBe("months");

    const moved = await api("POST", `/api/admin/licenses/${licenseId}/plan`, { plan: "agency" });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ plan: "agency", changed: true });
    const badPlan = await api("POST", `/api/admin/licenses/${licenseId}/plan`, { plan: "nope" });
    expect(badPlan.status).toBe(422);
    expect(badPlan.body.field).toBe("plan");

    expect((await api("POST", `/api/admin/licenses/${licenseId}/cancel`)).body.status).toBe("cancelled");
    const impossible = await api("POST", `/api/admin/licenses/${licenseId}/reactivate`);
    expect(impossible.status).toBe(409);
    expect(impossible.body.code).toBe("conflict");
    expect((await api("POST", `/api/admin/licenses/${licenseId}/suspend`)).status).toBe(409);

    const audit = await api("GET", `/api/admin/audit?target_type=license&per_page=100`);
    const actions = audit.body.items.filter((e: Json) => e.target_id === String(licenseId) && e.actor.type === "token").map((e: Json) => e.action);
    expect([...new Set(actions)].sort()).toEqual(["license.cancelled", "license.extended", "license.plan_changed", "license.reactivated", "license.suspended"]);
  });

  test("lists sites and releases one; deleting answers what went", async () => {
    const { licenseId } = await svc.issue({ email: "sites@example.com", plan: "agency", domain: "one.example.com" });
    const sites = await api("GET", `/api/admin/licenses/${licenseId}/sites`);
    expect(sites.status).toBe(200);
    expect(sites.body.items.map((s: Json) => s.host)).toEqual(["one.example.com"]);
    expect(sites.body.active).toBe(1);
    const released = await api("DELETE", `/api/admin/licenses/${licenseId}/sites/one.example.com`);
    expect(released.status).toBe(200);
    expect(released.body.released).toBe(true);
    expect((await api("DELETE", `/api/admin/licenses/${licenseId}/sites/one.example.com`)).status).toBe(404);
    expect((await api("GET", `/api/admin/licenses/${licenseId}/sites`)).body.items).toEqual([]);

    const deleted = await api("DELETE", `/api/admin/licenses/${licenseId}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: licenseId, deleted: true, active_sites: [] });
    for (const path of [`/api/admin/licenses/${licenseId}`, `/api/admin/licenses/${licenseId}/key`, `/api/admin/licenses/${licenseId}/sites`, `/api/admin/licenses/${licenseId}/usage`]) {
      expect((await api("GET", path)).status).toBe(404);
    }
    for (const path of [`/api/admin/licenses/${licenseId}/suspend`, `/api/admin/licenses/${licenseId}/cancel`]) {
      expect((await api("POST", path)).status).toBe(404);
    }
    expect((await api("POST", `/api/admin/licenses/${licenseId}/extend`, { months: 1 })).status).toBe(404);
    expect((await api("DELETE", `/api/admin/licenses/${licenseId}`)).status).toBe(404);
  });

  test("lists licenses filtered by effective status, plan and search, in both orders", async () => {
    const a = await svc.issue({ email: "filter-a@flt.example", plan: "starter", term: { months: 1 } });
    const b = await svc.issue({ email: "filter-b@flt.example", plan: "pro", term: { months: 12 } });
    const c = await svc.issue({ email: "filter-c@flt.example", plan: "pro", term: { months: 12 } });
    await svc.setStatus(c.key, "suspend");
    svc.clock.advance(40 * 24 * 3600 * 1000); // a's month is over; its stored status still says active
    try {
      const expired = await api("GET", "/api/admin/licenses?status=expired&q=flt.example");
      expect(expired.body.items.map((l: Json) => l.id)).toEqual([a.licenseId]);
      expect(expired.body.items[0]).toMatchObject({ status: "expired", stored_status: "active" });
      const active = await api("GET", "/api/admin/licenses?status=active&q=flt.example");
      expect(active.body.items.map((l: Json) => l.id)).toEqual([b.licenseId]);
      const pro = await api("GET", "/api/admin/licenses?plan=pro&q=flt.example&order=asc");
      expect(pro.body.items.map((l: Json) => l.id)).toEqual([b.licenseId, c.licenseId]);
      const paged = await api("GET", "/api/admin/licenses?q=flt.example&per_page=2&page=2");
      expect(paged.body).toMatchObject({ total: 3, page: 2, per_page: 2 });
      expect(paged.body.items.map((l: Json) => l.id)).toEqual([a.licenseId]);
      const badStatus = await api("GET", "/api/admin/licenses?status=zombie");
      expect(badStatus.status).toBe(422);
      expect(badStatus.body.field).toBe("status");
      const badPlan = await api("GET", "/api/admin/licenses?plan=zombie");
      expect(badPlan.status).toBe(422);
      expect(badPlan.body.field).toBe("plan");
    } finally {
      svc.clock.advance(-40 * 24 * 3600 * 1000);
    }
  });
});

describe("admin API plans", () => {
  let svc: TestService;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    svc = await startTestService();
    api = client(svc, (await newToken(svc, "write")).token);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("lists the seeded plans and shows one", async () => {
    const list = await api("GET", "/api/admin/plans");
    expect(list.status).toBe(200);
    expect(list.body.items.map((p: Json) => p.name)).toEqual(expect.arrayContaining(["starter", "pro", "agency"]));
    const pro = list.body.items.find((p: Json) => p.name === "pro");
    const shown = await api("GET", `/api/admin/plans/${pro.id}`);
    expect(shown.body).toEqual(pro);
    expect(shown.body.limits.monthly_requests).toBeNumber();
    expect((await api("GET", "/api/admin/plans/9999")).status).toBe(404);
  });

  test("edits a plan partially, audits the change, and refuses an invalid plan with 422 naming the field", async () => {
    const pro = (await api("GET", "/api/admin/plans")).body.items.find((p: Json) => p.name === "pro");
    const res = await api("PATCH", `/api/admin/plans/${pro.id}`, { price_eur: 12.5, limits: { monthly_requests: 2000 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ price_eur: 12.5, limits: { ...pro.limits, monthly_requests: 2000 }, display_name: pro.display_name });
    expect(res.body.changed.sort()).toEqual(["limits.monthlyRequests", "priceEur"]);

    const bad = await api("PATCH", `/api/admin/plans/${pro.id}`, { limits: { max_sites: -5 } });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ code: "invalid_request", field: "limits.max_sites" });
    const negative = await api("PATCH", `/api/admin/plans/${pro.id}`, { price_eur: -1 });
    expect(negative.status).toBe(422);
    expect(negative.body.field).toBe("price_eur");
    const wrongType = await api("PATCH", `/api/admin/plans/${pro.id}`, { limits: { monthly_requests: "lots" } });
    expect(wrongType.status).toBe(422);
    expect(wrongType.body.field).toBe("limits.monthly_requests");
    // The name stays the plan's identity: an attempt to rename is ignored, never applied.
    await api("PATCH", `/api/admin/plans/${pro.id}`, { name: "renamed" });
    expect((await api("GET", `/api/admin/plans/${pro.id}`)).body.name).toBe("pro");
    expect((await api("GET", `/api/admin/plans/${pro.id}`)).body.price_eur).toBe(12.5);
    expect((await api("PATCH", "/api/admin/plans/9999", { price_eur: 1 })).status).toBe(404);

    const audit = await api("GET", "/api/admin/audit?action=plan.updated");
    expect(audit.body.total).toBe(1);
    expect(audit.body.items[0].details.plan).toBe("pro");
  });
});
