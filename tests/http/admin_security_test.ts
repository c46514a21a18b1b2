// Security of the admin area, route by route from the router itself: every state change needs the CSRF
// token and our own origin, sessions cannot be forged, fixed or kept past their life, sign-ins are
// throttled, pages carry the security headers and escape what customers typed, and sign-in never
// redirects off-site. That every route refuses callers without a session (and CORS) is checked for the
// whole router in security_routes_test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashPassword } from "../../src/adapters/crypto/passwords.ts";
import { ADMIN_PASSWORD, signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import {
  ADMIN_COOKIE,
  adminSetCookie,
  clientFor,
  COMPAT_ADMIN_ROUTE,
  concretePath,
  formsOf,
  postSignIn,
  protectedAdminRoutes,
  signInClient,
  type RouteEntry,
} from "../support/admin_probe.ts";
import { startTestService, type TestService } from "../support/app.ts";

const DAY = 24 * 60 * 60 * 1000;
const SLOW = 60_000;
const XSS = "<script>alert(1)</script>";
const XSS_EDIT = "<script>alert(2)</script>";
const XSS_ATTR = '"><img src=x onerror=alert(3)>';
const RAW_PAYLOADS = [XSS, XSS_EDIT, "<img src=x onerror"];
const FOREIGN = "https://evil.example";

let svc: TestService;
let admin: AdminSessionClient;
let seeded: { customerId: number; licenseId: number; key: string; xssCustomerId: number; xssLicenseId: number };

/** Ids for route parameters: customer routes get a real customer, license routes a real license. */
function pick(name: string, pattern: string): number {
  if (/customer/i.test(name) || (name === "id" && /customer/i.test(pattern))) return seeded.xssCustomerId;
  if (/license/i.test(name) || (name === "id" && /license/i.test(pattern))) return seeded.xssLicenseId;
  return 1;
}

function isPage(route: RouteEntry): boolean {
  return route.path === "/admin" || route.path.startsWith("/admin/");
}

async function snapshot(s: TestService): Promise<string> {
  const [customers, licenses, plans, admins, audit] = await Promise.all([
    s.services.customers.list({ offset: 0, limit: 1000 }),
    s.services.licenses.list({ offset: 0, limit: 1000 }),
    s.services.plans.list(),
    s.services.accounts.list(),
    s.services.audit.recent(1000),
  ]);
  return JSON.stringify({ customers, licenses, plans, admins, audit: audit.map((a) => [a.action, a.targetId]) });
}

function describeResponse(route: string, response: Response, body: string): string {
  return `${route} → ${response.status} location=${response.headers.get("location")} body=${body.slice(0, 200)}`;
}

beforeAll(async () => {
  svc = await startTestService();
  admin = await signedInAdmin(svc);
  const issued = await svc.issue({ email: "secret.customer@example.com", plan: "pro" });
  const xssCustomer = await svc.services.customers.findOrCreate(
    { email: "xss.customer@example.com", name: XSS, notes: XSS, company: XSS_ATTR },
    svc.clock.now(),
  );
  const xssLicense = await svc.issue({ email: "xss.customer@example.com", plan: "pro" });
  expect(xssLicense.customerId).toBe(xssCustomer.customer.id);
  seeded = { customerId: issued.customerId, licenseId: issued.licenseId, key: issued.key, xssCustomerId: xssCustomer.customer.id, xssLicenseId: xssLicense.licenseId };
}, SLOW);

afterAll(async () => {
  await svc?.close();
});

describe("CSRF and same-origin on every state change", () => {
  test("every non-GET admin route refuses a signed-in request without the token, with a wrong one, or from another origin", async () => {
    const routes = protectedAdminRoutes(svc.app).filter((r) => r.method !== "GET");
    expect(routes.length).toBeGreaterThanOrEqual(2);
    const before = await snapshot(svc);
    const problems: string[] = [];
    const wrong = "f".repeat(64);
    for (const route of routes) {
      const path = concretePath(route.path, pick);
      const compat = COMPAT_ADMIN_ROUTE.test(route.path);
      const send = (token: string | null, extra: Record<string, string>) =>
        compat
          ? svc.request(route.method, path, {
              body: { email: "csrf@example.com", plan: "pro", name: "csrf" },
              headers: { cookie: admin.cookie, ...(token === null ? {} : { "x-csrf-token": token }), ...extra },
            })
          : svc.request(route.method, path, {
              rawBody: new URLSearchParams({ email: "csrf@example.com", name: "csrf", plan: "pro", ...(token === null ? {} : { _csrf: token }) }).toString(),
              headers: { cookie: admin.cookie, "content-type": "application/x-www-form-urlencoded", ...extra },
            });
      const cases: Array<[string, () => Promise<Response>]> = [
        ["no token", () => send(null, {})],
        ["no token (htmx)", () => send(null, { "hx-request": "true" })],
        ["wrong token", () => send(wrong, {})],
        ["wrong token in the header", () => send(null, { "x-csrf-token": wrong })],
        ["right token, foreign Origin", () => send(admin.csrf, { origin: FOREIGN })],
        ["right token, Origin null", () => send(admin.csrf, { origin: "null" })],
        ["right token, foreign Referer", () => send(admin.csrf, { referer: `${FOREIGN}/page` })],
        ["right header token, foreign Origin", () => send(null, { "x-csrf-token": admin.csrf, origin: FOREIGN })],
      ];
      for (const [name, run] of cases) {
        const response = await run();
        const body = await response.text();
        if (response.status !== 403) problems.push(`${route.method} ${path} with ${name}: expected 403, got ${describeResponse(route.path, response, body)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(svc)).toBe(before);
    // The session survived the refused sign-out attempts, and the right token from our origin is accepted.
    expect((await admin.get("/admin/account")).status).toBe(200);
    const accepted = await svc.request("POST", "/admin/account/password", {
      rawBody: new URLSearchParams({ _csrf: admin.csrf, current_password: "not the password", new_password: "x".repeat(20) }).toString(),
      headers: { cookie: admin.cookie, "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" },
    });
    expect(accepted.status).toBe(422);
  }, SLOW);

  test("a state change with a malformed Referer (and no Origin) is refused with 403, not a 500", async () => {
    for (const referer of ["garbage", "http://["]) {
      const signOut = await admin.post("/admin/logout", {}, { headers: { referer } });
      await signOut.text();
      const signIn = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD }, { headers: { referer } });
      await signIn.text();
      expect({ referer, signOut: signOut.status, signIn: signIn.status }).toEqual({ referer, signOut: 403, signIn: 403 });
    }
    expect((await admin.get("/admin/account")).status).toBe(200);
  });

  test("the sign-in form refuses a foreign Origin", async () => {
    const response = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD }, { headers: { origin: FOREIGN } });
    expect(response.status).toBe(403);
    expect(adminSetCookie(response)).toBeNull();
  });
});

describe("sessions", () => {
  test("signing out invalidates the cookie", async () => {
    const session = await signInClient(svc, admin.email, ADMIN_PASSWORD);
    expect((await session.get("/admin/account")).status).toBe(200);
    const out = await session.post("/admin/logout");
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/admin/login");
    const cleared = adminSetCookie(out);
    expect(cleared?.value ?? "").toBe("");
    expect(cleared?.attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=.*1970/i.test(a))).toBe(true);
    const reused = await session.get("/admin/account");
    expect(reused.status).toBe(303);
    expect(reused.headers.get("location")).toStartWith("/admin/login");
    expect((await session.get("/admin/account", { hx: true })).status).toBe(401);
    expect([401, 403]).toContain((await session.post("/admin/account/password", { current_password: ADMIN_PASSWORD, new_password: "y".repeat(20) })).status);
    // The other session of the same admin is untouched.
    expect((await admin.get("/admin/account")).status).toBe(200);
  });

  test("cookie values the server did not issue are refused", async () => {
    const session = await signInClient(svc, admin.email, ADMIN_PASSWORD);
    const token = session.cookie.split("=")[1];
    const storedId = new Bun.CryptoHasher("sha256").update(token).digest("hex");
    const forged = [
      "0".repeat(40),
      [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join(""),
      token.toUpperCase(),
      `${token}0`,
      token.slice(0, 39),
      storedId, // the database's session id is not a credential
      session.csrf,
      "",
      "%00",
      "' OR '1'='1",
    ];
    for (const value of forged) {
      const response = await svc.request("GET", "/admin/account", { headers: { cookie: `${ADMIN_COOKIE}=${value}` } });
      await response.text();
      expect({ value, status: response.status }).toEqual({ value, status: 303 });
    }
    expect((await session.get("/admin/account")).status).toBe(200);
  });

  test("a cookie with broken percent-encoding is refused like any forged one (not a 500)", async () => {
    // A sibling subdomain can plant such a cookie ("cookie tossing"); it must not break the admin.
    for (const value of ["%zz", "%E0%A4%A"]) {
      const page = await svc.request("GET", "/admin/account", { headers: { cookie: `${ADMIN_COOKIE}=${value}` } });
      await page.text();
      const fragment = await svc.request("GET", "/admin/account", { headers: { cookie: `${ADMIN_COOKIE}=${value}`, "hx-request": "true" } });
      await fragment.text();
      expect({ value, page: page.status, location: page.headers.get("location"), fragment: fragment.status }).toEqual({
        value,
        page: 303,
        location: "/admin/login?next=%2Fadmin%2Faccount",
        fragment: 401,
      });
    }
  });

  test("no session fixation: sign-in always issues a fresh token, never the one the client sent", async () => {
    const chosen = "a1".repeat(20);
    const response = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD }, { headers: { cookie: `${ADMIN_COOKIE}=${chosen}` } });
    expect(response.status).toBe(303);
    const issued = adminSetCookie(response);
    expect(issued?.value).toBeTruthy();
    expect(issued!.value).not.toBe(chosen);
    expect((await svc.request("GET", "/admin/account", { headers: { cookie: `${ADMIN_COOKIE}=${chosen}` } })).status).toBe(303);
    // Signing in again while signed in rotates the token too.
    const existing = admin.cookie.split("=")[1];
    const again = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD }, { headers: { cookie: admin.cookie } });
    const second = adminSetCookie(again);
    expect(second?.value).toBeTruthy();
    expect(second!.value).not.toBe(existing);
    expect(second!.value).not.toBe(issued!.value);
  });

  test("the cookie is HttpOnly, SameSite=Lax, Path=/, and not Secure over plain HTTP (even with a spoofed X-Forwarded-Proto)", async () => {
    const response = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD }, { headers: { "x-forwarded-proto": "https" } });
    const cookie = adminSetCookie(response)!;
    const attributes = cookie.attributes.map((a) => a.toLowerCase());
    expect(attributes).toContain("httponly");
    expect(attributes).toContain("samesite=lax");
    expect(attributes).toContain("path=/");
    expect(attributes).not.toContain("secure");
    expect(cookie.value).toMatch(/^[0-9a-f]{40,}$/);
  });

  test("behind HTTPS (PUBLIC_URL https) the cookie is Secure and pages send HSTS", async () => {
    const https = await startTestService({ PUBLIC_URL: "https://admin.example.com" });
    try {
      const client = await signedInAdmin(https);
      const response = await postSignIn(https, { email: client.email, password: ADMIN_PASSWORD });
      const attributes = adminSetCookie(response)!.attributes.map((a) => a.toLowerCase());
      expect(attributes).toEqual(expect.arrayContaining(["httponly", "samesite=lax", "secure"]));
      const page = await client.get("/admin/account");
      expect(page.status).toBe(200);
      expect(page.headers.get("strict-transport-security")).toMatch(/max-age=\d{6,}/);
      const out = await client.post("/admin/logout");
      expect(out.status).toBe(303);
      expect(adminSetCookie(out)!.attributes.map((a) => a.toLowerCase())).toContain("secure");
    } finally {
      await https.close();
    }
  }, SLOW);

  test("behind a trusted proxy that forwards HTTPS (TRUST_PROXY), the cookie is Secure and pages send HSTS", async () => {
    const proxied = await startTestService({ TRUST_PROXY: "true" });
    try {
      const client = await signedInAdmin(proxied);
      const forwarded = { "x-forwarded-proto": "https" };
      const response = await postSignIn(proxied, { email: client.email, password: ADMIN_PASSWORD }, { headers: forwarded });
      expect(adminSetCookie(response)!.attributes.map((a) => a.toLowerCase())).toEqual(expect.arrayContaining(["httponly", "samesite=lax", "path=/", "secure"]));
      const page = await proxied.request("GET", "/admin/account", { headers: { cookie: client.cookie, ...forwarded } });
      expect(page.status).toBe(200);
      expect(page.headers.get("strict-transport-security")).toMatch(/max-age=\d{6,}/);
      // The same proxy forwarding plain HTTP gets neither.
      const plain = await proxied.request("GET", "/admin/account", { headers: { cookie: client.cookie, "x-forwarded-proto": "http" } });
      expect(plain.headers.get("strict-transport-security")).toBeNull();
    } finally {
      await proxied.close();
    }
  }, SLOW);

  test("sessions expire after 30 days without use, and use in the second half re-issues the cookie (sliding expiry)", async () => {
    const own = await startTestService();
    try {
      const idle = await signedInAdmin(own);
      const active = await signInClient(own, idle.email, ADMIN_PASSWORD);

      own.clock.advance(14 * DAY);
      const early = await active.get("/admin/account");
      expect(early.status).toBe(200);
      expect(adminSetCookie(early)).toBeNull(); // more than 15 days left: nothing to re-issue

      own.clock.advance(2 * DAY); // 16 days in: less than 15 days left
      const renewed = await active.get("/admin/account");
      expect(renewed.status).toBe(200);
      const cookie = adminSetCookie(renewed);
      expect(cookie).not.toBeNull();
      expect(`${ADMIN_COOKIE}=${cookie!.value}`).toBe(active.cookie);
      const expires = cookie!.attributes.find((a) => /^expires=/i.test(a));
      const maxAge = cookie!.attributes.find((a) => /^max-age=/i.test(a));
      const until = expires ? Date.parse(expires.slice(8)) : own.clock.now().getTime() + Number(maxAge!.slice(8)) * 1000;
      expect(Math.abs(until - (own.clock.now().getTime() + 30 * DAY))).toBeLessThan(60_000);
      expect(cookie!.attributes.map((a) => a.toLowerCase())).toEqual(expect.arrayContaining(["httponly", "samesite=lax"]));

      own.clock.advance(14 * DAY + 60_000); // 30 days and a minute after sign-in
      const idleLate = await own.request("GET", "/admin/account", { headers: { cookie: idle.cookie } });
      expect(idleLate.status).toBe(303);
      expect(idleLate.headers.get("location")).toStartWith("/admin/login");
      expect((await own.request("GET", "/admin/account", { headers: { cookie: idle.cookie, "hx-request": "true" } })).status).toBe(401);
      expect((await active.get("/admin/account")).status).toBe(200); // renewed 14 days ago

      own.clock.advance(31 * DAY);
      expect((await active.get("/admin/account")).status).toBe(303);
    } finally {
      await own.close();
    }
  }, SLOW);
});

describe("sign-in throttling", () => {
  async function makeAdmin(email: string, password = ADMIN_PASSWORD) {
    await svc.services.admins.create({ email, name: email.split("@")[0], passwordHash: await hashPassword(password) }, svc.clock.now());
  }

  test("the sixth attempt after five wrong passwords is throttled even when right; another account is not", async () => {
    await makeAdmin("throttled@example.com");
    await makeAdmin("bystander@example.com");
    const ip = "198.51.100.7";
    for (let i = 0; i < 5; i++) {
      const email = i % 2 ? "THROTTLED@example.com" : "throttled@example.com"; // case does not make a new account
      const response = await postSignIn(svc, { email, password: `wrong password ${i}` }, { ip });
      expect(response.status).toBe(401);
      await response.text();
    }
    const sixth = await postSignIn(svc, { email: "throttled@example.com", password: ADMIN_PASSWORD }, { ip });
    expect(sixth.status).toBe(429);
    const retryAfter = Number(sixth.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(adminSetCookie(sixth)).toBeNull();
    // Another address does not get around the account's limit.
    const elsewhere = await postSignIn(svc, { email: "throttled@example.com", password: ADMIN_PASSWORD }, { ip: "198.51.100.99" });
    expect(elsewhere.status).toBe(429);
    expect(adminSetCookie(elsewhere)).toBeNull();
    // Another account from the same address signs in.
    const bystander = await postSignIn(svc, { email: "bystander@example.com", password: ADMIN_PASSWORD }, { ip });
    expect(bystander.status).toBe(303);
    expect(adminSetCookie(bystander)?.value).toBeTruthy();
    // After the window the right password works again.
    svc.clock.advance(15 * 60 * 1000 + 1000);
    const later = await postSignIn(svc, { email: "throttled@example.com", password: ADMIN_PASSWORD }, { ip });
    expect(later.status).toBe(303);
  }, SLOW);

  test("a client address with 20 failures is throttled, for any account", async () => {
    await makeAdmin("victim@example.com");
    const ip = "198.51.100.20";
    for (let i = 0; i < 20; i++) {
      const response = await postSignIn(svc, { email: `nobody${i}@example.com`, password: "guess" }, { ip });
      expect(response.status).toBe(401);
      await response.text();
    }
    const blocked = await postSignIn(svc, { email: "victim@example.com", password: ADMIN_PASSWORD }, { ip });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(adminSetCookie(blocked)).toBeNull();
    const otherAddress = await postSignIn(svc, { email: "victim@example.com", password: ADMIN_PASSWORD }, { ip: "198.51.100.21" });
    expect(otherAddress.status).toBe(303);
  }, SLOW);
});

describe("security headers", () => {
  function headerProblems(label: string, response: Response): string[] {
    const problems: string[] = [];
    const csp = response.headers.get("content-security-policy") ?? "";
    const directives = new Map(
      csp
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map((d) => [d[0].toLowerCase(), d.slice(1)] as const),
    );
    const scriptSrc = directives.get("script-src") ?? directives.get("default-src");
    if (!scriptSrc) problems.push(`${label}: no CSP script-src/default-src (${csp || "no CSP"})`);
    else if (scriptSrc.some((s) => /^'unsafe-(inline|eval)'$|^\*$|^https?:$|^data:$/.test(s))) problems.push(`${label}: unsafe script-src ${scriptSrc.join(" ")}`);
    if (directives.get("frame-ancestors")?.join(" ") !== "'none'") problems.push(`${label}: frame-ancestors is not 'none' (${csp})`);
    if (response.headers.get("x-content-type-options") !== "nosniff") problems.push(`${label}: no X-Content-Type-Options nosniff`);
    // Admin pages show customers and keys: no shared or browser cache may keep a copy.
    if (!/\bno-store\b/.test(response.headers.get("cache-control") ?? "")) problems.push(`${label}: Cache-Control "${response.headers.get("cache-control")}" lacks no-store`);
    const referrer = response.headers.get("referrer-policy") ?? "";
    if (!/^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$/.test(referrer)) problems.push(`${label}: Referrer-Policy "${referrer}"`);
    if (response.headers.get("strict-transport-security")) problems.push(`${label}: HSTS over plain HTTP`);
    for (const [name] of response.headers) if (name.toLowerCase().startsWith("access-control-")) problems.push(`${label}: CORS header ${name}`);
    return problems;
  }

  test("admin pages (signed in and anonymous) carry CSP, frame-ancestors 'none', nosniff, a Referrer-Policy and Cache-Control no-store, no HSTS over HTTP, no CORS", async () => {
    const problems: string[] = [];
    const pages = ["/admin/login", "/admin/login?next=%2Fadmin", ...protectedAdminRoutes(svc.app).filter((r) => r.method === "GET" && isPage(r)).map((r) => concretePath(r.path, pick))];
    for (const path of pages) {
      const signedIn = await admin.get(path);
      problems.push(...headerProblems(`GET ${path} (signed in, ${signedIn.status})`, signedIn));
      const type = signedIn.headers.get("content-type") ?? "";
      const body = await signedIn.text();
      if (signedIn.status === 200 && type.includes("html")) {
        // The CSP forbids inline script, so pages must not rely on it.
        const inline = [...body.matchAll(/<script\b([^>]*)>/gi)].filter((m) => !/\ssrc=/i.test(m[1]));
        if (inline.length) problems.push(`GET ${path}: inline <script> (blocked by the CSP)`);
        const handlers = body.match(/<[^>]+\son[a-z]+\s*=/gi);
        if (handlers) problems.push(`GET ${path}: inline event handler ${handlers[0].slice(0, 80)} (blocked by the CSP)`);
        if (/\shx-on[:-]/i.test(body)) problems.push(`GET ${path}: hx-on attribute (needs eval, blocked by the CSP)`);
      }
      const anonymous = await svc.request("GET", path);
      await anonymous.text();
      problems.push(...headerProblems(`GET ${path} (anonymous, ${anonymous.status})`, anonymous));
    }
    const failed = await postSignIn(svc, { email: "nobody@example.com", password: "wrong" }, { ip: "198.51.100.200" });
    await failed.text();
    problems.push(...headerProblems("POST /admin/login (failed)", failed));
    expect(problems).toEqual([]);
  }, SLOW);
});

describe("escaping of what customers and admins typed", () => {
  test("a customer named <script> is shown escaped, never raw, on every admin page", async () => {
    // Edit a customer through the edit form when the customers area has one (htmx or plain).
    let edited = false;
    const editPaths = [
      ...protectedAdminRoutes(svc.app).filter((r) => r.method === "GET" && /customer/i.test(r.path) && r.path.includes(":")).map((r) => concretePath(r.path, () => seeded.customerId)),
      `/admin/customers/${seeded.customerId}`,
      `/admin/customers/${seeded.customerId}/edit`,
    ];
    for (const path of [...new Set(editPaths)]) {
      const response = await admin.get(path);
      if (response.status !== 200) continue;
      for (const form of formsOf(await response.text(), path)) {
        if (form.method === "GET" || !("name" in form.fields) || !("notes" in form.fields || "company" in form.fields)) continue;
        const fields = { ...form.fields, name: XSS_EDIT, notes: XSS, ...("company" in form.fields ? { company: XSS_ATTR } : {}), _csrf: admin.csrf };
        const saved = await svc.request(form.method, form.action, {
          rawBody: new URLSearchParams(fields).toString(),
          headers: { cookie: admin.cookie, "content-type": "application/x-www-form-urlencoded", "x-csrf-token": admin.csrf },
        });
        const body = await saved.text();
        expect({ form: `${form.method} ${form.action}`, status: saved.status < 400 ? "saved" : saved.status, body: saved.status < 400 ? "" : body.slice(0, 300) }).toEqual({
          form: `${form.method} ${form.action}`,
          status: "saved",
          body: "",
        });
        edited = true;
        break;
      }
      if (edited) break;
    }
    if (edited) expect((await svc.services.customers.byId(seeded.customerId))?.notes).toBe(XSS);

    const search = encodeURIComponent(XSS);
    const paths = new Set<string>([
      "/admin",
      "/admin/customers",
      "/admin/licenses",
      `/admin/customers/${seeded.xssCustomerId}`,
      `/admin/customers/${seeded.customerId}`,
      `/admin/licenses/${seeded.xssLicenseId}`,
      "/admin/audit",
      "/admin/analytics",
      `/admin/customers?q=${search}`,
      `/admin/customers?search=${search}`,
      `/admin/licenses?q=${search}`,
      `/admin/licenses?search=${search}`,
      `/admin/audit?q=${search}`,
      `/admin/login?next=${search}`,
      `/admin/login?email=${search}`,
      ...protectedAdminRoutes(svc.app).filter((r) => r.method === "GET" && isPage(r)).map((r) => concretePath(r.path, pick)),
    ]);
    const problems: string[] = [];
    const statusOf: Record<string, number> = {};
    const bodyOf: Record<string, string> = {};
    for (const path of paths) {
      for (const hx of [false, true]) {
        const response = await admin.get(path, { hx });
        const body = await response.text();
        if (!hx) {
          statusOf[path] = response.status;
          bodyOf[path] = body;
        }
        if (response.status >= 500) problems.push(`GET ${path}${hx ? " (HX)" : ""}: ${response.status}`);
        if (!(response.headers.get("content-type") ?? "").includes("html")) continue; // CSV/JSON are not rendered as HTML
        for (const raw of RAW_PAYLOADS) if (body.includes(raw)) problems.push(`GET ${path}${hx ? " (HX)" : ""}: raw ${raw}`);
      }
    }
    expect(problems).toEqual([]);
    // The dashboard and the customers list, once built, render and show the name escaped.
    for (const path of ["/admin", "/admin/customers"]) expect({ path, status: statusOf[path] === 404 ? 200 : statusOf[path] }).toEqual({ path, status: 200 });
    for (const path of ["/admin/customers", `/admin/customers/${seeded.xssCustomerId}`]) {
      if (statusOf[path] === 404) continue;
      expect({ path, escaped: bodyOf[path].includes("&lt;script&gt;alert(1)") }).toEqual({ path, escaped: true });
    }
  }, SLOW);
});

describe("no open redirect after sign-in", () => {
  test("next pointing off-site lands on /admin; next inside the admin is kept", async () => {
    for (const next of [FOREIGN, "//evil.example", "/\\evil.example", "\\\\evil.example", "https:evil.example", "javascript:alert(1)", "/admin@evil.example", " //evil.example"]) {
      const form = await svc.request("GET", `/admin/login?next=${encodeURIComponent(next)}`);
      const page = await form.text();
      expect(form.status).toBe(200);
      expect(page).not.toContain("evil.example");
      const response = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD, next });
      expect({ next, status: response.status, location: response.headers.get("location") }).toEqual({ next, status: 303, location: "/admin" });
    }
    const kept = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD, next: "/admin/account" });
    expect(kept.headers.get("location")).toBe("/admin/account");
    // The redirect of an anonymous page visit round-trips through the form.
    const bounce = await svc.request("GET", "/admin/account");
    const location = bounce.headers.get("location")!;
    const next = new URL(location, "http://localhost").searchParams.get("next")!;
    const signIn = await postSignIn(svc, { email: admin.email, password: ADMIN_PASSWORD, next });
    expect(signIn.headers.get("location")).toBe("/admin/account");
  }, SLOW);
});

describe("changing one's own password", () => {
  test("a wrong current password is refused with 422; success keeps this session and signs out the others", async () => {
    const mine = await signedInAdmin(svc);
    const other = await signInClient(svc, mine.email, ADMIN_PASSWORD);
    const newPassword = "a brand new passphrase 42";

    const wrong = await mine.post("/admin/account/password", { current_password: "not my password", new_password: newPassword });
    expect(wrong.status).toBe(422);
    expect(await wrong.text()).toContain("current password");
    const short = await mine.post("/admin/account/password", { current_password: ADMIN_PASSWORD, new_password: "short" });
    expect(short.status).toBe(422);
    expect((await postSignIn(svc, { email: mine.email, password: newPassword })).status).toBe(401);
    expect((await other.get("/admin/account")).status).toBe(200);

    const changed = await mine.post("/admin/account/password", { current_password: ADMIN_PASSWORD, new_password: newPassword });
    expect(changed.status).toBe(200);
    expect((await mine.get("/admin/account")).status).toBe(200);
    const kicked = await other.get("/admin/account");
    expect(kicked.status).toBe(303);
    expect(kicked.headers.get("location")).toStartWith("/admin/login");
    expect((await postSignIn(svc, { email: mine.email, password: ADMIN_PASSWORD })).status).toBe(401);
    const fresh = await postSignIn(svc, { email: mine.email, password: newPassword });
    expect(fresh.status).toBe(303);
    const again = await clientFor(svc, `${ADMIN_COOKIE}=${adminSetCookie(fresh)!.value}`);
    expect(again.csrf).toMatch(/^[0-9a-f]{64}$/);
  }, SLOW);
});
