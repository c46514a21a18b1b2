// Stored XSS: hostile text stored in every admin-editable field (customers, licenses, plans, webhooks, admins,
// tokens, provider base URLs, CSV import rows, mails, payment events) and in what plugins report (site URLs,
// model names shown in analytics), then every admin page and fragment the router lists is rendered: no
// payload comes back as markup (no script, no event handler, no javascript: link, no htmx attribute), and
// Mustache never re-reads stored text as a template. The templates' unescaped {{{ }}} uses are audited too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { barChart, lineChart } from "../../src/app/http/admin/charts.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { concretePath, decodeEntities, protectedAdminRoutes } from "../support/admin_probe.ts";
import { dangerousMarkup } from "../support/html_safety.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { envFor, HELLO } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const SLOW = 120_000;
const PADDLE_SECRET = "pdl_ntfset_xss_suite_0123456789abcdef";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const SVG = "'><svg onload=alert(1)>";
const HTMX = '<div hx-get="/admin/logout" hx-trigger="load">x</div>';
const JS_URL = "javascript:alert(1)";
/** Template syntax: must come out as these very characters, never as a value of the view. */
const MUSTACHE = "{{csrf}}{{{body}}}{{#user}}{{email}}{{/user}}";
/** Everything at once (under 200 characters, the longest limit of the short fields). */
const ALL = `${SCRIPT}${IMG}${SVG}${MUSTACHE}`;
const HOSTILE_EMAIL = "<script>alert(1)</script>@example.com";
const HOSTILE_MODEL = "<img src=x onerror=alert(1)>";

const TEMPLATES = join(import.meta.dir, "..", "..", "templates");

let up: FakeUpstream;
let svc: TestService;
let admin: AdminSessionClient;
let token = "";
const ids = { customer: 0, license: 0, webhook: 0, outbox: 0 };
/** HTML answers of form posts (re-rendered forms with errors, result pages), checked like the pages. */
const postAnswers: Array<{ what: string; html: string }> = [];

function bearer(): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function keep(what: string, res: Response): Promise<string> {
  const html = await res.text();
  if ((res.headers.get("content-type") ?? "").includes("html")) postAnswers.push({ what, html });
  return html;
}

beforeAll(async () => {
  up = await startFakeUpstream();
  // The payment routes read their secret from the environment when the app is built; other test files in
  // this process must not inherit it.
  const saved = process.env.PADDLE_WEBHOOK_SECRET;
  process.env.PADDLE_WEBHOOK_SECRET = PADDLE_SECRET;
  try {
    svc = await startTestService(envFor(up));
  } finally {
    if (saved === undefined) delete process.env.PADDLE_WEBHOOK_SECRET;
    else process.env.PADDLE_WEBHOOK_SECRET = saved;
  }
  admin = await signedInAdmin(svc);
  const conn = svc.services.db.orm.em.getConnection();
  const tokenPage = await keep("token created", await admin.post("/admin/account/tokens", { name: ALL.slice(0, 100), scope: "write" }));
  token = /chtl_[0-9a-f]{40}/.exec(tokenPage)![0];

  // Plan display name, features and a hostile model name in the allow-list, first: chat reads plans through
  // a short cache, which nothing has filled yet.
  const plan = await svc.request("PATCH", "/api/admin/plans/3", {
    headers: bearer(),
    body: { display_name: ALL.slice(0, 100), features: [ALL, "white_label"], allowed_models: { openai: ["gpt-4o-mini", HOSTILE_MODEL] } },
  });
  expect(plan.status).toBe(200);

  // Customer through the admin form (and a refused one, whose form comes back with the values).
  const created = await admin.post("/admin/customers", { email: HOSTILE_EMAIL, name: ALL, company: ALL, notes: `${ALL}${HTMX}${JS_URL}` });
  expect(created.status).toBe(303);
  ids.customer = Number(/\/admin\/customers\/(\d+)/.exec(created.headers.get("location") ?? "")?.[1]);
  await keep("customer form with a bad e-mail", await admin.post("/admin/customers", { email: ALL, name: ALL, company: ALL, notes: ALL }));
  await keep("customer edit with a bad e-mail", await admin.post(`/admin/customers/${ids.customer}`, { email: JS_URL, name: ALL, company: ALL, notes: ALL }));

  // A license with hostile metadata (admin API), a refused hostile domain, and plugin-reported sites.
  const issued = await (await svc.request("POST", "/api/admin/licenses", { headers: bearer(), body: { email: HOSTILE_EMAIL, plan: "agency", metadata: { note: ALL, [SCRIPT]: IMG } } })).json();
  ids.license = issued.license.id;
  const key: string = issued.license_key;
  expect((await svc.request("POST", "/api/admin/licenses", { headers: bearer(), body: { email: "x@example.com", plan: "pro", domain: ALL } })).status).toBe(422);
  await keep("new license form with a hostile domain", await admin.post("/admin/licenses", { email: HOSTILE_EMAIL, plan: "pro", term: "", domain: ALL }));
  for (const site of [ALL, `https://${SCRIPT}.example.com`, `http://[::1]/${SCRIPT}`, JS_URL, "https://shop.example.com/?q=<script>alert(1)</script>"]) {
    const res = await svc.request("POST", "/api/activate", { key, body: { site_url: site } });
    expect(res.status).toBeLessThan(500);
  }

  // A chat with the hostile model name (below) is shown in analytics.
  const chat = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO, model: HOSTILE_MODEL } });
  expect(chat.status).toBe(200);
  await svc.services.usageRecorder.flush();

  // Webhooks: a hostile description and URL query, and a refused javascript: URL.
  const hook = await keep("webhook created", await admin.post("/admin/webhooks", { url: `https://hooks.example.com/x?q=${IMG}`, events: ["license.created"], description: ALL }));
  ids.webhook = Number(/\/admin\/webhooks\/(\d+)/.exec(hook)?.[1]);
  expect(ids.webhook).toBeGreaterThan(0);
  await keep("webhook refused", await admin.post("/admin/webhooks", { url: JS_URL, events: ["license.created"], description: ALL }));

  // Admins: a hostile name (the e-mail is refused or stored, both are fine), a failed sign-in echoing the e-mail.
  await keep("admin added", await admin.post("/admin/account/admins", { email: "second.admin@example.com", name: ALL, password: "a long enough password 123" }));
  await keep("admin refused", await admin.post("/admin/account/admins", { email: ALL, name: ALL, password: "short" }));
  await keep("sign-in refused", await svc.request("POST", "/admin/login", { rawBody: new URLSearchParams({ email: ALL, password: "x", next: ALL }).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } }));

  // Provider keys: a hostile key (only its last four are shown) and a hostile base URL label as stored.
  await keep("provider key", await admin.post("/admin/providers/anthropic/key", { api_key: `sk-${ALL}` }));
  await conn.execute("update provider_keys set base_url = ? where provider = 'openai'", [`https://api.example.com/v1?${IMG}`]);

  // CSV import rows (dry run: the preview and the per-row errors echo the values).
  await keep("CSV preview", await admin.post("/admin/bulk/import", { dry_run: "1", csv: `email,plan,months,lifetime,domain\n${HOSTILE_EMAIL},pro,1,,\n${ALL},${SCRIPT},${IMG},${SVG},${SCRIPT}\n` }));

  // A mail with hostile recipient, subject and body, and a Paddle event with hostile ids and names.
  await svc.services.outbox.enqueue({ dedupeKey: "xss:1", kind: "license_expired", to: `"${SCRIPT}"@example.com`, subject: ALL, text: ALL, html: `<p>${SCRIPT}</p>` }, svc.clock.now());
  ids.outbox = Number(((await conn.execute("select max(id) as id from mail_outbox")) as Array<{ id: unknown }>)[0].id);
  const now = svc.clock.now().toISOString();
  const event = { event_id: `evt_${SCRIPT}`, event_type: "customer.created", occurred_at: now, notification_id: "ntf_x", data: { id: `ctm_${IMG}`, email: "paddle.xss@example.com", name: ALL, status: "active", created_at: now, updated_at: now } };
  const raw = JSON.stringify(event);
  const ts = Math.floor(svc.clock.now().getTime() / 1000);
  const signature = `ts=${ts};h1=${createHmac("sha256", PADDLE_SECRET).update(`${ts}:${raw}`).digest("hex")}`;
  expect((await svc.request("POST", "/api/webhooks/paddle", { rawBody: raw, headers: { "content-type": "application/json", "paddle-signature": signature } })).status).toBeLessThan(500);
}, SLOW);

afterAll(async () => {
  await svc?.close();
  await up?.stop();
});

describe("stored payloads are shown as text on every admin page", () => {
  function pick(name: string, pattern: string): string | number {
    if (name === "provider") return "openai";
    if (/customer/.test(pattern)) return ids.customer;
    if (/licenses/.test(pattern)) return ids.license;
    if (/webhooks/.test(pattern)) return name === "deliveryId" ? 1 : ids.webhook;
    if (/outbox/.test(pattern)) return ids.outbox;
    if (/plans/.test(pattern)) return 3;
    return 1;
  }

  test("no page or fragment the router lists (plain and htmx) turns a stored payload into markup", async () => {
    const routes = protectedAdminRoutes(svc.app).filter((r) => r.method === "GET" && r.path.startsWith("/admin"));
    const paths = new Set(routes.map((r) => concretePath(r.path, pick)));
    for (const extra of [
      `/admin/customers?q=${encodeURIComponent(SCRIPT)}`,
      `/admin/licenses?q=${encodeURIComponent(ALL)}`,
      `/admin/licenses/new?email=${encodeURIComponent(ALL)}`,
      `/admin/audit?actor=${encodeURIComponent(ALL)}&action=${encodeURIComponent(IMG)}`,
      `/admin/analytics?from=${encodeURIComponent(ALL)}`,
      `/admin/login?next=${encodeURIComponent(JS_URL)}`,
    ]) paths.add(extra);
    const problems: string[] = [];
    let html = 0;
    for (const path of paths) {
      for (const hx of [false, true]) {
        const res = await admin.get(path, { hx });
        const body = await res.text();
        if (res.status >= 500) problems.push(`GET ${path}: ${res.status}`);
        if (!(res.headers.get("content-type") ?? "").includes("html")) continue;
        html += 1;
        for (const found of dangerousMarkup(body)) problems.push(`GET ${path}${hx ? " (htmx)" : ""}: ${found}`);
      }
    }
    for (const { what, html: body } of postAnswers) for (const found of dangerousMarkup(body)) problems.push(`${what}: ${found}`);
    expect(problems).toEqual([]);
    expect(html).toBeGreaterThan(40);
    expect(postAnswers.length).toBeGreaterThan(8);
  }, SLOW);

  test("the payloads are really on the pages, as the text that was stored", async () => {
    const text = async (path: string) => decodeEntities(await (await admin.get(path)).text());
    const expectations: Array<[string, string]> = [
      [`/admin/customers/${ids.customer}`, ALL],
      [`/admin/customers/${ids.customer}`, `${ALL}${HTMX}${JS_URL}`],
      ["/admin/customers", HOSTILE_EMAIL],
      [`/admin/licenses/${ids.license}`, SCRIPT],
      ["/admin/licenses", HOSTILE_EMAIL],
      ["/admin/plans", ALL.slice(0, 100)],
      ["/admin/plans/3", HOSTILE_MODEL],
      ["/admin", ALL.slice(0, 13)], // the plan chart's label, shortened
      ["/admin/analytics", HOSTILE_MODEL],
      ["/admin/webhooks", ALL],
      [`/admin/webhooks/${ids.webhook}`, IMG],
      ["/admin/account", ALL.slice(0, 100)],
      ["/admin/account", ALL],
      ["/admin/providers", IMG],
      [`/admin/outbox/${ids.outbox}`, ALL],
      ["/admin/outbox", ALL],
      ["/admin/audit", HOSTILE_EMAIL],
      ["/admin/payments", SCRIPT],
    ];
    const missing: string[] = [];
    for (const [path, payload] of expectations) if (!(await text(path)).includes(payload)) missing.push(`${path} does not show ${JSON.stringify(payload.slice(0, 30))}`);
    expect(missing).toEqual([]);
    for (const [what, payload] of [["CSV preview", HOSTILE_EMAIL], ["customer form with a bad e-mail", ALL], ["webhook refused", JS_URL], ["sign-in refused", ALL]] as const) {
      expect({ what, shown: postAnswers.some((a) => a.what === what && decodeEntities(a.html).includes(payload)) }).toEqual({ what, shown: true });
    }
  });

  test("Mustache never evaluates stored text: {{csrf}} and {{{body}}} come out as those characters", async () => {
    const page = await (await admin.get(`/admin/customers/${ids.customer}`)).text();
    expect(decodeEntities(page)).toContain(MUSTACHE);
    // The CSRF token appears where the layout and forms put it (meta tag, hidden inputs), never in the name.
    const occurrences = page.split(admin.csrf).length - 1;
    const placed = (page.match(new RegExp(`(content|value)="${admin.csrf}"`, "g")) ?? []).length;
    expect(occurrences).toBe(placed);
  });

  test("admin API answers carrying payloads are JSON, never HTML", async () => {
    for (const path of [`/api/admin/customers/${ids.customer}`, `/api/admin/licenses/${ids.license}`, "/api/admin/plans/3", "/api/admin/audit", "/api/admin/tokens", "/api/admin/usage"]) {
      const res = await svc.request("GET", path, { headers: bearer() });
      expect({ path, status: res.status, type: res.headers.get("content-type") ?? "" }).toMatchObject({ path, status: 200, type: expect.stringContaining("application/json") });
    }
    const compat = await admin.json("GET", `/api/customer/${ids.customer}`);
    expect(compat.headers.get("content-type") ?? "").toContain("application/json");
    expect(compat.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("unescaped output in templates", () => {
  /** Every {{{ }}} or {{& }} in templates/, each justified: only HTML the service built and escaped itself. */
  const TRUSTED: Record<string, string> = {
    "layout.html {{{body}}}": "the page body, rendered from an escaping template by render.ts page()",
    "dashboard.html {{{charts.perDay}}}": "SVG from charts.ts, which escapes every label and title",
    "dashboard.html {{{charts.byProvider}}}": "SVG from charts.ts",
    "dashboard.html {{{charts.byPlan}}}": "SVG from charts.ts",
    "_analytics_results.html {{{charts.requests}}}": "SVG from charts.ts",
    "_analytics_results.html {{{charts.cost}}}": "SVG from charts.ts",
    "_analytics_results.html {{{charts.providers}}}": "SVG from charts.ts",
  };

  test("every triple mustache in templates/ is on the audited list, and no template changes the delimiters", () => {
    const found: string[] = [];
    const delimiters: string[] = [];
    for (const file of readdirSync(TEMPLATES).filter((f) => f.endsWith(".html"))) {
      const source = readFileSync(join(TEMPLATES, file), "utf8");
      for (const m of source.matchAll(/\{\{\{\s*([^}]+?)\s*\}\}\}|\{\{&\s*([^}]+?)\s*\}\}/g)) found.push(`${file} {{{${m[1] ?? m[2]}}}}`);
      if (/\{\{=/.test(source)) delimiters.push(file);
    }
    expect(found.sort()).toEqual(Object.keys(TRUSTED).sort());
    expect(delimiters).toEqual([]);
  });

  test("the charts embedded unescaped escape every label, title and value they are given", () => {
    const points = [HOSTILE_MODEL, SCRIPT, IMG, SVG, HTMX, ALL].map((label, i) => ({ label, value: i + 1 }));
    const options = { title: ALL, xTitle: IMG, yTitle: SCRIPT, points, format: (v: number) => `${SVG}${v}` };
    for (const svg of [barChart(options), lineChart(options)]) {
      expect(dangerousMarkup(svg)).toEqual([]);
      const tags = new Set([...svg.matchAll(/<([a-zA-Z][\w:-]*)/g)].map((m) => m[1]));
      expect([...tags].sort()).toEqual(["circle", "line", "path", "rect", "svg", "text", "title"].filter((t) => tags.has(t)).sort());
      expect([...tags].every((t) => ["circle", "line", "path", "rect", "svg", "text", "title"].includes(t))).toBe(true);
      expect(decodeEntities(svg)).toContain(ALL);
    }
  });
});
