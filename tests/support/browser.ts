// Browser tests drive Debian's Chromium through playwright-core (no browser download).
// Policy: on a developer machine without Chromium the browser suites are skipped with a message;
// in CI (CI=true) a missing Chromium fails them, so nothing is silently left out.
import { describe, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Where Debian's `chromium` package puts the browser. */
export const chromiumPath = "/usr/bin/chromium";

const launchArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** True when the CI environment variable is set to anything but an explicit false. */
export function runningInCi(): boolean {
  const value = (process.env.CI ?? "").trim().toLowerCase();
  return value !== "" && value !== "0" && value !== "false";
}

/** True when Chromium is installed where the tests expect it. */
export function browserAvailable(): boolean {
  return existsSync(chromiumPath);
}

/** Launches headless Chromium; close it with `browser.close()`. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: launchArgs });
}

/**
 * Declares a browser suite. With Chromium it is a plain `describe`; without it, it is skipped with a
 * message on a developer machine and replaced by one failing test in CI.
 */
export function describeBrowser(name: string, body: () => void): void {
  if (browserAvailable()) {
    describe(name, body);
    return;
  }
  const missing = `Chromium not found at ${chromiumPath} (Debian: apt-get install -y chromium)`;
  if (runningInCi()) {
    describe(name, () => {
      test("needs Chromium, which CI must provide", () => {
        throw new Error(`${missing}; browser tests may not be skipped when CI=true.`);
      });
    });
    return;
  }
  console.warn(`[browser tests] skipping "${name}": ${missing}.`);
  describe(name, () => {
    test.skip(`skipped: ${missing}`, () => {});
  });
}
