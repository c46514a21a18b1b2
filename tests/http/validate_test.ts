// POST /api/validate: authentication answers, the 200 body's exact shape, site checks that never take a
// seat, and the promise that validation does not write a row per call.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { QuotaCounterRow } from "../../src/adapters/db/schema.ts";
import { startTestService, type TestService } from "../support/app.ts";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const UNKNOWN_KEY = "CHA-00000000-00000000-00000000-00000000";
const HOUR_MS = 60 * 60 * 1000;

/** The keys of a 200 validation without site_url: the contract's fields plus the added recheck hint. */
const VALID_KEYS = [
  "ai_included",
  "domain",
  "expires_at",
  "features",
  "is_lifetime",
  "limits",
  "plan",
  "plan_display_name",
  "recheck_after_seconds",
  "sites",
  "status",
  "usage",
  "valid",
].sort();

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

function expectInvalidBody(body: Record<string, unknown>): void {
  expect(body.error).toBe("Invalid or inactive license");
  expect(body.code).toBe("license_invalid");
  // The contract's body may carry a status; an unknown key has none.
  expect(body.status ?? null).toBeNull();
  expect(Object.keys(body).every((k) => ["error", "code", "status"].includes(k))).toBe(true);
}

describe("POST /api/validate", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  async function validate(key: string | undefined, body?: unknown): Promise<Response> {
    return svc.request("POST", "/api/validate", { key, body });
  }

  async function activate(key: string, site: string): Promise<void> {
    const res = await svc.request("POST", "/api/activate", { key, body: { site_url: site } });
    expect(res.status).toBe(200);
  }

  test("without an X-License-Key header it answers 401 license_missing", async () => {
    const res = await validate(undefined);
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test("a blank X-License-Key header counts as no header and answers 401 license_missing", async () => {
    const res = await validate("   ");
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test.each([
    ["CHA-TEST-1234"],
    ["CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D"],
    ["CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4-00"],
    ["XYZ-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4"],
    ["CHA-GGGGGGGG-77D2E4A1-0B9C8D7E-A1B2C3D4"],
    ["CHA 1F3A9C0B 77D2E4A1 0B9C8D7E A1B2C3D4"],
  ])("a malformed key %p answers 401 license_invalid", async (key) => {
    const res = await validate(key);
    expect(res.status).toBe(401);
    expectInvalidBody(await jsonOf(res));
  });

  test("a well-formed key that belongs to no license answers 401 license_invalid", async () => {
    const res = await validate(UNKNOWN_KEY);
    expect(res.status).toBe(401);
    expectInvalidBody(await jsonOf(res));
  });

  test("a lowercase key with surrounding spaces is normalised and accepted", async () => {
    const { key } = await svc.issue({});
    const res = await validate(`  ${key.toLowerCase()}  `);
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).valid).toBe(true);
  });

  test("a suspended license answers 401 license_inactive with status suspended", async () => {
    const { key } = await svc.issue({});
    await svc.setStatus(key, "suspend");
    const res = await validate(key);
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "suspended" });
  });

  test("a cancelled license answers 401 license_inactive with status cancelled", async () => {
    const { key } = await svc.issue({});
    await svc.setStatus(key, "cancel");
    const res = await validate(key);
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "cancelled" });
  });

  test("a suspended license that is reactivated validates again", async () => {
    const { key } = await svc.issue({});
    await svc.setStatus(key, "suspend");
    await svc.setStatus(key, "reactivate");
    expect((await validate(key)).status).toBe(200);
  });

  test("a valid Pro license answers 200 with exactly the contract's fields, values and types", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const res = await validate(key);
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(Object.keys(body).sort()).toEqual(VALID_KEYS);
    expect(body.valid).toBe(true);
    expect(body.status).toBe("active");
    expect(body.plan).toBe("pro");
    expect(body.plan_display_name).toBe("Pro - AI Included");
    expect(body.domain).toBeNull();
    expect(body.expires_at).toMatch(ISO_UTC);
    expect(Date.parse(body.expires_at)).toBeGreaterThan(svc.clock.now().getTime());
    expect(body.is_lifetime).toBe(false);
    expect(body.ai_included).toBe(true);
    expect(Array.isArray(body.features)).toBe(true);
    expect(body.features.every((f: unknown) => typeof f === "string")).toBe(true);
    expect(body.features).toContain("ai_included");
    expect(body.usage).toEqual({ requests_used: 0, requests_limit: 1000, tokens_used: 0, cost_eur: 0 });
    expect(body.limits).toEqual({
      monthly_requests: 1000,
      requests_per_minute: 10,
      requests_per_hour: 200,
      monthly_budget_eur: 4,
      max_sites: 3,
    });
    expect(body.sites).toEqual({ active: 0, limit: 3 });
    expect(Number.isInteger(body.recheck_after_seconds)).toBe(true);
    expect(body.recheck_after_seconds).toBeGreaterThan(0);
  });

  test("validation reports this month's AI usage with integer counters and money as a number", async () => {
    const { key, licenseId } = await svc.issue({});
    const now = svc.clock.now();
    const em = svc.services.db.orm.em.fork();
    const counter = (periodStart: Date, requests: number, tokens: number, costEur: number) =>
      em.create(QuotaCounterRow, {
        license: licenseId,
        period: "month",
        periodStart,
        requests,
        tokens,
        costEur,
        updatedAt: now,
      } as never);
    counter(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), 12, 3456, 0.0123);
    // Last month's usage is not this month's.
    counter(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)), 99, 99999, 1.5);
    await em.flush();
    const body = await jsonOf(await validate(key));
    expect(body.usage).toEqual({ requests_used: 12, requests_limit: 1000, tokens_used: 3456, cost_eur: 0.0123 });
    expect(Number.isInteger(body.usage.requests_used)).toBe(true);
    expect(Number.isInteger(body.usage.tokens_used)).toBe(true);
    expect(typeof body.usage.cost_eur).toBe("number");
  });

  test.each([
    ["no body at all", undefined],
    ["an empty object", {}],
    ["a null site_url", { site_url: null }],
  ])("a validation with %s answers 200 without any site fields", async (_label, payload) => {
    const { key } = await svc.issue({});
    const res = await validate(key, payload);
    expect(res.status).toBe(200);
    expect(Object.keys(await jsonOf(res)).sort()).toEqual(VALID_KEYS);
  });

  test("a Founders license validates as lifetime with expires_at null", async () => {
    const { key } = await svc.issue({ plan: "founders" });
    const body = await jsonOf(await validate(key));
    expect(body.plan).toBe("founders");
    expect(body.plan_display_name).toBe("Founders Deal - Lifetime");
    expect(body.is_lifetime).toBe(true);
    expect(body.expires_at).toBeNull();
    expect(body.limits).toEqual({
      monthly_requests: 2000,
      requests_per_minute: 15,
      requests_per_hour: 300,
      monthly_budget_eur: 6,
      max_sites: 5,
    });
    expect(body.sites).toEqual({ active: 0, limit: 5 });
  });

  test("an Agency license reports unlimited sites as -1", async () => {
    const { key } = await svc.issue({ plan: "agency" });
    const body = await jsonOf(await validate(key));
    expect(body.plan).toBe("agency");
    expect(body.limits.max_sites).toBe(-1);
    expect(body.sites).toEqual({ active: 0, limit: -1 });
  });

  test("a Starter license validates with ai_included false", async () => {
    const { key } = await svc.issue({ plan: "starter" });
    const body = await jsonOf(await validate(key));
    expect(body.plan).toBe("starter");
    expect(body.ai_included).toBe(false);
    expect(body.sites).toEqual({ active: 0, limit: 1 });
  });

  test("a site_url with a free seat answers 200 with site_active false and takes no seat", async () => {
    const { key, licenseId } = await svc.issue({});
    const res = await validate(key, { site_url: "https://shop-free.com" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.valid).toBe(true);
    expect(body.site_active).toBe(false);
    expect(body.sites).toEqual({ active: 0, limit: 3 });
    expect(body.domain).toBeNull();
    // Only site_active (and the host it was judged for) are added when a site is named.
    expect(Object.keys(body).filter((k) => !VALID_KEYS.includes(k)).every((k) => ["site_active", "site"].includes(k))).toBe(true);
    expect(await svc.services.sites.activeFor(licenseId)).toEqual([]);
    const again = await jsonOf(await validate(key, { site_url: "https://shop-free.com" }));
    expect(again.site_active).toBe(false);
    expect(again.sites).toEqual({ active: 0, limit: 3 });
  });

  test("an activated site answers 200 with site_active true, whatever its scheme or www.", async () => {
    const { key } = await svc.issue({});
    await activate(key, "shop-active.com");
    const body = await jsonOf(await validate(key, { site_url: "https://www.Shop-Active.com/wp-admin/" }));
    expect(body.site_active).toBe(true);
    expect(body.sites).toEqual({ active: 1, limit: 3 });
    expect(body.domain).toBe("shop-active.com");
  });

  test("a license issued for a domain validates with that domain and one seat taken", async () => {
    const { key } = await svc.issue({ domain: "https://issued.example.com" });
    const body = await jsonOf(await validate(key, { site_url: "issued.example.com" }));
    expect(body.domain).toBe("issued.example.com");
    expect(body.site_active).toBe(true);
    expect(body.sites).toEqual({ active: 1, limit: 3 });
  });

  test.each([["https://staging.shop.com"], ["http://localhost:8080"], ["http://mysite.local"], ["https://dev.shop.com"], ["http://192.168.1.20"]])(
    "the staging or local site %s answers site_active true without a seat, even when every seat is taken",
    async (site) => {
      const { key, licenseId } = await svc.issue({});
      for (const host of ["a.com", "b.com", "c.com"]) await activate(key, host);
      const res = await validate(key, { site_url: site });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.site_active).toBe(true);
      expect(body.sites).toEqual({ active: 3, limit: 3 });
      expect((await svc.services.sites.activeFor(licenseId)).map((s) => s.host).sort()).toEqual(["a.com", "b.com", "c.com"]);
    },
  );

  test("a staging site on a license with free seats answers site_active true and takes no seat", async () => {
    const { key, licenseId } = await svc.issue({});
    const body = await jsonOf(await validate(key, { site_url: "https://staging.shop.com" }));
    expect(body.site_active).toBe(true);
    expect(body.sites).toEqual({ active: 0, limit: 3 });
    expect(await svc.services.sites.activeFor(licenseId)).toEqual([]);
  });

  test("a site_url that is not activated when no seat is free answers 403 site_not_activated", async () => {
    const { key } = await svc.issue({});
    for (const host of ["a.com", "b.com", "c.com"]) await activate(key, host);
    const res = await validate(key, { site_url: "https://fourth.com" });
    expect(res.status).toBe(403);
    const body = await jsonOf(res);
    expect(body.error).toBe("Site not activated for this license");
    expect(body.code).toBe("site_not_activated");
    expect(Object.keys(body).every((k) => ["error", "code", "site"].includes(k))).toBe(true);
    // The activated sites themselves still validate.
    expect((await jsonOf(await validate(key, { site_url: "https://www.b.com" }))).site_active).toBe(true);
  });

  test.each([["not a url"], ["javascript:alert(1)"], ["http://"], ["https://exa mple.com"]])(
    "a site_url %p that names no site answers 422 invalid_request naming site_url",
    async (site) => {
      const { key } = await svc.issue({});
      const res = await validate(key, { site_url: site });
      expect(res.status).toBe(422);
      const body = await jsonOf(res);
      expect(typeof body.error).toBe("string");
      expect(body.code).toBe("invalid_request");
      expect(body.field).toBe("site_url");
    },
  );

  test.each([
    ["a number", 123],
    ["a boolean", true],
    ["an array", ["https://shop.com"]],
    ["an object", { host: "shop.com" }],
  ])(
    "a site_url that is %s answers 422 invalid_request naming site_url",
    async (_label, site) => {
      const { key } = await svc.issue({});
      const res = await validate(key, { site_url: site });
      expect(res.status).toBe(422);
      const body = await jsonOf(res);
      expect(typeof body.error).toBe("string");
      expect(body.code).toBe("invalid_request");
      expect(body.field).toBe("site_url");
    },
  );

  test("malformed JSON with a valid key answers 400 invalid_json", async () => {
    const { key } = await svc.issue({});
    const res = await svc.request("POST", "/api/validate", { key, rawBody: '{"site_url": ', headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(await jsonOf(res)).toEqual({ error: "JSON data required", code: "invalid_json" });
  });

  test("validation never records a site activation in the audit log", async () => {
    const { key, licenseId } = await svc.issue({});
    await validate(key, { site_url: "https://audit-free.com" });
    const entries = await svc.services.audit.recent(200);
    expect(entries.some((e) => e.action === "site.activated" && String(e.targetId) === String(licenseId))).toBe(false);
  });
});

describe("POST /api/validate over time", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  async function lastValidatedAt(licenseId: number): Promise<number | null> {
    return (await svc.services.licenses.byId(licenseId))?.lastValidatedAt?.getTime() ?? null;
  }

  test("validation writes last_validated_at at most once an hour instead of on every call", async () => {
    const { key, licenseId } = await svc.issue({});
    expect(await lastValidatedAt(licenseId)).toBeNull();
    const first = svc.clock.now().getTime();
    for (let i = 0; i < 5; i++) {
      expect((await svc.request("POST", "/api/validate", { key })).status).toBe(200);
      svc.clock.advance(60 * 1000);
    }
    expect(await lastValidatedAt(licenseId)).toBe(first);

    svc.clock.advance(HOUR_MS);
    const later = svc.clock.now().getTime();
    expect((await svc.request("POST", "/api/validate", { key })).status).toBe(200);
    expect(await lastValidatedAt(licenseId)).toBe(later);
    svc.clock.advance(60 * 1000);
    expect((await svc.request("POST", "/api/validate", { key })).status).toBe(200);
    expect(await lastValidatedAt(licenseId)).toBe(later);
  });

  async function atTime<T>(when: Date, work: () => Promise<T>): Promise<T> {
    const saved = svc.clock.current;
    svc.clock.current = when;
    try {
      return await work();
    } finally {
      svc.clock.current = saved;
    }
  }

  test("a license past its expires_at answers 401 license_expired with expires_at", async () => {
    const { key, licenseId } = await svc.issue({ term: { months: 1 } });
    const expiresAt = (await svc.services.licenses.byId(licenseId))!.expiresAt!;
    expect(expiresAt.getTime()).toBeGreaterThan(svc.clock.now().getTime());
    expect((await svc.request("POST", "/api/validate", { key })).status).toBe(200);
    const res = await atTime(new Date(expiresAt.getTime() + 60_000), () => svc.request("POST", "/api/validate", { key }));
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License expired", code: "license_expired", expires_at: expiresAt.toISOString() });
  });

  test("a suspended license past its expiry answers as expired, whatever its stored status", async () => {
    const { key, licenseId } = await svc.issue({ term: { months: 1 } });
    await svc.setStatus(key, "suspend");
    const expiresAt = (await svc.services.licenses.byId(licenseId))!.expiresAt!;
    const res = await atTime(new Date(expiresAt.getTime() + 60_000), () => svc.request("POST", "/api/validate", { key }));
    expect(res.status).toBe(401);
    const body = await jsonOf(res);
    expect(body.code).toBe("license_expired");
    expect(body.expires_at).toBe(expiresAt.toISOString());
  });
});
