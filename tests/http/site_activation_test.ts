// POST /api/activate and /api/deactivate: seats per plan, hosts that take no seat, input errors, the audit
// trail, and the daily limit on seat changes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const UNKNOWN_KEY = "CHA-00000000-00000000-00000000-00000000";
const DAY_MS = 24 * 60 * 60 * 1000;
const SUCCESS_KEYS = ["changed", "site", "sites", "success"];

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

/** A 200 seat-change body: the contract's keys, plus `changed`. */
function expectSiteBody(body: Record<string, unknown>, site: string, sites: { active: number; limit: number }): void {
  expect(body.success).toBe(true);
  expect(body.site).toBe(site);
  expect(body.sites).toEqual(sites);
  expect(Object.keys(body).every((k) => SUCCESS_KEYS.includes(k))).toBe(true);
}

function siteRoutes(svc: () => TestService) {
  return {
    activate: (key: string | undefined, body?: unknown) => svc().request("POST", "/api/activate", { key, body }),
    deactivate: (key: string | undefined, body?: unknown) => svc().request("POST", "/api/deactivate", { key, body }),
  };
}

describe("POST /api/activate", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });
  const { activate } = siteRoutes(() => svc);

  async function hostsOf(licenseId: number): Promise<string[]> {
    return (await svc.services.sites.activeFor(licenseId)).map((s) => s.host).sort();
  }

  test("activating a site answers 200 with success, the site's host and the seat count", async () => {
    const { key, licenseId } = await svc.issue({});
    const res = await activate(key, { site_url: "https://shop.example.com/wp-admin/" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "shop.example.com", { active: 1, limit: 3 });
    expect(body.changed).toBe(true);
    expect(await hostsOf(licenseId)).toEqual(["shop.example.com"]);
  });

  test("the scheme, www. and letter case do not make a different site", async () => {
    const { key, licenseId } = await svc.issue({});
    for (const url of ["https://www.Shop.com", "shop.com", "HTTP://SHOP.COM/path?x=1", "www.shop.com:443"]) {
      const res = await activate(key, { site_url: url });
      expect(res.status).toBe(200);
      expectSiteBody(await jsonOf(res), "shop.com", { active: 1, limit: 3 });
    }
    expect(await hostsOf(licenseId)).toEqual(["shop.com"]);
  });

  test("re-activating an active site is a no-op 200 that takes no second seat", async () => {
    const { key, licenseId } = await svc.issue({});
    expect((await jsonOf(await activate(key, { site_url: "retry.com" }))).changed).toBe(true);
    const res = await activate(key, { site_url: "retry.com" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "retry.com", { active: 1, limit: 3 });
    expect(body.changed).toBe(false);
    const audit = await svc.services.audit.recent(500);
    expect(audit.filter((e) => e.action === "site.activated" && String(e.targetId) === String(licenseId))).toHaveLength(1);
  });

  test.each([
    ["http://localhost:8080", "localhost"],
    ["http://app.localhost", "app.localhost"],
    ["https://mysite.local", "mysite.local"],
    ["https://shop.test", "shop.test"],
    ["https://staging.shop.com", "staging.shop.com"],
    ["https://shop.staging.example.com", "shop.staging.example.com"],
    ["https://dev.shop.com", "dev.shop.com"],
    ["http://192.168.1.10:8080", "192.168.1.10"],
    ["http://[::1]:8080/", "[::1]"],
  ])("the local or staging site %s is recorded as %s but takes no seat", async (url, host) => {
    const { key, licenseId } = await svc.issue({});
    const res = await activate(key, { site_url: url });
    expect(res.status).toBe(200);
    expectSiteBody(await jsonOf(res), host, { active: 0, limit: 3 });
    const recorded = await svc.services.sites.activeFor(licenseId);
    expect(recorded.map((s) => [s.host, s.exempt])).toEqual([[host, true]]);
  });

  test("activating beyond the plan's sites answers 403 site_limit_reached with the limit and the active sites", async () => {
    const { key, licenseId } = await svc.issue({});
    for (const site of ["a.com", "b.com", "localhost", "c.com"]) expect((await activate(key, { site_url: site })).status).toBe(200);
    const res = await activate(key, { site_url: "https://d.com" });
    expect(res.status).toBe(403);
    const body = await jsonOf(res);
    expect(Object.keys(body).sort()).toEqual(["active_sites", "code", "error", "limit"]);
    expect(body.error).toBe("Site limit reached");
    expect(body.code).toBe("site_limit_reached");
    expect(body.limit).toBe(3);
    expect([...body.active_sites].sort()).toEqual(["a.com", "b.com", "c.com"]);
    expect(await hostsOf(licenseId)).toEqual(["a.com", "b.com", "c.com", "localhost"]);
  });

  test("a license whose seats are all taken can still activate a staging site", async () => {
    const { key } = await svc.issue({});
    for (const site of ["a.com", "b.com", "c.com"]) await activate(key, { site_url: site });
    const res = await activate(key, { site_url: "https://staging.a.com" });
    expect(res.status).toBe(200);
    expectSiteBody(await jsonOf(res), "staging.a.com", { active: 3, limit: 3 });
  });

  test("an Agency license activates any number of sites", async () => {
    const { key, licenseId } = await svc.issue({ plan: "agency" });
    let last: any;
    for (let i = 1; i <= 12; i++) {
      const res = await activate(key, { site_url: `https://client${i}.example.com` });
      expect(res.status).toBe(200);
      last = await jsonOf(res);
    }
    expectSiteBody(last, "client12.example.com", { active: 12, limit: -1 });
    expect(await hostsOf(licenseId)).toHaveLength(12);
  });

  test("a Founders license takes five sites and refuses the sixth", async () => {
    const { key } = await svc.issue({ plan: "founders" });
    for (let i = 1; i <= 5; i++) expect((await activate(key, { site_url: `f${i}.com` })).status).toBe(200);
    const res = await activate(key, { site_url: "f6.com" });
    expect(res.status).toBe(403);
    const body = await jsonOf(res);
    expect(body.code).toBe("site_limit_reached");
    expect(body.limit).toBe(5);
    expect(body.active_sites).toHaveLength(5);
  });

  test("a body without site_url answers 422 invalid_request naming site_url", async () => {
    const { key } = await svc.issue({});
    const res = await activate(key, { url: "shop.com" });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toBe("invalid_request");
    expect(body.field).toBe("site_url");
  });

  test("an empty body answers 422 invalid_request", async () => {
    const { key } = await svc.issue({});
    const res = await svc.request("POST", "/api/activate", { key, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toBe("invalid_request");
    expect(typeof body.field).toBe("string");
  });

  test.each([
    ["a number", 42],
    ["a boolean", true],
    ["null", null],
    ["an array", ["shop.com"]],
    ["an object", { host: "shop.com" }],
  ])("a site_url that is %s answers 422 invalid_request naming site_url", async (_label, site) => {
    const { key } = await svc.issue({});
    const res = await activate(key, { site_url: site });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_request");
    expect(body.field).toBe("site_url");
  });

  test.each([[""], ["not a url"], ["javascript:alert(1)"], ["http://"]])(
    "a site_url %p that names no site answers 422 invalid_request naming site_url",
    async (site) => {
      const { key, licenseId } = await svc.issue({});
      const res = await activate(key, { site_url: site });
      expect(res.status).toBe(422);
      const body = await jsonOf(res);
      expect(body.code).toBe("invalid_request");
      expect(body.field).toBe("site_url");
      expect(await hostsOf(licenseId)).toEqual([]);
    },
  );

  test("malformed JSON with a valid key answers 400 invalid_json", async () => {
    const { key } = await svc.issue({});
    const res = await svc.request("POST", "/api/activate", { key, rawBody: "{site_url: shop.com", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(await jsonOf(res)).toEqual({ error: "JSON data required", code: "invalid_json" });
  });

  test("malformed JSON without a key answers 401 license_missing, because authentication comes first", async () => {
    const res = await svc.request("POST", "/api/activate", { rawBody: "{site_url: shop.com", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test("malformed JSON with an unknown key answers 401 license_invalid", async () => {
    const res = await svc.request("POST", "/api/activate", {
      key: UNKNOWN_KEY,
      rawBody: "{site_url: shop.com",
      headers: { "content-type": "application/json" },
      ip: "198.51.100.40",
    });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).code).toBe("license_invalid");
  });

  test("activation without a key answers 401 license_missing", async () => {
    const res = await activate(undefined, { site_url: "shop.com" });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test("activation with an unknown key answers 401 license_invalid", async () => {
    const res = await svc.request("POST", "/api/activate", { key: UNKNOWN_KEY, body: { site_url: "shop.com" }, ip: "198.51.100.41" });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).code).toBe("license_invalid");
  });

  test("a suspended license cannot activate: 401 license_inactive", async () => {
    const { key, licenseId } = await svc.issue({});
    await svc.setStatus(key, "suspend");
    const res = await activate(key, { site_url: "shop.com" });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "suspended" });
    expect(await hostsOf(licenseId)).toEqual([]);
  });

  test("a cancelled license cannot activate: 401 license_inactive", async () => {
    const { key } = await svc.issue({});
    await svc.setStatus(key, "cancel");
    const res = await activate(key, { site_url: "shop.com" });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "Invalid or inactive license", code: "license_inactive", status: "cancelled" });
  });

  test("an expired license cannot activate: 401 license_expired", async () => {
    const { key, licenseId } = await svc.issue({ term: { months: 1 } });
    const expiresAt = (await svc.services.licenses.byId(licenseId))!.expiresAt!;
    const saved = svc.clock.current;
    svc.clock.current = new Date(expiresAt.getTime() + 1000);
    try {
      const res = await activate(key, { site_url: "shop.com" });
      expect(res.status).toBe(401);
      expect(await jsonOf(res)).toEqual({ error: "License expired", code: "license_expired", expires_at: expiresAt.toISOString() });
    } finally {
      svc.clock.current = saved;
    }
    expect(await hostsOf(licenseId)).toEqual([]);
  });
});

describe("POST /api/deactivate", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });
  const { activate, deactivate } = siteRoutes(() => svc);

  test("deactivating frees the seat so another site can take it", async () => {
    const { key } = await svc.issue({});
    for (const site of ["a.com", "b.com", "c.com"]) await activate(key, { site_url: site });
    expect((await activate(key, { site_url: "d.com" })).status).toBe(403);
    const res = await deactivate(key, { site_url: "https://www.B.com/" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "b.com", { active: 2, limit: 3 });
    expect(body.changed).toBe(true);
    const again = await activate(key, { site_url: "d.com" });
    expect(again.status).toBe(200);
    expectSiteBody(await jsonOf(again), "d.com", { active: 3, limit: 3 });
  });

  test("deactivating a site that is not active answers 200 with changed false", async () => {
    const { key } = await svc.issue({});
    await activate(key, { site_url: "kept.com" });
    const res = await deactivate(key, { site_url: "never-activated.com" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "never-activated.com", { active: 1, limit: 3 });
    expect(body.changed).toBe(false);
  });

  test("deactivating the same site twice frees one seat and then changes nothing", async () => {
    const { key } = await svc.issue({});
    await activate(key, { site_url: "twice.com" });
    expect((await jsonOf(await deactivate(key, { site_url: "twice.com" }))).changed).toBe(true);
    const res = await deactivate(key, { site_url: "twice.com" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "twice.com", { active: 0, limit: 3 });
    expect(body.changed).toBe(false);
  });

  test("a deactivated site can be activated again and takes a seat again", async () => {
    const { key, licenseId } = await svc.issue({});
    await activate(key, { site_url: "back.com" });
    await deactivate(key, { site_url: "back.com" });
    const res = await activate(key, { site_url: "back.com" });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expectSiteBody(body, "back.com", { active: 1, limit: 3 });
    expect(body.changed).toBe(true);
    expect((await svc.services.sites.activeFor(licenseId)).map((s) => s.host)).toEqual(["back.com"]);
  });

  test("deactivating a staging site answers 200 and leaves the seat count alone", async () => {
    const { key } = await svc.issue({});
    await activate(key, { site_url: "real.com" });
    await activate(key, { site_url: "staging.real.com" });
    const res = await deactivate(key, { site_url: "staging.real.com" });
    expect(res.status).toBe(200);
    expectSiteBody(await jsonOf(res), "staging.real.com", { active: 1, limit: 3 });
  });

  test("activations and deactivations are written to the audit log with the site", async () => {
    const { key, licenseId } = await svc.issue({});
    await activate(key, { site_url: "https://www.audited.com" });
    await deactivate(key, { site_url: "audited.com" });
    const entries = (await svc.services.audit.recent(500)).filter((e) => String(e.targetId) === String(licenseId));
    const activated = entries.find((e) => e.action === "site.activated");
    const deactivated = entries.find((e) => e.action === "site.deactivated");
    expect(activated?.details).toMatchObject({ site: "audited.com" });
    expect(deactivated?.details).toMatchObject({ site: "audited.com" });
    expect(activated?.targetType).toBe("license");
    expect(activated?.actor.type).toBe("license");
  });

  test("a deactivation that changes nothing is not written to the audit log", async () => {
    const { key, licenseId } = await svc.issue({});
    await deactivate(key, { site_url: "nothing.com" });
    const entries = (await svc.services.audit.recent(500)).filter((e) => String(e.targetId) === String(licenseId));
    expect(entries.some((e) => e.action === "site.deactivated")).toBe(false);
  });

  test("deactivation without a key answers 401 license_missing", async () => {
    const res = await deactivate(undefined, { site_url: "shop.com" });
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toEqual({ error: "License key required", code: "license_missing" });
  });

  test("a suspended license cannot deactivate: 401 license_inactive", async () => {
    const { key } = await svc.issue({});
    await activate(key, { site_url: "held.com" });
    await svc.setStatus(key, "suspend");
    const res = await deactivate(key, { site_url: "held.com" });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).code).toBe("license_inactive");
  });

  test("deactivation without site_url answers 422 invalid_request naming site_url", async () => {
    const { key } = await svc.issue({});
    const res = await deactivate(key, {});
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_request");
    expect(body.field).toBe("site_url");
  });

  test("deactivation with a site_url of the wrong type answers 422 invalid_request naming site_url", async () => {
    const { key } = await svc.issue({});
    const res = await deactivate(key, { site_url: 7 });
    expect(res.status).toBe(422);
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_request");
    expect(body.field).toBe("site_url");
  });

  test("deactivation with malformed JSON and a valid key answers 400 invalid_json", async () => {
    const { key } = await svc.issue({});
    const res = await svc.request("POST", "/api/deactivate", { key, rawBody: "not json", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(await jsonOf(res)).toEqual({ error: "JSON data required", code: "invalid_json" });
  });
});

describe("site-change throttling", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });
  const { activate, deactivate } = siteRoutes(() => svc);
  let key: string;

  test("thirty seat changes in a day are allowed and the thirty-first answers 429 site_changes_limited", async () => {
    ({ key } = await svc.issue({}));
    for (let i = 0; i < 15; i++) {
      const on = await activate(key, { site_url: "cycled.com" });
      expect(on.status).toBe(200);
      expect((await jsonOf(on)).changed).toBe(true);
      const off = await deactivate(key, { site_url: "cycled.com" });
      expect(off.status).toBe(200);
      expect((await jsonOf(off)).changed).toBe(true);
    }
    const now = svc.clock.now();
    const res = await activate(key, { site_url: "one-more.com" });
    expect(res.status).toBe(429);
    const body = await jsonOf(res);
    expect(Object.keys(body).sort()).toEqual(["code", "error", "reset_time"]);
    expect(typeof body.error).toBe("string");
    expect(body.code).toBe("site_changes_limited");
    expect(body.reset_time).toMatch(ISO_UTC);
    const resetAt = Date.parse(body.reset_time);
    expect(resetAt).toBeGreaterThan(now.getTime());
    expect(resetAt).toBeLessThanOrEqual(now.getTime() + DAY_MS);
    const retryAfter = res.headers.get("retry-after") ?? "";
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Math.abs(Number(retryAfter) * 1000 - (resetAt - now.getTime()))).toBeLessThanOrEqual(1000);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect((await svc.request("POST", "/api/validate", { key })).status).toBe(200);
  });

  test("the limit is per license: another license can still change seats", async () => {
    const other = await svc.issue({});
    expect((await activate(other.key, { site_url: "cycled.com" })).status).toBe(200);
  });

  test("the seat-change budget comes back once the day is over", async () => {
    expect((await activate(key, { site_url: "one-more.com" })).status).toBe(429);
    svc.clock.advance(DAY_MS + 60_000);
    const res = await activate(key, { site_url: "one-more.com" });
    expect(res.status).toBe(200);
    expectSiteBody(await jsonOf(res), "one-more.com", { active: 1, limit: 3 });
  });
});
