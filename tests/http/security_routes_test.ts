// Every route of the router, enumerated from the app itself, is either on a short public allow-list or
// refuses callers without the one credential its area takes: admin pages, fragments and the old
// dashboard's JSON routes take the admin session cookie, the admin API a bearer admin API token (write
// scope for changes), the plugin API a license key, the payment webhooks a signature. A route added later
// under a new prefix, or without its guard, fails here: nothing below lists the protected routes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { AdminUserRow } from "../../src/adapters/db/schema.ts";
import { isPluginApiPath } from "../../src/app/http/app.ts";
import { requiresAdmin } from "../../src/app/http/admin/admin_guard.ts";
import { isAdminApiPath } from "../../src/app/http/admin_api_guard.ts";
import { requiresLicense } from "../../src/app/http/license_guard.ts";
import { CLI_ACTOR, createApiToken, generateSessionToken, revokeApiToken, sessionIdOf } from "../../src/domain/admin/mod.ts";
import { ADMIN_PASSWORD, signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { ADMIN_COOKIE, adminSetCookie, concretePath, CONTRACT_COMPAT_ROUTES, signInClient } from "../support/admin_probe.ts";
import { startTestService, type TestService } from "../support/app.ts";

const SLOW = 120_000;
const DAY = 24 * 60 * 60 * 1000;
const FOREIGN = "https://evil.example";
const PADDLE_SECRET = "pdl_ntfset_routes_test_secret_0123";
const PAYMENT_SECRET = "routes-test-payment-secret";
process.env.PADDLE_WEBHOOK_SECRET = PADDLE_SECRET;
process.env.PAYMENT_WEBHOOK_SECRET = PAYMENT_SECRET;

/** Routes anyone may call, each for a reason; everything else must refuse an anonymous caller. */
const PUBLIC_ROUTES: Record<string, string> = {
  "GET /": "service name, version and links",
  "GET /api/health": "health for load balancers",
  "GET /swagger": "the API documentation page",
  "GET /swagger/json": "the OpenAPI document",
  "GET /swagger/assets/:name": "Swagger UI's own assets",
  "GET /favicon.ico": "the icon browsers ask for",
  "GET /admin/login": "the sign-in form",
  "POST /admin/login": "signing in (throttled, same-origin only)",
  "GET /admin/assets/:name": "the admin's script and style sheet",
};

/** Routes that take no credential but a signature of the payment provider over the raw body. */
const SIGNED_WEBHOOKS = new Set(["POST /api/webhooks/paddle", "POST /api/webhook/payment"]);

type Area = "public" | "webhook" | "metrics" | "admin_page" | "admin_compat" | "admin_api" | "license" | "unknown";

/** The area of a route by its path alone (independently of the service's own predicates). */
function areaOf(method: string, path: string): Area {
  if (PUBLIC_ROUTES[`${method} ${path}`]) return "public";
  if (SIGNED_WEBHOOKS.has(`${method} ${path}`)) return "webhook";
  if (path === "/metrics") return "metrics";
  if (path === "/admin" || path.startsWith("/admin/")) return "admin_page";
  if (/^\/api\/(customer|create_license)(\/|$)/.test(path)) return "admin_compat";
  if (path.startsWith("/api/admin/")) return "admin_api";
  if (/^\/(api\/(validate|activate|deactivate|chat|keys|usage|limits)(\/|$)|v1\/)/.test(path)) return "license";
  return "unknown";
}

interface Route {
  method: string;
  path: string;
  area: Area;
}

const ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** Every route of the router, one entry per method. */
function allRoutes(app: { routes: Array<{ method: string; path: string }> }): Route[] {
  const seen = new Set<string>();
  const out: Route[] = [];
  for (const route of app.routes) {
    const method = route.method.toUpperCase();
    for (const m of method === "ALL" ? ANY_METHOD : [method]) {
      const key = `${m} ${route.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ method: m, path: route.path, area: areaOf(m, route.path) });
    }
  }
  return out;
}

let svc: TestService;
let admin: AdminSessionClient;
let routes: Route[];
/** Things no refused answer may contain. */
let secrets: string[];
const ids = { customer: 0, license: 0, plan: 0, token: 0 };
const credentials: Record<string, { key?: string; token?: string; cookie?: string }> = {};
let ipCounter = 0;

/** A fresh client address per request, so the invalid-key throttle never answers in place of the guard. */
function nextIp(): string {
  ipCounter += 1;
  return `198.18.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

function pick(name: string, pattern: string): string | number {
  if (name === "name") return pattern.startsWith("/swagger") ? "swagger-ui.css" : "admin.css";
  if (name === "provider") return "openai";
  if (name === "host") return "shop.example.com";
  if (/customer/i.test(pattern)) return ids.customer;
  if (/licen[sc]e/i.test(pattern)) return ids.license;
  if (/plans/.test(pattern)) return ids.plan;
  if (/tokens/.test(pattern)) return ids.token;
  return 1;
}

/** A body a real client of the route would send (a broken guard would let it through to the handler). */
function bodyFor(route: Route): { rawBody?: string; body?: unknown; headers: Record<string, string> } {
  if (route.method === "GET" || route.method === "HEAD") return { headers: {} };
  if (route.area === "admin_page") {
    return {
      rawBody: new URLSearchParams({ email: "intruder@example.com", name: "intruder", plan: "pro", status: "suspend", action: "suspend", months: "1", api_key: "sk-intruder", new_password: "intruder password 1", current_password: ADMIN_PASSWORD, _csrf: admin.csrf }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    };
  }
  return {
    body: {
      email: "intruder@example.com",
      customer_email: "intruder@example.com",
      name: "intruder",
      plan: "agency",
      site_url: "https://intruder.example.com",
      api_key: "sk-intruder-0123456789",
      messages: [{ role: "user", content: "hi" }],
      model: "gpt-4o-mini",
      scope: "write",
    },
    headers: { "content-type": "application/json" },
  };
}

async function send(route: Route, path: string, extra: Record<string, string>): Promise<{ response: Response; text: string }> {
  const { rawBody, body, headers } = bodyFor(route);
  const response = await svc.request(route.method, path, { rawBody, body, headers: { ...headers, ...extra }, ip: nextIp() });
  return { response, text: await response.text() };
}

function codeOf(text: string): unknown {
  try {
    const parsed = JSON.parse(text) as { code?: unknown; error?: { code?: unknown } | string };
    return typeof parsed.error === "object" && parsed.error ? parsed.error.code : parsed.code;
  } catch {
    return undefined;
  }
}

async function snapshot(s: TestService): Promise<string> {
  const [customers, licenses, plans, admins, tokens, audit] = await Promise.all([
    s.services.customers.list({ offset: 0, limit: 1000 }),
    s.services.licenses.list({ offset: 0, limit: 1000 }),
    s.services.plans.list(),
    s.services.accounts.list(),
    s.services.tokens.list(),
    s.services.audit.recent(1000),
  ]);
  return JSON.stringify({ customers, licenses, plans, admins, tokens: tokens.map((t) => [t.id, t.name, t.scope, t.revokedAt]), audit: audit.map((a) => [a.action, a.targetId]) });
}

/** A cookie for a session stored as already expired. */
async function expiredSessionCookie(adminId: number): Promise<string> {
  const token = generateSessionToken(svc.services.random);
  const now = svc.clock.now();
  await svc.services.accounts.createSession({ id: await sessionIdOf(token), adminId, expiresAt: new Date(now.getTime() - 1000) }, { clientIp: null, userAgent: null }, new Date(now.getTime() - 31 * DAY));
  return `${ADMIN_COOKIE}=${token}`;
}

beforeAll(async () => {
  svc = await startTestService();
  admin = await signedInAdmin(svc);
  const issued = await svc.issue({ email: "route.customer@example.com", plan: "pro" });
  const suspended = await svc.issue({ email: "suspended.customer@example.com", plan: "pro" });
  await svc.setStatus(suspended.key, "suspend");
  // A license issued two months ago for one month has been expired for a month.
  const today = svc.clock.current;
  svc.clock.current = new Date(today.getTime() - 61 * DAY);
  const expired = await svc.issue({ email: "expired.customer@example.com", plan: "pro", term: { months: 1 } });
  svc.clock.current = today;
  ids.customer = issued.customerId;
  ids.license = issued.licenseId;
  ids.plan = (await svc.services.plans.list()).find((p) => p.name === "pro")!.id;

  const tokenDeps = { tokens: svc.services.tokens, random: svc.services.random, clock: svc.clock, audit: svc.services.audit };
  const write = await createApiToken(tokenDeps, { name: "routes write", scope: "write", actor: CLI_ACTOR, createdBy: null });
  const read = await createApiToken(tokenDeps, { name: "routes read", scope: "read", actor: CLI_ACTOR, createdBy: null });
  const revoked = await createApiToken(tokenDeps, { name: "routes revoked", scope: "write", actor: CLI_ACTOR, createdBy: null });
  await revokeApiToken(tokenDeps, { id: revoked.info.id, actor: CLI_ACTOR });
  ids.token = write.info.id;

  // Sessions that must not work: signed out, of a disabled account, expired, and one never issued.
  const signedOut = await signInClient(svc, admin.email, ADMIN_PASSWORD);
  expect((await signedOut.post("/admin/logout")).status).toBe(303);
  expect(signedOut.csrf).toMatch(/^[0-9a-f]{64}$/); // it was a working session before signing out
  const other = await signedInAdmin(svc);
  expect((await other.get("/admin/account")).status).toBe(200);
  const disabledId = (await svc.services.admins.byEmail(other.email))!.id;
  await svc.services.db.orm.em.fork().nativeUpdate(AdminUserRow, { id: disabledId }, { disabled: true });

  credentials["no credentials"] = {};
  credentials["a forged session cookie"] = { cookie: `${ADMIN_COOKIE}=${"ab".repeat(20)}` };
  credentials["a signed-out session cookie"] = { cookie: signedOut.cookie };
  credentials["the session cookie of a disabled admin"] = { cookie: other.cookie };
  credentials["an expired session cookie"] = { cookie: "" }; // made fresh for every request (the guard deletes it)
  credentials["a license key"] = { key: issued.key };
  credentials["a license key as bearer"] = { token: issued.key };
  credentials["a suspended license key"] = { key: suspended.key };
  credentials["an expired license key"] = { key: expired.key };
  credentials["a write admin API token"] = { token: write.token };
  credentials["a read admin API token"] = { token: read.token };
  credentials["a revoked admin API token"] = { token: revoked.token };
  credentials["an admin session cookie"] = { cookie: admin.cookie };

  // The right credentials work, so every refusal below is the guard's doing.
  expect((await svc.request("POST", "/api/validate", { key: issued.key })).status).toBe(200);
  expect((await svc.request("GET", "/api/admin/customers", { headers: { authorization: `Bearer ${write.token}` } })).status).toBe(200);
  expect((await svc.request("GET", "/api/admin/customers", { headers: { authorization: `Bearer ${read.token}` } })).status).toBe(200);
  expect((await admin.get("/admin/account")).status).toBe(200);

  secrets = [issued.key, suspended.key, expired.key, write.token, read.token, "route.customer@example.com", admin.email, admin.csrf, admin.cookie.split("=")[1]];
  routes = allRoutes(svc.app);
}, SLOW);

afterAll(async () => {
  await svc?.close();
});

/** The answer a credential must get on a route, or null when the credential is the route's own. */
function expected(route: Route, credential: string): { status: number[]; code?: string[]; location?: string } | null {
  const { area, method } = route;
  const given = credentials[credential];
  const isGet = method === "GET" || method === "HEAD";
  switch (area) {
    case "admin_page":
      if (credential === "an admin session cookie") return null;
      return isGet ? { status: [303], location: "login" } : { status: [401, 403] };
    case "admin_compat":
      if (credential === "an admin session cookie") return null;
      return { status: [401, 403], code: isGet ? ["admin_session_required"] : ["admin_session_required", "forbidden"] };
    case "admin_api": {
      if (credential === "a write admin API token") return null;
      if (credential === "a read admin API token") return isGet ? null : { status: [403], code: ["token_read_only"] };
      if (credential === "a revoked admin API token") return { status: [401], code: ["token_revoked"] };
      return { status: [401], code: [given.token ? "token_invalid" : "token_missing"] };
    }
    case "license": {
      // A bearer token is taken as the license key (OpenAI SDKs send their API key so).
      if (credential === "a license key" || credential === "a license key as bearer") return null;
      if (credential === "a suspended license key") return { status: [401], code: ["license_inactive"] };
      if (credential === "an expired license key") return { status: [401], code: ["license_expired"] };
      return { status: [401], code: [given.key ?? given.token ? "license_invalid" : "license_missing"] };
    }
    case "webhook":
      return { status: [401], code: ["invalid_signature"] };
    case "metrics":
      return { status: [401, 403] };
    default:
      return null;
  }
}

function headersFor(credential: string, cookie?: string): Record<string, string> {
  const given = credentials[credential];
  const headers: Record<string, string> = {};
  if (given.key) headers["x-license-key"] = given.key;
  if (given.token) headers.authorization = `Bearer ${given.token}`;
  const jar = cookie ?? given.cookie;
  if (jar) headers.cookie = jar;
  if (jar === admin.cookie) headers["x-csrf-token"] = admin.csrf;
  return headers;
}

describe("the router's routes, enumerated", () => {
  test("every route belongs to a known area: the public allow-list, a signed webhook, or a protected prefix", () => {
    const listed = routes.map((r) => `${r.method} ${r.path}`);
    // The enumeration is real: each area's own routes are in it.
    expect(listed).toEqual(
      expect.arrayContaining(["GET /admin/account", "POST /admin/logout", "GET /api/admin/customers", "POST /api/create_license", "POST /api/validate", "POST /v1/chat/completions", "POST /api/webhooks/paddle"]),
    );
    for (const area of ["admin_page", "admin_compat", "admin_api", "license", "webhook", "public"] as const) expect(routes.some((r) => r.area === area)).toBe(true);
    const unknown = routes.filter((r) => r.area === "unknown").map((r) => `${r.method} ${r.path}`);
    expect(unknown).toEqual([]);
    // Every allow-listed route exists, so the list cannot silently grow stale.
    expect(Object.keys(PUBLIC_ROUTES).filter((key) => !listed.includes(key))).toEqual([]);
  });

  test("the service's own guards cover each protected area, also with a trailing slash (the router matches both)", () => {
    const problems: string[] = [];
    for (const route of routes) {
      for (const path of [concretePath(route.path, pick), `${concretePath(route.path, pick)}/`]) {
        const guards = { admin: requiresAdmin(path), adminApi: isAdminApiPath(path), license: requiresLicense(path) };
        const want = {
          admin: route.area === "admin_page" || route.area === "admin_compat",
          adminApi: route.area === "admin_api",
          license: route.area === "license",
        };
        if (route.area === "public" || route.area === "webhook" || route.area === "metrics") {
          if (guards.adminApi || guards.license) problems.push(`${route.method} ${path}: a public route behind a guard`);
          continue;
        }
        if (JSON.stringify(guards) !== JSON.stringify(want)) problems.push(`${route.method} ${path} (${route.area}): guards ${JSON.stringify(guards)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("every protected route refuses callers without its own credential", () => {
  test("each route and method, with each wrong credential, is refused with the area's answer, leaks nothing and changes nothing", async () => {
    const before = await snapshot(svc);
    const problems: string[] = [];
    const adminId = (await svc.services.admins.byEmail(admin.email))!.id;
    for (const route of routes) {
      if (route.area === "public" || route.area === "unknown") continue;
      const path = concretePath(route.path, pick);
      for (const credential of Object.keys(credentials)) {
        const want = expected(route, credential);
        if (!want) continue;
        const cookie = credential === "an expired session cookie" ? await expiredSessionCookie(adminId) : undefined;
        const { response, text } = await send(route, path, headersFor(credential, cookie));
        const what = `${route.method} ${path} with ${credential}`;
        const got = `${response.status} ${codeOf(text) ?? ""} location=${response.headers.get("location")} ${text.slice(0, 160)}`;
        if (!want.status.includes(response.status)) problems.push(`${what}: expected ${want.status.join("|")}, got ${got}`);
        else if (want.code && !want.code.includes(String(codeOf(text)))) problems.push(`${what}: expected code ${want.code.join("|")}, got ${got}`);
        else if (want.location && response.headers.get("location") !== `/admin/login?next=${encodeURIComponent(path)}`) problems.push(`${what}: expected a redirect to sign in, got ${got}`);
        for (const secret of secrets) if (text.includes(secret)) problems.push(`${what}: the answer contains ${secret.slice(0, 10)}…`);
        if (/name="csrf-token" content="[0-9a-f]+"/.test(text)) problems.push(`${what}: the answer carries a CSRF token`);
        if (adminSetCookie(response)?.value) problems.push(`${what}: the answer sets a session cookie`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(svc)).toBe(before);
  }, SLOW);

  test("admin pages and fragments answer an htmx request without a session with 401, not a redirect", async () => {
    const problems: string[] = [];
    for (const route of routes.filter((r) => r.area === "admin_page" && r.method === "GET")) {
      const path = concretePath(route.path, pick);
      const { response, text } = await send(route, path, { "hx-request": "true" });
      if (response.status !== 401) problems.push(`GET ${path} (HX): ${response.status} ${text.slice(0, 120)}`);
    }
    expect(problems).toEqual([]);
  });

  test("HEAD, a trailing slash or another method on a protected route is refused or unknown, never answered", async () => {
    const before = await snapshot(svc);
    const problems: string[] = [];
    const refused = [303, 401, 403, 404, 405];
    for (const route of routes) {
      if (route.area === "public" || route.area === "unknown") continue;
      const path = concretePath(route.path, pick);
      const variants: Array<[Route, string]> = [[route, `${path}/`]];
      if (route.method === "GET") variants.push([{ ...route, method: "HEAD" }, path], [{ ...route, method: "HEAD" }, `${path}/`]);
      for (const other of ANY_METHOD) if (other !== route.method && !routes.some((r) => r.path === route.path && r.method === other)) variants.push([{ ...route, method: other }, path]);
      for (const [variant, target] of variants) {
        const { response, text } = await send(variant, target, {});
        if (!refused.includes(response.status)) problems.push(`${variant.method} ${target}: ${response.status} ${text.slice(0, 160)}`);
        for (const secret of secrets) if (text.includes(secret)) problems.push(`${variant.method} ${target}: the answer contains ${secret.slice(0, 10)}…`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(svc)).toBe(before);
  }, SLOW);

  test("the contract's compatibility JSON routes exist and are refused without a session", async () => {
    const listed = routes.map((r) => `${r.method} ${r.path}`);
    expect(CONTRACT_COMPAT_ROUTES.map(([method, path]) => `${method} ${path}`).filter((r) => !listed.includes(r))).toEqual([]);
    expect(CONTRACT_COMPAT_ROUTES.every(([method, path]) => areaOf(method, path) === "admin_compat")).toBe(true);
  });

  test("the payment webhooks refuse unsigned, badly signed and wrongly keyed payloads", async () => {
    const before = await snapshot(svc);
    const ts = Math.floor(svc.clock.now().getTime() / 1000);
    const paddleBody = JSON.stringify({ event_id: "evt_routes_1", event_type: "subscription.created", occurred_at: svc.clock.now().toISOString(), data: { id: "sub_1", customer_id: "ctm_1", items: [{ price: { id: "pri_pro_month" } }] } });
    const paymentBody = JSON.stringify({ type: "payment.failed", metadata: { license_key: credentials["a license key"].key } });
    const paddleSign = (secret: string, at = ts, raw = paddleBody) => `ts=${at};h1=${createHmac("sha256", secret).update(`${at}:${raw}`).digest("hex")}`;
    const paymentSign = (secret: string, raw = paymentBody) => createHmac("sha256", secret).update(raw).digest("hex");
    const cases: Array<[string, string, string, Record<string, string>]> = [
      ["paddle, no signature", "/api/webhooks/paddle", paddleBody, {}],
      ["paddle, another secret", "/api/webhooks/paddle", paddleBody, { "paddle-signature": paddleSign("not the secret") }],
      ["paddle, signed body differs", "/api/webhooks/paddle", `${paddleBody} `, { "paddle-signature": paddleSign(PADDLE_SECRET) }],
      ["paddle, an hour old", "/api/webhooks/paddle", paddleBody, { "paddle-signature": paddleSign(PADDLE_SECRET, ts - 3600) }],
      ["paddle, garbage", "/api/webhooks/paddle", paddleBody, { "paddle-signature": "ts=1;h1=zz" }],
      ["paddle, admin token instead", "/api/webhooks/paddle", paddleBody, { authorization: `Bearer ${credentials["a write admin API token"].token}` }],
      ["payment, no signature", "/api/webhook/payment", paymentBody, {}],
      ["payment, another secret", "/api/webhook/payment", paymentBody, { "x-webhook-signature": paymentSign("not the secret") }],
      ["payment, signed body differs", "/api/webhook/payment", paymentBody.replace("failed", "succeeded"), { "x-webhook-signature": paymentSign(PAYMENT_SECRET) }],
      ["payment, truncated", "/api/webhook/payment", paymentBody, { "x-webhook-signature": paymentSign(PAYMENT_SECRET).slice(0, 63) }],
      ["payment, admin session instead", "/api/webhook/payment", paymentBody, { cookie: admin.cookie, "x-csrf-token": admin.csrf }],
    ];
    const results = [];
    for (const [name, path, raw, headers] of cases) {
      const response = await svc.request("POST", path, { rawBody: raw, headers: { "content-type": "application/json", ...headers } });
      const text = await response.text();
      results.push({ name, status: response.status, code: codeOf(text) });
    }
    expect(results).toEqual(cases.map(([name]) => ({ name, status: 401, code: "invalid_signature" })));
    expect(await snapshot(svc)).toBe(before);
  });
});

describe("cross-origin access", () => {
  test("only the plugin API answers CORS; a foreign preflight or request to any other route gets no Access-Control-* header", async () => {
    const problems: string[] = [];
    for (const route of routes) {
      const path = concretePath(route.path, pick);
      const plugin = route.area === "license" || route.path === "/" || route.path === "/api/health";
      expect({ path, plugin: isPluginApiPath(path) }).toEqual({ path, plugin });
      const preflight = await svc.request("OPTIONS", path, {
        headers: { origin: FOREIGN, "access-control-request-method": route.method, "access-control-request-headers": "content-type, x-csrf-token, authorization" },
        ip: nextIp(),
      });
      await preflight.text();
      const allowOrigin = preflight.headers.get("access-control-allow-origin");
      if (plugin && allowOrigin !== "*") problems.push(`OPTIONS ${path}: the plugin API answers no CORS (${preflight.status})`);
      if (!plugin) for (const [name] of preflight.headers) if (name.startsWith("access-control-")) problems.push(`OPTIONS ${path}: ${name}`);
      if (plugin || route.method !== "GET") continue; // state changes from another origin are refused by the CSRF tests
      const credential: Record<string, string> = route.area === "admin_api" ? { authorization: `Bearer ${credentials["a write admin API token"].token}` } : { cookie: admin.cookie };
      const read = await svc.request("GET", path, { headers: { origin: FOREIGN, ...credential }, ip: nextIp() });
      await read.text();
      for (const [name] of read.headers) if (name.startsWith("access-control-")) problems.push(`GET ${path} from ${FOREIGN}: ${name}`);
    }
    expect(problems).toEqual([]);
  }, SLOW);
});
