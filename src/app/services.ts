// Composition root: opens the database, builds the keyring and repositories, and seeds a first start.
import { createKeyring, cryptoRandom } from "../adapters/crypto/webcrypto_keyring.ts";
import { licenseKeyDigestSync } from "../adapters/crypto/key_digest.ts";
import { argon2Hasher, generatePassword, hashPassword } from "../adapters/crypto/passwords.ts";
import { DbAdminAccounts, DbApiTokens } from "../adapters/db/admin_repos.ts";
import { MikroCustomers, MikroLicenses, MikroPlans, MikroSiteActivations } from "../adapters/db/licensing_repos.ts";
import { openDatabase, type Db } from "../adapters/db/orm.ts";
import { licenseKeyStore, providerKeyStore, storeVendorKeyIfAbsent } from "../adapters/db/secret_repos.ts";
import { DbOutbox, mailBodyStores } from "../adapters/db/outbox_repo.ts";
import { DbWebhookEvents, webhookSecretStore } from "../adapters/db/webhook_repos.ts";
import { BatchedUsageRecorder, DbPriceTable, DbProviderKeys, DbQuotaLedger } from "../adapters/db/proxy_repos.ts";
import { DbAdminUsers, DbAuditLog, DbThrottle, DbUsageLedger } from "../adapters/db/support_repos.ts";
import { createChatProviders } from "../adapters/providers/registry.ts";
import type { ChatProviders } from "../domain/chat/mod.ts";
import { DEFAULT_PRICES } from "../domain/pricing/mod.ts";
import { SYSTEM_ACTOR } from "../domain/admin/mod.ts";
import type { Keyring, SecretStore } from "../domain/encryption/mod.ts";
import { DEFAULT_PLANS, PROVIDERS, type ProviderName } from "../domain/plans/mod.ts";
import type { Clock, Random } from "../domain/shared/mod.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import { createMetrics, isDatabaseError, type Metrics } from "./metrics.ts";
import { isDatabaseUnavailable } from "../adapters/db/availability.ts";
import { retrySettlements } from "./settlement_retry.ts";

/** The service version reported by `/` and `/api/health`. */
export const VERSION = "0.1.0";

/** The e-mail of the admin account created on a first start. */
export const FIRST_ADMIN_EMAIL = "admin@chatello.local";

/** Effective date of the seeded published prices (admins add newer rows; events keep the price they paid). */
export const PRICES_EFFECTIVE_FROM = new Date("2025-01-01T00:00:00.000Z");

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** Every port implementation, built once per process. */
export interface Services {
  db: Db;
  keyring: Keyring;
  random: Random;
  clock: Clock;
  plans: MikroPlans;
  customers: MikroCustomers;
  licenses: MikroLicenses;
  sites: MikroSiteActivations;
  usage: DbUsageLedger;
  audit: DbAuditLog;
  throttle: DbThrottle;
  admins: DbAdminUsers;
  accounts: DbAdminAccounts;
  tokens: DbApiTokens;
  /** Outgoing mail: queued for SMTP when SMTP_URL is set, otherwise stored for the admin to read. */
  outbox: DbOutbox;
  /** Outgoing webhook events: one pending delivery per subscribed endpoint, sent in the background. */
  events: DbWebhookEvents;
  hasher: typeof argon2Hasher;
  /** The license-key digest, computed natively (same value as the domain's licenseKeyDigest). */
  digestKey: (normalizedKey: string) => string;
  prices: DbPriceTable;
  quota: DbQuotaLedger;
  usageRecorder: BatchedUsageRecorder;
  providerKeys: DbProviderKeys;
  providers: ChatProviders;
  baseUrls: Record<ProviderName, string>;
  timeoutMs: number;
  reportError(error: unknown, context: string): void;
  /** The process's Prometheus metrics (served at /metrics). */
  metrics: Metrics;
  secretStores: SecretStore[];
  checkDatabase(): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the database (migrating it) and wires the repositories; no seeding. */
export async function createServices(
  config: Config,
  options: {
    clock?: Clock;
    providers?: ChatProviders;
    onBackgroundError?: (error: unknown, context?: string) => void;
    /** The server: a SQLite file's log is checkpointed on a worker thread, not in the commits of requests. */
    backgroundCheckpoints?: boolean;
  } = {},
): Promise<Services> {
  const db = await openDatabase(config.database, {
    backgroundCheckpoints: options.backgroundCheckpoints,
    onBackgroundError: (error) => options.onBackgroundError?.(error, "checkpointing the SQLite log"),
  });
  const keyring = await createKeyring({ current: config.encryptionKey, previous: config.encryptionKeysOld });
  const metrics = createMetrics({ queueDepth: () => usageRecorder.pending });
  // Background failures are counted (database ones) before the caller hears of them.
  const reportError = (error: unknown, context: string) => {
    if (isDatabaseError(error) || isDatabaseUnavailable(error)) metrics.countDbError(context);
    options.onBackgroundError?.(error, context);
  };
  const usageRecorder = new BatchedUsageRecorder(db, { onError: (error) => reportError(error, "writing usage events") });
  // Answered calls whose settlement met a database outage are settled once it is back, not forgotten.
  const settlements = retrySettlements(new DbQuotaLedger(db), { onError: (error) => reportError(error, "settling a chat call") });
  return {
    db,
    keyring,
    random: cryptoRandom,
    clock: options.clock ?? systemClock,
    plans: new MikroPlans(db),
    customers: new MikroCustomers(db),
    licenses: new MikroLicenses(db),
    sites: new MikroSiteActivations(db),
    usage: new DbUsageLedger(db),
    audit: new DbAuditLog(db),
    throttle: new DbThrottle(db),
    admins: new DbAdminUsers(db),
    accounts: new DbAdminAccounts(db),
    tokens: new DbApiTokens(db),
    outbox: new DbOutbox(db, { smtpConfigured: config.smtpUrl != null, keyring }),
    events: new DbWebhookEvents(db, cryptoRandom),
    hasher: argon2Hasher,
    digestKey: licenseKeyDigestSync,
    prices: new DbPriceTable(db),
    quota: settlements.quota,
    usageRecorder,
    providerKeys: new DbProviderKeys(db, keyring),
    providers: options.providers ?? createChatProviders({ maxRetries: config.providerMaxRetries }),
    baseUrls: Object.fromEntries(PROVIDERS.map((p) => [p, config.providers[p].baseUrl])) as Record<ProviderName, string>,
    timeoutMs: config.providerTimeoutMs,
    reportError,
    metrics,
    secretStores: [licenseKeyStore(db), providerKeyStore(db), webhookSecretStore(db), ...mailBodyStores(db)],
    async checkDatabase() {
      await db.orm.em.getConnection().execute("select 1");
      return true;
    },
    async close() {
      // Usage of answered calls is written before the database goes away.
      await settlements.close().catch((error) => reportError(error, "settling chat calls on shutdown"));
      await usageRecorder.close();
      await db.close();
    },
  };
}

/** Inserts the contract's plans that are missing (the CLI needs them on a database never served). */
export async function seedPlans(services: Services): Promise<string[]> {
  return services.plans.seed(DEFAULT_PLANS, services.clock.now()).catch(async (error) => {
    // Two processes starting together both try; the loser sees the winner's plans.
    if ((await services.plans.list()).length >= DEFAULT_PLANS.length) return [];
    throw error;
  });
}

/** What a first start created, so the caller can tell the operator once. */
export interface SeedReport {
  plansCreated: string[];
  firstAdmin: { email: string; password: string } | null;
  providerKeysStored: string[];
}

/**
 * Seeds what a fresh database needs: the contract's four plans, a first admin with a generated password
 * (returned so it can be printed once), and the vendor provider keys given in the environment, sealed.
 */
export async function seedFirstStart(services: Services, config: Config, logger: Logger): Promise<SeedReport> {
  const now = services.clock.now();
  const plansCreated = await seedPlans(services);
  let firstAdmin: SeedReport["firstAdmin"] = null;
  if ((await services.admins.count()) === 0) {
    const password = generatePassword();
    try {
      await services.admins.create({ email: FIRST_ADMIN_EMAIL, name: "Administrator", passwordHash: await hashPassword(password) }, now);
      firstAdmin = { email: FIRST_ADMIN_EMAIL, password };
      await services.audit.record({ actor: SYSTEM_ACTOR, action: "admin.created", targetType: "admin", targetId: FIRST_ADMIN_EMAIL, details: { first_start: true } }, now);
    } catch (error) {
      if ((await services.admins.count()) === 0) throw error;
    }
  }
  const providerKeysStored: string[] = [];
  for (const provider of PROVIDERS) {
    const settings = config.providers[provider];
    if (!settings.apiKey) continue;
    const stored = await storeVendorKeyIfAbsent(
      services.db,
      services.keyring,
      { provider, apiKey: settings.apiKey, baseUrl: settings.baseUrl },
      now,
    );
    if (stored) providerKeysStored.push(provider);
  }
  const pricesCreated = await services.prices.seed(DEFAULT_PRICES, PRICES_EFFECTIVE_FROM, now).catch(() => 0);
  if (plansCreated.length) logger.info("seeded plans", { plans: plansCreated });
  if (pricesCreated) logger.info("seeded the model price table", { prices: pricesCreated });
  if (providerKeysStored.length) logger.info("stored vendor provider keys from the environment", { providers: providerKeysStored });
  return { plansCreated, firstAdmin, providerKeysStored };
}
