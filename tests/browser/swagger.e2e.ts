// The API documentation in Chromium against the real service: /swagger renders the operations from the
// service's own assets (any request to another host fails the suite), and "Try it out" on
// POST /api/validate works with a real license key given through "Authorize" (200, "valid": true), and
// answers 401 with a bad key, all under the page's CSP (no inline script). A screenshot of each step is
// saved (the directory is printed).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { describeBrowser, launchBrowser } from "../support/browser.ts";
import { startServer, type RunningServer } from "../support/server.ts";

const SETUP_MS = 60_000;
const STEP_MS = 30_000;
const UI_MS = 10_000;
const KEY_PATTERN = /^CHA-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}$/;
const BAD_KEY = "CHA-00000000-00000000-00000000-00000000";

const repoRoot = resolve(import.meta.dir, "..", "..");

function bunExecutable(): string {
  const pinned = join(repoRoot, "node_modules", ".bin", "bun");
  return existsSync(pinned) ? pinned : process.execPath;
}

describeBrowser("API documentation (Swagger UI) in a browser", () => {
  let service: RunningServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let dataDir = "";
  let serviceEnv: Record<string, string> = {};
  let shotDir = "";
  let shots = 0;
  let licenseKey = "";
  const foreign: string[] = [];
  const failed: string[] = [];
  const consoleLines: string[] = [];
  const cspViolations: string[] = [];

  /** Runs the CLI against the service's database (same DATABASE_URL and DATA_DIR as the server). */
  async function cli(...args: string[]): Promise<string> {
    const child = Bun.spawn([bunExecutable(), join(repoRoot, "src", "app", "main.ts"), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...serviceEnv },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`CLI \`${args.join(" ")}\` exited with ${code}\nstdout:\n${out}\nstderr:\n${err}`);
    return out;
  }

  beforeAll(async () => {
    shotDir = await mkdtemp(join(tmpdir(), "chatello-swagger-e2e-"));
    console.log(`[swagger e2e] screenshots: ${shotDir}`);
    // Our own data directory, so the CLI can reach the server's database (the server's own temp dir is private).
    dataDir = await mkdtemp(join(tmpdir(), "chatello-swagger-data-"));
    serviceEnv = { DATABASE_URL: `sqlite:${join(dataDir, "chatello.db")}`, DATA_DIR: dataDir, LOG_LEVEL: "warn" };
    service = await startServer(serviceEnv);

    const created = await cli("license", "create", "--email", "x@example.com", "--plan", "pro");
    const line = created.trim().split("\n").reverse().find((l) => l.trim().startsWith("{"));
    licenseKey = line ? String((JSON.parse(line) as { license_key?: unknown }).license_key ?? "") : "";
    if (!KEY_PATTERN.test(licenseKey)) throw new Error(`the CLI printed no license key:\n${created}`);

    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const own = new URL(service.url).origin;
    context.on("request", (request) => {
      const url = request.url();
      if (/^(data|blob|about):/.test(url)) return;
      if (new URL(url).origin !== own) foreign.push(`${request.method()} ${url}`);
    });
    context.on("requestfailed", (request) => failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText ?? "failed"}`));
    page = await context.newPage();
    page.setDefaultTimeout(UI_MS);
    page.on("console", (message) => {
      consoleLines.push(`${message.type()}: ${message.text()}`);
      if (/Content Security Policy|Refused to (execute|load|apply|evaluate)/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));
  }, SETUP_MS);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await service?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    console.log(`[swagger e2e] ${shots} screenshot(s) in ${shotDir}`);
  }, SETUP_MS);

  async function shot(name: string): Promise<void> {
    shots += 1;
    await page.screenshot({ path: join(shotDir, `${String(shots).padStart(2, "0")}_${name}.png`), fullPage: true });
  }

  /** Adds what the browser saw to a failure, so a broken page explains itself. */
  async function explain<T>(step: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      await shot(`failed_${step}`).catch(() => {});
      const detail = [
        `step: ${step}`,
        `screenshots: ${shotDir}`,
        `browser console:\n${consoleLines.join("\n") || "(empty)"}`,
        `failed requests:\n${failed.join("\n") || "(none)"}`,
      ].join("\n");
      throw new Error(`${(error as Error).message}\n${detail}`);
    }
  }

  /** The POST /api/validate operation block. */
  function validateOperation(): Locator {
    return page.locator(".opblock.opblock-post").filter({ has: page.locator('.opblock-summary-path[data-path="/api/validate"]') });
  }

  /** Expands POST /api/validate and switches it to "Try it out" (both only when not done yet), with an empty JSON body. */
  async function openTryOut(): Promise<Locator> {
    const operation = validateOperation();
    if (!(await operation.locator(".opblock-body").count())) {
      await operation.locator(".opblock-summary-control, .opblock-summary").first().click();
    }
    await operation.locator(".opblock-body").waitFor({ state: "visible" });
    // The button reads "Try it out" until pressed, then "Cancel" (next to "Reset").
    if (!(await operation.locator("button.try-out__btn.cancel").count())) await operation.locator("button.try-out__btn").first().click();
    await operation.locator("button.execute").waitFor({ state: "visible" });
    const bodyEditor = operation.locator("textarea.body-param__text");
    if (await bodyEditor.count()) await bodyEditor.fill("{}");
    return operation;
  }

  /** Sets (or with null, removes) the licenseKey authorization through the Authorize dialog. */
  async function authorizeLicenseKey(key: string | null): Promise<void> {
    await page.locator(".scheme-container .btn.authorize, .auth-wrapper .btn.authorize").first().click();
    const dialog = page.locator(".dialog-ux .modal-ux");
    await dialog.waitFor({ state: "visible" });
    const container = dialog.locator(".auth-container").filter({ has: page.locator("h4", { hasText: /^\s*licenseKey\b/ }) });
    await expect(container.count()).resolves.toBe(1);
    const logout = container.locator("button.btn.modal-btn.auth", { hasText: /logout/i });
    if (await logout.count()) await logout.click();
    if (key !== null) {
      await container.locator("input:not([type=hidden])").first().fill(key);
      await container.locator("button.btn.modal-btn.auth.authorize").click();
      await container.locator("button.btn.modal-btn.auth", { hasText: /logout/i }).waitFor({ state: "visible" });
    }
    await shot(key === null ? "authorize_cleared" : key === licenseKey ? "authorized" : "authorized_bad_key");
    await dialog.locator("button.btn-done, button.close-modal").first().click();
    await dialog.waitFor({ state: "detached" });
  }

  /** Executes the open, tried-out operation and returns the live response's status and body text. */
  async function execute(operation: Locator): Promise<{ status: string; body: string }> {
    const clear = operation.locator("button.btn-clear");
    if (await clear.count()) await clear.click();
    await operation.locator(".live-responses-table").waitFor({ state: "detached" });
    await operation.locator("button.execute").click();
    const live = operation.locator(".responses-wrapper .live-responses-table");
    try {
      await live.waitFor({ state: "visible" });
    } catch (error) {
      // Swagger UI silently skips Execute when its own checks fail, e.g. a required body with no media type.
      const spec = (await (await fetch(`${service!.url}/swagger/json`)).json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
      throw new Error(
        `Execute produced no live response: ${(error as Error).message.split("\n")[0]}\n` +
          `requestBody of POST /api/validate in /swagger/json: ${JSON.stringify(spec.paths["/api/validate"]?.post?.requestBody)} ` +
          "(Swagger UI refuses to execute when a required body has no media type, as it then has no editor to fill)",
      );
    }
    const row = live.locator("tbody tr.response").first();
    const status = (await row.locator(".response-col_status").innerText()).trim();
    const body = await row.locator(".response-col_description .highlight-code, .response-col_description pre").first().innerText();
    return { status, body };
  }

  test("/swagger renders every operation from the service's own assets", async () => {
    await explain("render", async () => {
      const response = await page.goto(`${service!.url}/swagger`);
      expect(response?.status()).toBe(200);
      await page.locator(".swagger-ui .info .title").waitFor({ state: "visible" });
      await validateOperation().waitFor({ state: "visible" });
      await page.waitForLoadState("networkidle");
      expect(await page.locator(".swagger-ui .info .title").innerText()).toContain("Chatello API");
      expect(await page.locator(".opblock").count()).toBeGreaterThan(5);
      await expect(page.locator(".swagger-ui .errors-wrapper").count()).resolves.toBe(0);
      await shot("swagger");
    });
    expect(foreign).toEqual([]);
    expect(failed).toEqual([]);
  }, STEP_MS);

  test("Try it out on POST /api/validate with a license key from Authorize answers 200 and valid: true", async () => {
    await explain("try_it_out_valid", async () => {
      // Swagger UI only sends the key to operations that declare it.
      const spec = (await (await fetch(`${service!.url}/swagger/json`)).json()) as {
        security?: Record<string, string[]>[];
        paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
      };
      const security = spec.paths["/api/validate"]?.post?.security ?? spec.security ?? [];
      if (!security.some((requirement) => "licenseKey" in requirement)) {
        throw new Error(
          "POST /api/validate does not declare the licenseKey security scheme in /swagger/json, so Swagger UI's " +
            `Authorize cannot send X-License-Key with "Try it out" (security: ${JSON.stringify(security)})`,
        );
      }

      await authorizeLicenseKey(licenseKey);
      const operation = await openTryOut();
      await shot("try_it_out");

      const result = await execute(operation);
      await operation.scrollIntoViewIfNeeded();
      await shot("validate_200");
      expect(result.status).toBe("200");
      expect(result.body).toContain('"valid": true');
      expect(result.body).toContain('"plan": "pro"');
      // The curl command Swagger UI shows carries the key it sent.
      expect(await operation.locator(".curl-command").innerText()).toContain(`X-License-Key: ${licenseKey}`);
    });
  }, STEP_MS);

  test("the same operation with a bad key, then with no key, answers 401", async () => {
    await explain("try_it_out_401", async () => {
      await authorizeLicenseKey(BAD_KEY);
      const operation = await openTryOut();
      const bad = await execute(operation);
      await shot("validate_bad_key_401");
      expect(bad.status).toBe("401");
      expect(bad.body).toContain('"code": "license_invalid"');

      await authorizeLicenseKey(null);
      const none = await execute(operation);
      await shot("validate_no_key_401");
      expect(none.status).toBe("401");
      expect(none.body).toContain('"code": "license_missing"');
    });
  }, STEP_MS);

  test("the browser never contacted another host, no request failed and the page's CSP blocked nothing", () => {
    expect(foreign).toEqual([]);
    expect(failed).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
