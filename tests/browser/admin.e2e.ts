// The admin's everyday flow in Chromium against the real service: sign in with the first-start password,
// issue a license to a new e-mail, find the new customer, suspend and reactivate the license, edit the
// customer, change a plan limit, look at the analytics chart, export CSV, sign out. Every page is saved as
// a screenshot (the directory is printed), and the browser must never contact another host.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { describeBrowser, launchBrowser } from "../support/browser.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { startServer, type RunningServer } from "../support/server.ts";

const SETUP_MS = 60_000;
const STEP_MS = 30_000;
const UI_MS = 5_000;
const KEY_PATTERN = /CHA-[0-9A-Z]{8}-[0-9A-Z]{8}-[0-9A-Z]{8}-[0-9A-Z]{8}/;

describeBrowser("admin area in a browser", () => {
  let service: RunningServer | undefined;
  let upstream: FakeUpstream | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let shotDir = "";
  let shots = 0;
  let admin = { email: "", password: "" };
  const foreign: string[] = [];
  const cspViolations: string[] = [];
  const customerEmail = `e2e.buyer.${Date.now()}@example.com`;
  let licenseKey = "";

  beforeAll(async () => {
    shotDir = await mkdtemp(join(tmpdir(), "chatello-admin-e2e-"));
    console.log(`[admin e2e] screenshots: ${shotDir}`);
    upstream = await startFakeUpstream();
    service = await startServer({ OPENAI_BASE_URL: upstream.openaiBaseUrl, OPENAI_API_KEY: "sk-e2e-test" });
    const output = service.output();
    const email = /e-mail:\s+(\S+@\S+)/.exec(output)?.[1];
    const password = /password:\s+(\S+)/.exec(output)?.[1];
    if (!email || !password) throw new Error(`the first start printed no admin credentials:\n${output}`);
    admin = { email, password };
    browser = await launchBrowser();
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const own = new URL(service.url).origin;
    context.on("request", (request) => {
      const url = request.url();
      if (/^(data|blob|about):/.test(url)) return;
      if (new URL(url).origin !== own) foreign.push(`${request.method()} ${url}`);
    });
    page = await context.newPage();
    page.setDefaultTimeout(UI_MS);
    page.on("dialog", (dialog) => void dialog.accept()); // hx-confirm and confirm() prompts
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to (execute|load|apply)/i.test(message.text())) cspViolations.push(message.text());
    });
  }, SETUP_MS);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await service?.stop();
    await upstream?.stop();
    console.log(`[admin e2e] ${shots} screenshot(s) in ${shotDir}`);
  }, SETUP_MS);

  async function shot(name: string): Promise<void> {
    shots += 1;
    await page.screenshot({ path: join(shotDir, `${String(shots).padStart(2, "0")}_${name}.png`), fullPage: true });
  }

  /** Opens an admin page and requires it to render (not 404, not the sign-in form). */
  async function open(path: string): Promise<void> {
    const response = await page.goto(`${service!.url}${path}`);
    const status = response?.status() ?? 0;
    if (status >= 400) {
      await shot(`missing_${path.replace(/\W+/g, "_")}`);
      throw new Error(`GET ${path} answered ${status}: the page is not built or broken (${(await page.content()).slice(0, 200)})`);
    }
    expect(new URL(page.url()).pathname).not.toBe("/admin/login");
  }

  /** The first visible element among candidates, or null. */
  async function firstVisible(...candidates: Locator[]): Promise<Locator | null> {
    for (const candidate of candidates) {
      const count = await candidate.count();
      for (let i = 0; i < count; i++) if (await candidate.nth(i).isVisible()) return candidate.nth(i);
    }
    return null;
  }

  async function validate(key: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${service!.url}/api/validate`, { method: "POST", headers: { "X-License-Key": key, "Content-Type": "application/json" }, body: "{}" });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  test("sign in with the first-start password", async () => {
    await page.goto(`${service!.url}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    await shot("login");
    await page.getByLabel(/e-?mail/i).fill(admin.email);
    await page.getByLabel(/password/i).fill(admin.password);
    await Promise.all([page.waitForURL((url) => url.pathname !== "/admin/login"), page.getByRole("button", { name: /sign in/i }).click()]);
    expect(new URL(page.url()).pathname).toBe("/admin");
    const cookie = (await context!.cookies()).find((c) => c.name === "chatello_admin");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Lax");
    await expect(page.getByRole("button", { name: /sign out/i }).isVisible()).resolves.toBe(true);
    await shot("dashboard");
    const status = await page.evaluate(async () => (await fetch(location.href)).status);
    expect(status).toBe(200);
  }, STEP_MS);

  test("create a license for a new e-mail on /admin/licenses", async () => {
    await open("/admin/licenses");
    await shot("licenses");
    // The list has a filter box labelled with "e-mail" too: open the creation form first when there is one.
    const opener = await firstVisible(
      page.getByRole("link", { name: /(new|create|issue) license/i }),
      page.getByRole("button", { name: /(new|create|issue) license/i }),
    );
    if (opener) {
      await opener.click();
      await page.waitForLoadState("networkidle");
    }
    const email = await firstVisible(
      page.getByRole("textbox", { name: /customer e-?mail/i }),
      page.locator("form").filter({ has: page.getByRole("button", { name: /create|issue/i }) }).getByRole("textbox", { name: /e-?mail/i }),
    );
    if (!email) throw new Error("no e-mail field to issue a license with");
    await email.fill(customerEmail);
    const form = page.locator("form").filter({ has: email });
    const plan = await firstVisible(form.getByRole("combobox", { name: /^\s*plan/i }));
    if (plan) {
      const options = await plan.locator("option").allTextContents();
      const pro = options.find((o) => /\bpro\b/i.test(o));
      if (pro) await plan.selectOption({ label: pro });
    }
    await shot("license_form");
    const submit = await firstVisible(form.getByRole("button", { name: /create|issue|save|add/i }));
    if (!submit) throw new Error("no button to create the license");
    await submit.click();
    await expect(page.getByText(KEY_PATTERN).first().waitFor({ timeout: UI_MS }).then(() => true)).resolves.toBe(true);
    licenseKey = KEY_PATTERN.exec(await page.content())![0];
    await shot("license_created");
    expect((await validate(licenseKey)).status).toBe(200);
  }, STEP_MS);

  test("the new customer is listed on /admin/customers", async () => {
    await open("/admin/customers");
    await expect(page.getByText(customerEmail).first().isVisible()).resolves.toBe(true);
    await shot("customers");
  }, STEP_MS);

  test("suspend the license, then reactivate it", async () => {
    if (!licenseKey) throw new Error("no license was created in the previous step");
    const prefix = licenseKey.slice(0, 12);
    // Wherever the admin finds it: the licenses list row, or the license's own page.
    await open(`/admin/licenses?q=${encodeURIComponent(customerEmail)}`);
    let scope: Locator = page.locator("tr", { hasText: customerEmail });
    if ((await scope.count()) === 0) scope = page.locator("main");
    let suspend = await firstVisible(scope.getByRole("button", { name: /suspend/i }));
    if (!suspend) {
      const link = await firstVisible(scope.getByRole("link", { name: new RegExp(`${prefix}|view|details|open`, "i") }), page.getByRole("link", { name: new RegExp(prefix, "i") }));
      if (!link) throw new Error("no Suspend button and no link to the license on /admin/licenses");
      await link.click();
      await page.waitForLoadState("networkidle");
      scope = page.locator("main");
      suspend = await firstVisible(scope.getByRole("button", { name: /suspend/i }));
    }
    if (!suspend) throw new Error("no Suspend button for the new license");
    await suspend.click();
    await page.waitForLoadState("networkidle");
    const reactivate = await page.getByRole("button", { name: /reactivate/i }).first().waitFor({ timeout: UI_MS }).then(
      () => page.getByRole("button", { name: /reactivate/i }).first(),
    );
    await expect(page.getByText(/suspended/i).first().isVisible()).resolves.toBe(true);
    await shot("license_suspended");
    const suspended = await validate(licenseKey);
    expect(suspended.status).toBe(401);
    expect(suspended.body.code).toBe("license_inactive");
    await reactivate.click();
    await page.getByRole("button", { name: /suspend/i }).first().waitFor({ timeout: UI_MS });
    await shot("license_reactivated");
    expect((await validate(licenseKey)).status).toBe(200);
  }, STEP_MS);

  test("edit the customer", async () => {
    await open(`/admin/customers?q=${encodeURIComponent(customerEmail)}`);
    const row = page.locator("tr", { hasText: customerEmail });
    const link = await firstVisible(row.getByRole("link"), page.getByRole("link", { name: customerEmail }));
    if (!link) throw new Error(`no link to the customer ${customerEmail} on /admin/customers`);
    await link.click();
    await page.waitForLoadState("networkidle");
    await shot("customer_detail");
    const edit = await firstVisible(page.getByRole("link", { name: /edit/i }), page.getByRole("button", { name: /edit/i }));
    if (edit) {
      await edit.click();
      await page.waitForLoadState("networkidle");
    }
    const name = await firstVisible(page.getByRole("textbox", { name: /^\s*name\b/i }), page.getByLabel(/^name/i));
    if (!name) throw new Error("no Name field to edit the customer");
    await name.fill("Renamed E2E Customer");
    const notes = await firstVisible(page.getByRole("textbox", { name: /notes/i }));
    await notes?.fill("Edited by the browser test <b>not bold</b>");
    await shot("customer_edit");
    await page.getByRole("button", { name: /save|update/i }).first().click();
    await page.getByText("Renamed E2E Customer").first().waitFor({ timeout: UI_MS });
    await shot("customer_saved");
    if (notes) expect(await page.locator("b", { hasText: "not bold" }).count()).toBe(0);
    await open(`/admin/customers?q=${encodeURIComponent(customerEmail)}`);
    await expect(page.getByText("Renamed E2E Customer").first().isVisible()).resolves.toBe(true);
  }, STEP_MS);

  test("change a plan limit on /admin/plans", async () => {
    await open("/admin/plans");
    await shot("plans");
    const row = page.locator("tr").filter({ has: page.locator("code", { hasText: /^pro$/ }) });
    const edit = await firstVisible(row.getByRole("link", { name: /edit/i }), row.getByRole("button", { name: /edit/i }));
    if (!edit) throw new Error("no Edit for the pro plan on /admin/plans");
    await edit.click();
    await page.waitForLoadState("networkidle");
    const monthly = page.getByRole("textbox", { name: /monthly requests/i });
    await monthly.fill("4321");
    await shot("plan_edit");
    await page.getByRole("button", { name: /save/i }).first().click();
    await page.waitForURL((url) => url.pathname === "/admin/plans");
    const saved = page.locator("tr").filter({ has: page.locator("code", { hasText: /^pro$/ }) });
    await expect(saved.innerText()).resolves.toMatch(/4[,.\s]?321/);
    await shot("plan_saved");
  }, STEP_MS);

  test("analytics renders a chart", async () => {
    // Some usage first, through the proxy and the fake provider, so the chart has something to draw.
    if (licenseKey) {
      const chat = await fetch(`${service!.url}/api/chat`, {
        method: "POST",
        headers: { "X-License-Key": licenseKey, "Content-Type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }] }),
      });
      await chat.text();
      expect(chat.status).toBe(200);
      await Bun.sleep(1_500); // usage rows are written in batches
    }
    await open("/admin/analytics");
    const svg = page.locator("main svg").first();
    await svg.waitFor({ timeout: UI_MS });
    const shapes = await svg.locator("rect, path, polyline, line, circle, polygon").count();
    expect(shapes).toBeGreaterThan(0);
    const box = await svg.boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(50);
    expect(box?.height ?? 0).toBeGreaterThan(50);
    await shot("analytics");
  }, STEP_MS);

  test("export CSV", async () => {
    const link = await firstVisible(
      page.locator('main a[href*="csv" i]'),
      page.getByRole("link", { name: /csv|export/i }),
      page.getByRole("button", { name: /csv|export/i }),
    );
    if (!link) throw new Error("no CSV export link on /admin/analytics");
    const href = await link.getAttribute("href");
    if (href) {
      const result = await page.evaluate(async (url) => {
        const response = await fetch(url);
        return { status: response.status, type: response.headers.get("content-type") ?? "", disposition: response.headers.get("content-disposition") ?? "", body: await response.text() };
      }, href);
      expect(result.status).toBe(200);
      expect(result.type).toMatch(/text\/csv/);
      expect(result.disposition).toMatch(/attachment/i);
      expect(result.body.split(/\r?\n/)[0]).toContain(",");
    }
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: UI_MS }), link.click()]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/i);
    await download.saveAs(join(shotDir, download.suggestedFilename()));
  }, STEP_MS);

  test("sign out", async () => {
    await open("/admin/account");
    await Promise.all([page.waitForURL((url) => url.pathname === "/admin/login"), page.getByRole("button", { name: /sign out/i }).click()]);
    await shot("signed_out");
    expect((await context!.cookies()).find((c) => c.name === "chatello_admin" && c.value !== "")).toBeUndefined();
    await page.goto(`${service!.url}/admin/customers`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
  }, STEP_MS);

  test("the browser contacted no other host and the CSP blocked nothing", () => {
    expect(foreign).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
