// Entry point: `serve` starts the HTTP service; any other command is the CLI (see src/app/cli.ts).
// First, before anything else runs: `serve` may re-execute itself with the FTL JIT off (see ftl.ts).
import "./ftl_off.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { EXIT_USAGE, isCliCommand, runCli, USAGE } from "./cli.ts";
import { createApp, MAX_BODY_BYTES } from "./http/app.ts";
import { clientIp } from "./http/client_ip.ts";
import { createLogger, type Logger } from "./logger.ts";
import { startMailSender } from "../adapters/mail/smtp_sender.ts";
import { createJobs } from "./jobs.ts";
import { startScheduler } from "./scheduler.ts";
import { startHeapGovernor } from "./heap_governor.ts";
import { createShutdown, trackChatCalls } from "./shutdown.ts";
import { startWebhookSender } from "./webhook_sender.ts";
import { createServices, seedFirstStart, seedPlans, VERSION, type Services } from "./services.ts";

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function configOrExit(): Promise<Config> {
  try {
    return await loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/** One clear line naming the database (never its password) and why it cannot be used, then exit 1. */
function databaseFailure(config: Config, what: string, error: unknown): never {
  const where = config.database.kind === "sqlite" ? config.database.path : `${config.database.host}:${config.database.port}/${config.database.database}`;
  const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
  const safe = config.database.kind === "mariadb" && config.database.password ? reason.replaceAll(config.database.password, "***") : reason;
  fail(`Cannot ${what} the database (DATABASE_URL, ${config.database.kind} ${where}): ${safe}`);
}

/** Opens the services, turning a database that cannot be reached into one clear line. */
async function servicesOrExit(config: Config, serving?: { logger: Logger }): Promise<Services> {
  const logger = serving?.logger;
  try {
    return await createServices(config, {
      // The server checkpoints SQLite's log on a worker; a CLI command is over before it would matter.
      backgroundCheckpoints: serving !== undefined,
      onBackgroundError: (error, context) =>
        logger?.error(`${context ?? "background work"} failed`, {
          error: error instanceof Error ? error.message : String(error),
        }),
    });
  } catch (error) {
    databaseFailure(config, "open", error);
  }
}

/**
 * The first writes of a start (plans, first admin, vendor keys), which a database that opened but takes no
 * writes (locked by another process, full) refuses: one clear line too, not a stack trace.
 */
async function seededOrExit<T>(config: Config, services: Services, seed: () => Promise<T>): Promise<T> {
  try {
    return await seed();
  } catch (error) {
    await services.close().catch(() => {});
    databaseFailure(config, "seed", error);
  }
}

function announceFirstAdmin(admin: { email: string; password: string }): void {
  // Printed once, on the first start only: the password is not stored anywhere in clear.
  const lines = [
    "First start: an admin account was created.",
    `  e-mail:   ${admin.email}`,
    `  password: ${admin.password}`,
    "This password is shown only once. Sign in at /admin and change it.",
  ];
  const width = Math.max(...lines.map((l) => l.length)) + 2;
  process.stdout.write(`${"=".repeat(width)}\n${lines.join("\n")}\n${"=".repeat(width)}\n`);
}

async function serve(): Promise<void> {
  const config = await configOrExit();
  const logger: Logger = createLogger(config.logLevel);
  if (config.encryptionKeyGenerated) logger.warn("generated a new ENCRYPTION_KEY in the data directory; back it up", { dir: config.dataDir });
  const services = await servicesOrExit(config, { logger });
  if (config.memorySoftLimitMb > 0) startHeapGovernor({ limitBytes: config.memorySoftLimitMb * 1024 * 1024 });
  const seeded = await seededOrExit(config, services, () => seedFirstStart(services, config, logger));
  if (seeded.firstAdmin) announceFirstAdmin(seeded.firstAdmin);

  // The chat routes' calls are counted and can be cut, so a shutdown waits for them and bills what it cuts.
  const chatCalls = trackChatCalls(services.quota, services.providers);
  let draining = false;
  const app = createApp({
    ...services,
    quota: chatCalls.quota,
    providers: chatCalls.providers,
    draining: () => draining,
    logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy.enabled,
    paddleWebhookSecret: config.paddleWebhookSecret,
    paymentWebhookSecret: config.paymentWebhookSecret,
    metricsToken: config.metricsToken,
    metricsAllow: config.metricsAllow,
    version: VERSION,
    clientIpOf: (request, server) => clientIp(request, server?.requestIP(request)?.address, config.trustProxy),
  });
  try {
    app.listen({ port: config.port, hostname: config.host, maxRequestBodySize: MAX_BODY_BYTES + 64 * 1024 });
  } catch (error) {
    await services.close();
    fail(`Cannot listen on ${config.host}:${config.port} (PORT/HOST): ${error instanceof Error ? error.message : String(error)}`);
  }
  // The binary starts with JavaScriptCore's tier-up thresholds scaled by 20 (`--compile-jit-policy=20` in the
  // build script), so the run-once start-up (module loading, ORM metadata, migrations, seeding, building the
  // routes) stays in the interpreter instead of leaving compiled code and its metadata behind: the binary idles
  // at about 81 MB resident instead of 89 (anonymous 33 vs 38 MB, file-backed 48 vs 50), starts as fast, and
  // under load (after the reset here, hot code compiles as usual) chat throughput and latency are unchanged.
  // From source the policy is already the normal one and this is a no-op.
  Bun.unsafe.setJITPolicy(1);
  const port = app.server?.port ?? config.port;
  const shown = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const dbLabel = config.database.kind === "sqlite" ? `sqlite ${config.database.path}` : `mariadb ${config.database.host}/${config.database.database}`;
  process.stdout.write(`Chatello ${VERSION} listening on http://${shown}:${port} (database: ${dbLabel})\n`);

  // Background work: outgoing mail, and scheduled jobs (expiry sweep, reminders, retention, housekeeping)
  // under database leases, so each job runs once across instances.
  const mailSender = startMailSender({ db: services.db, keyring: services.keyring, smtpUrl: config.smtpUrl, mailFrom: config.mailFrom, clock: services.clock, logger: logger.child({ component: "mail" }) });
  const webhookSender = startWebhookSender({
    db: services.db,
    keyring: services.keyring,
    clock: services.clock,
    onError: (error) => services.reportError(error, "delivering webhooks"),
  });
  const scheduler = startScheduler({
    db: services.db,
    clock: services.clock,
    logger: logger.child({ component: "scheduler" }),
    jobs: createJobs(services, { retentionDays: config.usageRetentionDays, outbox: services.outbox, publicUrl: config.publicUrl }),
  });

  const shutdown = createShutdown({
    server: app.server,
    tracker: chatCalls,
    workers: [scheduler, mailSender, webhookSender],
    closeServices: () => services.close(),
    timeoutMs: config.shutdownTimeoutMs,
    logger,
  });
  const stop = (signal: string) => {
    if (!draining) {
      draining = true;
      // Whatever hangs (an unreachable database), the process still ends a bounded time after the deadline.
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 15_000).unref();
    }
    void shutdown.begin(signal).then((code) => process.exit(code));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/** The CLI's services: the same start-up checks as `serve`, and the plans a fresh database needs. */
async function openForCli(): Promise<Services> {
  const config = await configOrExit();
  const services = await servicesOrExit(config);
  await seededOrExit(config, services, () => seedPlans(services));
  return services;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === "serve") return serve();
  if (!isCliCommand(command) && !["help", "--help", "-h"].includes(command)) {
    process.stderr.write(`error: unknown command: ${command}\n\n${USAGE}\n`);
    process.exit(EXIT_USAGE);
  }
  const code = await runCli([command, ...rest], openForCli, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
  process.exit(code);
}

await main();
