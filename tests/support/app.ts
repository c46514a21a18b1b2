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

/** Starts a service on a fresh database of the run's dialect, seeded like a first start. */
export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const { target, drop } = await throwawayTarget();
  const config = await loadConfig({ ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: "debug", DATA_DIR: "/tmp/chatello-test-unused", ...env });
  config.database = target as Config["database"];
  const clock = new TestClock();
  const services = await createServices(config, { clock });
  const logLines: string[] = [];
  const logger = createLogger("debug", (line) => logLines.push(line));
  await seedFirstStart(services, config, logger);
  let currentIp = "203.0.113.10";
  const app = createApp({
    ...services,
    logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy.enabled,
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
