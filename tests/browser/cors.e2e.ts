// The plugin API is called from WordPress admin pages on other origins, so a real browser must be
// allowed to read its answers after a CORS preflight. Also renders the service's front page.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { describeBrowser, launchBrowser } from "../support/browser.ts";
import { startServer, type RunningServer } from "../support/server.ts";

const unknownKey = "CHA-00000000-00000000-00000000-00000000";
const setupTimeoutMs = 60_000;

describeBrowser("plugin API in a browser", () => {
  let service: RunningServer | undefined;
  let pageServer: ReturnType<typeof Bun.serve> | undefined;
  let browser: Browser | undefined;
  let shotDir: string | undefined;

  beforeAll(async () => {
    // The page lives on a second local server, so its origin differs from the service's by port.
    pageServer = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response("<!doctype html><html><head><title>plugin page</title></head><body>plugin</body></html>", {
          headers: { "Content-Type": "text/html; charset=utf-8" },
        }),
    });
    shotDir = await mkdtemp(join(tmpdir(), "chatello-shot-"));
    browser = await launchBrowser();
    service = await startServer();
  }, setupTimeoutMs);

  afterAll(async () => {
    await browser?.close();
    await pageServer?.stop(true);
    await service?.stop();
    if (shotDir) await rm(shotDir, { recursive: true, force: true });
  }, setupTimeoutMs);

  /** Opens a fresh page on the plugin origin, recording console output for error messages. */
  async function openPluginPage(): Promise<{ page: Page; consoleLines: string[] }> {
    const page = await browser!.newPage();
    const consoleLines: string[] = [];
    page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    await page.goto(pageServer!.url.href);
    return { page, consoleLines };
  }

  test("a page on another origin can read the 401 for an unknown license key after a preflight", async () => {
    const { page, consoleLines } = await openPluginPage();
    try {
      const result = await page.evaluate(
        async ({ serviceUrl, key }) => {
          try {
            const response = await fetch(`${serviceUrl}/api/validate`, {
              method: "POST",
              headers: { "X-License-Key": key, "Content-Type": "application/json" },
              body: "{}",
            });
            return { status: response.status, body: await response.text(), error: "" };
          } catch (error) {
            return { status: 0, body: "", error: String(error) };
          }
        },
        { serviceUrl: service!.url, key: unknownKey },
      );
      if (result.error) {
        throw new Error(
          `The browser refused the cross-origin call from ${pageServer!.url.origin} to ${service!.url}/api/validate: ` +
            `${result.error}\nbrowser console:\n${consoleLines.join("\n") || "(empty)"}`,
        );
      }
      expect(result.status).toBe(401);
      let body: unknown;
      try {
        body = JSON.parse(result.body);
      } catch {
        throw new Error(`/api/validate answered 401 with a body that is not JSON: ${result.body.slice(0, 500)}`);
      }
      expect(body).toMatchObject({ code: "license_invalid" });
    } finally {
      await page.close();
    }
  });

  test("the preflight allows any origin, the plugin API's methods and its request headers", async () => {
    const origin = "http://plugin.example";
    const requestHeaders = ["content-type", "x-license-key", "authorization"];
    for (const method of ["GET", "POST", "PUT", "DELETE"]) {
      const response = await fetch(`${service!.url}/api/validate`, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": method,
          "Access-Control-Request-Headers": requestHeaders.join(","),
        },
      });
      await response.arrayBuffer();
      const list = (name: string) =>
        (response.headers.get(name) ?? "")
          .split(",")
          .map((item) => item.trim().toLowerCase())
          .filter(Boolean);
      const answer = {
        method,
        ok: response.ok,
        allowOrigin: response.headers.get("access-control-allow-origin"),
        methodAllowed: list("access-control-allow-methods").some((m) => m === method.toLowerCase() || m === "*"),
        // A "*" in Allow-Headers never covers Authorization, so it must be listed by name.
        headersAllowed: requestHeaders.filter((header) => {
          const allowed = list("access-control-allow-headers");
          return allowed.includes(header) || (allowed.includes("*") && header !== "authorization");
        }),
      };
      expect(answer).toEqual({
        method,
        ok: true,
        allowOrigin: answer.allowOrigin === "*" ? "*" : origin,
        methodAllowed: true,
        headersAllowed: requestHeaders,
      });
    }
  });

  test("the front page renders in Chromium and can be captured as a PNG", async () => {
    const page = await browser!.newPage();
    try {
      const response = await page.goto(`${service!.url}/`);
      expect(response?.status()).toBeLessThan(400);
      const file = join(shotDir!, "front_page.png");
      await page.screenshot({ path: file, fullPage: true });
      const png = await readFile(file);
      expect(png.length).toBeGreaterThan(100);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    } finally {
      await page.close();
    }
  });
});
