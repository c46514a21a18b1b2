// Stored XSS in a real browser: hostile text typed into the admin's own forms (customer, webhook, token,
// plan) and sent through the admin API and a plugin chat (license metadata, a model name shown in
// analytics), then the pages that show it are opened in Chromium, including an htmx search that swaps the
// payload in. No dialog may open, no CSP violation may be reported (a blocked inline script would still be
// an injection), no script or event-handler attribute may exist in the DOM, and the payload must be there
// as text.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { describeBrowser, launchBrowser } from "../support/browser.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { startServer, type RunningServer } from "../support/server.ts";

const SETUP_MS = 60_000;
const STEP_MS = 60_000;
const UI_MS = 5_000;

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const SVG = "'><svg onload=alert(1)>";
const ALL = `${SCRIPT}${IMG}${SVG}{{csrf}}{{{body}}}`;
const MODEL = "<img src=x onerror=alert(2)>";

describeBrowser("stored XSS payloads in a browser", () => {
  let service: RunningServer | undefined;
  let upstream: FakeUpstream | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  const dialogs: string[] = [];
  const consoleViolations: string[] = [];
  const pageErrors: string[] = [];
  const ids = { customer: 0, license: 0, webhook: 0 };

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    service = await startServer({ OPENAI_BASE_URL: upstream.openaiBaseUrl, OPENAI_API_KEY: "sk-e2e-xss-0000" });
    const output = service.output();
    const email = /e-mail:\s+(\S+@\S+)/.exec(output)?.[1];
    const password = /password:\s+(\S+)/.exec(output)?.[1];
    if (!email || !password) throw new Error(`the first start printed no admin credentials:\n${output}`);
    browser = await launchBrowser();
    context = await browser.newContext();
    // Collected in the page itself, before any of its scripts run.
    await context.addInitScript(() => {
      const w = window as unknown as { __violations: string[] };
      w.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page = await context.newPage();
    page.setDefaultTimeout(UI_MS);
    page.on("dialog", (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to (execute|load|apply)/i.test(message.text())) consoleViolations.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`${service.url}/admin/login`);
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForURL((url) => url.pathname === "/admin"), page.click('button[type="submit"]')]);
  }, SETUP_MS);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await service?.stop();
    await upstream?.stop();
  }, SETUP_MS);

  /** Opens a page, waits for htmx and any image error handlers, and checks the DOM holds the payload as text only. */
  async function inspect(path: string, shown: string): Promise<void> {
    const response = await page.goto(`${service!.url}${path}`);
    expect({ path, status: response?.status() }).toEqual({ path, status: 200 });
    await page.waitForLoadState("networkidle");
    await checkDom(path, shown);
  }

  async function checkDom(where: string, shown: string): Promise<void> {
    const dom = await page.evaluate(() => {
      const all = [...document.querySelectorAll("*")];
      return {
        scripts: [...document.querySelectorAll("script")].map((s) => s.getAttribute("src") ?? "inline"),
        handlers: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
        jsLinks: all.flatMap((e) => [...e.attributes].filter((a) => /^\s*javascript:/i.test(a.value)).map((a) => `${e.tagName} ${a.name}`)),
        imagesX: document.querySelectorAll('img[src="x"]').length,
        svgs: [...document.querySelectorAll("svg")].filter((s) => s.closest(".card, .chart") === null).length,
        text: document.body.innerText + [...document.querySelectorAll("input, textarea")].map((i) => (i as HTMLInputElement).value).join(" "),
        violations: (window as unknown as { __violations: string[] }).__violations,
      };
    });
    expect({ where, scripts: dom.scripts }).toEqual({ where, scripts: ["/admin/assets/htmx.min.js", "/admin/assets/admin.js"] });
    expect({ where, handlers: dom.handlers, jsLinks: dom.jsLinks, imagesX: dom.imagesX, strayed: dom.svgs }).toEqual({ where, handlers: [], jsLinks: [], imagesX: 0, strayed: 0 });
    expect({ where, violations: dom.violations }).toEqual({ where, violations: [] });
    expect({ where, shown: dom.text.includes(shown) }).toEqual({ where, shown: true });
    expect({ where, dialogs, consoleViolations, pageErrors }).toEqual({ where, dialogs: [], consoleViolations: [], pageErrors: [] });
  }

  /** A request with the page's session and CSRF token (the browser's cookies; same origin, so no Origin check trips). */
  async function csrf(): Promise<string> {
    return (await page.getAttribute('meta[name="csrf-token"]', "content")) ?? "";
  }

  test("payloads typed into the customer, webhook and token forms are stored", async () => {
    await page.goto(`${service!.url}/admin/customers/new`);
    await page.fill('input[name="email"]', "xss.browser@example.com");
    await page.fill('input[name="name"]', ALL);
    await page.fill('input[name="company"]', IMG);
    await page.fill('textarea[name="notes"]', `${SCRIPT}\njavascript:alert(1)`);
    await Promise.all([page.waitForURL(/\/admin\/customers\/\d+/), page.click('#customer-form button[type="submit"]')]);
    ids.customer = Number(/\/admin\/customers\/(\d+)/.exec(page.url())![1]);
    await checkDom("after saving the customer", ALL);

    await page.goto(`${service!.url}/admin/webhooks`);
    await page.fill('input[name="url"]', `https://hooks.example.com/x?q=${encodeURIComponent(IMG)}`);
    await page.check('input[name="events"] >> nth=0');
    await page.fill('input[name="description"]', ALL);
    await Promise.all([page.waitForLoadState("networkidle"), page.click('form[action="/admin/webhooks"] button[type="submit"]')]);
    await checkDom("the webhook created page", "Signing secret");
    ids.webhook = Number(/\/admin\/webhooks\/(\d+)/.exec(await page.content())![1]);

    await page.goto(`${service!.url}/admin/account`);
    await page.fill('form[action="/admin/account/tokens"] input[name="name"]', ALL.slice(0, 100));
    await page.selectOption('form[action="/admin/account/tokens"] select[name="scope"]', "write");
    await Promise.all([page.waitForLoadState("networkidle"), page.click('form[action="/admin/account/tokens"] button[type="submit"]')]);
    await checkDom("the token created page", ALL.slice(0, 100));
  }, STEP_MS);

  test("payloads sent through the admin API and a plugin chat are stored", async () => {
    const token = /chtl_[0-9a-f]{40}/.exec(await page.content())?.[0];
    if (!token) throw new Error("the account page showed no new token");
    const api = (method: string, path: string, body: unknown) =>
      fetch(`${service!.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    // The model goes into the plan's allow-list; chat sees plan changes within 5 seconds (a cache).
    const plan = await api("PATCH", "/api/admin/plans/3", { display_name: ALL.slice(0, 100), allowed_models: { openai: ["gpt-4o-mini", MODEL] } });
    expect(plan.status).toBe(200);
    const issued = (await (await api("POST", "/api/admin/licenses", { email: "xss.browser@example.com", plan: "agency", metadata: { note: ALL } })).json()) as { license_key: string; license: { id: number } };
    ids.license = issued.license.id;
    const chat = () =>
      fetch(`${service!.url}/api/chat`, {
        method: "POST",
        headers: { "x-license-key": issued.license_key, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: SCRIPT }] }),
      });
    let status = (await chat()).status;
    for (let i = 0; i < 8 && status === 400; i++) {
      await Bun.sleep(1_000);
      status = (await chat()).status;
    }
    expect(status).toBe(200);
    await Bun.sleep(600); // usage is written in batches off the request path
    expect(await csrf()).toMatch(/^[0-9a-f]+$/);
  }, STEP_MS);

  test("the pages that show them run no script, report no CSP violation and show the payload as text", async () => {
    await inspect("/admin/customers", ALL);
    await inspect(`/admin/customers/${ids.customer}`, IMG);
    await checkDom(`/admin/customers/${ids.customer} notes`, "javascript:alert(1)");
    await inspect(`/admin/customers/${ids.customer}/edit`, ALL);
    await inspect(`/admin/licenses/${ids.license}`, ALL);
    await inspect("/admin/webhooks", ALL);
    await inspect(`/admin/webhooks/${ids.webhook}`, "hooks.example.com");
    await inspect("/admin/plans", ALL.slice(0, 100));
    await inspect("/admin/plans/3", MODEL);
    await inspect("/admin/account", ALL.slice(0, 100));
    await inspect("/admin/audit", "xss.browser@example.com");
    await inspect("/admin/analytics", MODEL);
    await inspect("/admin", "Dashboard");
  }, STEP_MS);

  test("an htmx search swaps the payload in as text, and the token revoke confirmation shows it as text", async () => {
    await page.goto(`${service!.url}/admin/customers`);
    await page.fill('input[name="q"]', SCRIPT);
    await Promise.all([page.waitForResponse((r) => r.url().includes("/admin/customers?") && r.status() === 200), page.press('input[name="q"]', "Enter")]);
    await page.waitForLoadState("networkidle");
    await checkDom("the htmx customer search", ALL);
    // hx-confirm prompts with the token's name: a confirm dialog holding the text, never an alert.
    await page.goto(`${service!.url}/admin/account`);
    const revoke = page.locator('form[action*="/revoke"] button[type="submit"]').first();
    await revoke.click();
    await page.waitForTimeout(300);
    expect(dialogs.length).toBe(1);
    expect(dialogs[0].startsWith("confirm: Revoke the token")).toBe(true);
    expect(dialogs[0]).toContain(SCRIPT);
    dialogs.length = 0;
    await checkDom("the account page after the prompt", ALL.slice(0, 100));
  }, STEP_MS);
});
