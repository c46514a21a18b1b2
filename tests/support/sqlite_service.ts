// An in-process service on an SQLite file of the test's choosing, whatever dialect the run exercises (the
// SQLite fault tests are about the file itself), driven like startTestService's: app.handle, a settable clock.
import { loadConfig } from "../../src/app/config.ts";
import { createApp } from "../../src/app/http/app.ts";
import { createLogger } from "../../src/app/logger.ts";
import { createServices, seedFirstStart } from "../../src/app/services.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { changeLicenseStatus, issueLicense } from "../../src/domain/licensing/mod.ts";
import { registerSecret, TEST_ENCRYPTION_KEY, TestClock, type TestService } from "./app.ts";

/** Starts a service on the SQLite file `path` (created and migrated when missing), seeded like a first start. */
export async function startSqliteFileService(path: string, env: Record<string, string> = {}): Promise<TestService> {
  const config = await loadConfig({
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: "debug",
    DATA_DIR: "/tmp/chatello-test-unused",
    ...env,
    DATABASE_URL: `sqlite:${path}`,
  });
  if (config.database.kind !== "sqlite" || config.database.path !== path) throw new Error(`not an SQLite file target: ${JSON.stringify(config.database)}`);
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
        email: input.email ?? `fault${counter}@example.com`,
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
    },
  };
}
