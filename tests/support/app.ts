// An in-process service for HTTP and CLI tests: real repositories on a throwaway database, a settable
// clock, and the Elysia app driven with app.handle (no socket).
import { loadConfig, type Config } from "../../src/app/config.ts";
import { createApp } from "../../src/app/http/app.ts";
import { createLogger } from "../../src/app/logger.ts";
import { createServices, seedFirstStart, type Services } from "../../src/app/services.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { issueLicense, changeLicenseStatus, type LicenseTerm } from "../../src/domain/licensing/mod.ts";
import type { Clock } from "../../src/domain/shared/mod.ts";
import { throwawayTarget } from "./db.ts";

/** A clock tests can move. */
export class TestClock implements Clock {
  constructor(public current = new Date("2026-03-15T12:00:00.000Z")) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/**
 * Every log line the in-process services of this test process wrote, and the secrets tests used with them
 * (each license key `issue` hands out, and whatever a test registers), so a test can search the run's log
 * output for them with `leakedSecrets`.
 */
const collected = { lines: [] as string[], secrets: new Map<string, string>() };

/** Registers a secret a test used (a key, token or password); `what` names it in failure messages. */
export function registerSecret(secret: string, what: string): void {
  collected.secrets.set(secret, what);
}

/** Every log line written so far by the services `startTestService` started in this process. */
export function collectedLogLines(): readonly string[] {
  return collected.lines;
}

/**
 * The parts of a secret that must never be written: its runs of 8+ letters and digits (a key body without
 * its prefix is as good as the key), except the first group of a license key, which the logs keep to tell
 * keys apart. A secret without such a run (`ABCDEF-GHJKLM-...`) is looked for whole and without its
 * separators. Lower-cased: a leak may change the case.
 */
export function secretFragments(secret: string): string[] {
  const lower = secret.toLowerCase();
  const runs = lower.split(/[^a-z0-9]+/).filter((run) => run.length >= 8);
  if (/^cha-/i.test(secret)) runs.shift();
  if (runs.length > 0) return runs;
  const joined = lower.replace(/[^a-z0-9]+/g, "");
  return joined !== lower && joined.length >= 8 ? [lower, joined] : [lower];
}

/**
 * Describes each of `secrets` (secret → what it is) found in `text`, naming it without showing it. A run of
 * 12+ characters, two runs, or a secret's only run is a leak; one 8-character group alone is not (a license
 * key group matches some request id's first group once in a few billion, and a long run holds thousands).
 */
export function findSecrets(text: string, secrets: Iterable<[string, string]>): string[] {
  const lower = text.toLowerCase();
  // One pass over the text: its runs of letters and digits, then a set lookup per fragment.
  const runs = new Set(lower.split(/[^a-z0-9]+/).filter((run) => run.length >= 8));
  const found: string[] = [];
  for (const [secret, what] of secrets) {
    const fragments = secretFragments(secret);
    const present = fragments.filter((fragment) => (/^[a-z0-9]+$/.test(fragment) ? runs.has(fragment) : lower.includes(fragment)));
    const leaked = present.some((fragment) => fragment.length >= 12) || present.length >= 2 || (present.length === 1 && fragments.length === 1);
    if (!leaked) continue;
    const line = text.split("\n").find((l) => present.some((fragment) => l.toLowerCase().includes(fragment))) ?? "";
    let masked = line;
    for (const fragment of present) masked = masked.replace(new RegExp(fragment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi"), "<SECRET>");
    found.push(`${what} (${present.length} of ${fragments.length} parts) in: ${masked.slice(0, 400)}`);
  }
  return found;
}

/** Every registered secret found in the log lines collected so far in this process. */
export function leakedSecrets(): string[] {
  return findSecrets(collected.lines.join("\n"), collected.secrets);
}

/** A 32-byte key for tests (never used outside them). */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");

/** Everything a test needs to drive the service. */
export interface TestService {
  services: Services;
  config: Config;
  clock: TestClock;
  app: ReturnType<typeof createApp>;
  logLines: string[];
  /** Sends a request to the app; `ip` is the client address the app sees. */
  request(method: string, path: string, options?: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; ip?: string }): Promise<Response>;
  /** Issues a license through the real use case and returns its key. */
  issue(input: { email?: string; plan?: string; term?: LicenseTerm; domain?: string }): Promise<{ key: string; licenseId: number; customerId: number }>;
  setStatus(key: string, action: "suspend" | "reactivate" | "cancel"): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a service on a fresh database of the run's dialect, seeded like a first start; with `sqlitePath`, on
 * that SQLite file instead (created and migrated when missing, kept afterwards), whatever the run's dialect.
 */
export async function startTestService(env: Record<string, string> = {}, options: { sqlitePath?: string } = {}): Promise<TestService> {
  const { target, drop } = options.sqlitePath
    ? { target: { kind: "sqlite" as const, path: options.sqlitePath }, drop: async () => {} }
    : await throwawayTarget();
  const config = await loadConfig({ ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: "debug", DATA_DIR: "/tmp/chatello-test-unused", ...env });
  config.database = target as Config["database"];
  const clock = new TestClock();
  const services = await createServices(config, { clock });
  const logLines: string[] = [];
  const logger = createLogger("debug", (line) => {
    logLines.push(line);
    collected.lines.push(line);
  });
  await seedFirstStart(services, config, logger);
  let currentIp = "203.0.113.10";
  const app = createApp({
    ...services,
    logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy.enabled,
    metricsToken: config.metricsToken,
    metricsAllow: config.metricsAllow,
    version: "test",
    clientIpOf: () => currentIp,
  });
  let counter = 0;
  return {
    services,
    config,
    clock,
    app,
    logLines,
    async request(method, path, options = {}) {
      currentIp = options.ip ?? "203.0.113.10";
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.key !== undefined) headers["x-license-key"] = options.key;
      let body: string | undefined = options.rawBody;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers["content-type"] ??= "application/json";
      }
      return app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    },
    async issue(input) {
      counter += 1;
      const issued = await issueLicense(services, {
        email: input.email ?? `customer${counter}@example.com`,
        planName: input.plan ?? "pro",
        term: input.term,
        domain: input.domain,
        actor: CLI_ACTOR,
      });
      registerSecret(issued.licenseKey, "license key");
      return { key: issued.licenseKey, licenseId: issued.license.id, customerId: issued.customer.id };
    },
    async setStatus(key, action) {
      await changeLicenseStatus(services, { key, action, actor: CLI_ACTOR });
    },
    async close() {
      await services.close();
      await drop();
    },
  };
}
