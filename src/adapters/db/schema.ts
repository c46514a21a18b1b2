// MikroORM schemas: the database's shape, kept out of the domain. Repositories map rows to domain types.
// Changing anything here needs a new migration for BOTH dialects (`bun run src/app/main.ts db migration`);
// tests/adapters/schema_drift_test.ts fails when entities and migrations disagree.
import { defineEntity, p } from "@mikro-orm/core";

const createdAt = () => p.datetime(3);
const updatedAt = () => p.datetime(3);
const money = () => p.decimal("number").precision(14).scale(6);

export const PlanRow = defineEntity({
  name: "PlanRow",
  tableName: "plans",
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.string().length(32).unique(),
    displayName: p.string().length(100),
    priceEur: p.decimal("number").precision(10).scale(2),
    billing: p.string().length(16),
    isLifetime: p.boolean(),
    lifetimeCap: p.integer().nullable(),
    monthlyRequests: p.integer(),
    requestsPerMinute: p.integer(),
    requestsPerHour: p.integer(),
    monthlyBudgetEur: money(),
    maxSites: p.integer(),
    features: p.json<string[]>(),
    aiIncluded: p.boolean(),
    allowedModels: p.json<Record<string, string[]>>(),
    defaultProvider: p.string().length(16),
    fallbackProvider: p.string().length(16).nullable(),
    defaultModels: p.json<Record<string, string>>(),
    maxTokens: p.integer(),
    active: p.boolean(),
    // Paddle price ids sold as this plan: [{ price_id, months }] (months 0 = one-time lifetime purchase).
    paddlePrices: p.json<Array<{ price_id: string; months: number }>>().nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});

export const CustomerRow = defineEntity({
  name: "CustomerRow",
  tableName: "customers",
  properties: {
    id: p.integer().primary().autoincrement(),
    // Stored lower-cased by the domain, so this unique index is case-insensitive on every dialect.
    email: p.string().length(254).unique(),
    name: p.string().length(200),
    company: p.string().length(200).nullable(),
    notes: p.text().nullable(),
    status: p.string().length(16),
    createdAt: createdAt().index(),
    updatedAt: updatedAt(),
  },
});

export const LicenseRow = defineEntity({
  name: "LicenseRow",
  tableName: "licenses",
  properties: {
    id: p.integer().primary().autoincrement(),
    keyDigest: p.string().length(64).unique(),
    keySealed: p.text(),
    keyPrefix: p.string().length(16).index(),
    customer: () => p.manyToOne(CustomerRow).deleteRule("cascade"),
    plan: () => p.manyToOne(PlanRow).deleteRule("restrict"),
    status: p.string().length(16),
    domain: p.string().length(253).nullable(),
    expiresAt: p.datetime(3).nullable(),
    activatedAt: p.datetime(3).nullable(),
    lastValidatedAt: p.datetime(3).nullable(),
    metadata: p.json<Record<string, unknown>>().nullable(),
    createdAt: createdAt().index(),
    updatedAt: updatedAt(),
  },
  indexes: [{ properties: ["status", "expiresAt"] }],
});

export const SiteActivationRow = defineEntity({
  name: "SiteActivationRow",
  tableName: "site_activations",
  properties: {
    id: p.integer().primary().autoincrement(),
    license: () => p.manyToOne(LicenseRow).deleteRule("cascade"),
    host: p.string().length(253),
    exempt: p.boolean(),
    activatedAt: p.datetime(3),
    // A released site keeps its row (history) with deactivatedAt set; re-activation clears it.
    deactivatedAt: p.datetime(3).nullable(),
  },
  uniques: [{ properties: ["license", "host"] }],
});

export const UsageEventRow = defineEntity({
  name: "UsageEventRow",
  tableName: "usage_events",
  properties: {
    id: p.integer().primary().autoincrement(),
    license: () => p.manyToOne(LicenseRow).deleteRule("cascade"),
    customerId: p.integer().nullable(),
    provider: p.string().length(16),
    model: p.string().length(100),
    endpoint: p.string().length(32),
    promptTokens: p.integer(),
    completionTokens: p.integer(),
    cachedTokens: p.integer(),
    costEur: money(),
    priceSnapshot: p.json<Record<string, unknown>>().nullable(),
    estimated: p.boolean(),
    byok: p.boolean(),
    upstreamMs: p.integer().nullable(),
    totalMs: p.integer(),
    outcome: p.string().length(16),
    errorCode: p.string().length(64).nullable(),
    clientIp: p.string().length(64).nullable(),
    userAgent: p.string().length(255).nullable(),
    createdAt: createdAt().index(),
  },
  indexes: [{ properties: ["license", "createdAt"] }],
});

export const QuotaCounterRow = defineEntity({
  name: "QuotaCounterRow",
  tableName: "quota_counters",
  properties: {
    id: p.integer().primary().autoincrement(),
    license: () => p.manyToOne(LicenseRow).deleteRule("cascade"),
    // "month" | "hour" | "minute"; periodStart is the first instant of that UTC window. Settled calls only:
    // calls in flight are rows of quota_reservations.
    period: p.string().length(8),
    periodStart: p.datetime(3),
    requests: p.integer(),
    tokens: p.bigint("number"),
    costEur: money(),
    updatedAt: updatedAt(),
  },
  uniques: [{ properties: ["license", "period", "periodStart"] }],
});

// Usage batches already written, by the id their writer gave them: a batch written again after a commit whose
// answer was lost (a connection dropped during COMMIT) finds its id and is not counted twice.
export const UsageBatchRow = defineEntity({
  name: "UsageBatchRow",
  tableName: "usage_batches",
  properties: {
    id: p.string().length(32).primary(),
    events: p.integer(),
    createdAt: createdAt().index(),
  },
});

export const QuotaReservationRow = defineEntity({
  name: "QuotaReservationRow",
  tableName: "quota_reservations",
  properties: {
    id: p.integer().primary().autoincrement(),
    license: () => p.manyToOne(LicenseRow).deleteRule("cascade"),
    // Admission time: settlement counts the call in the windows it was admitted in.
    createdAt: createdAt(),
    estimateCostEur: money(),
    // A reservation whose process died is ignored after this instant and swept later.
    expiresAt: p.datetime(3).index(),
  },
});

export const UsageDailyRow = defineEntity({
  name: "UsageDailyRow",
  tableName: "usage_daily",
  properties: {
    id: p.integer().primary().autoincrement(),
    license: () => p.manyToOne(LicenseRow).deleteRule("cascade"),
    // UTC day as YYYY-MM-DD: compares and groups the same way on both dialects.
    day: p.string().length(10),
    provider: p.string().length(16),
    model: p.string().length(100),
    endpoint: p.string().length(32),
    requests: p.integer(),
    errors: p.integer(),
    promptTokens: p.bigint("number"),
    completionTokens: p.bigint("number"),
    cachedTokens: p.bigint("number"),
    costEur: money(),
    totalMsSum: p.bigint("number"),
    upstreamMsSum: p.bigint("number"),
    updatedAt: updatedAt(),
  },
  uniques: [{ properties: ["license", "day", "provider", "model", "endpoint"] }],
  indexes: [{ properties: ["day"] }],
});

export const ModelPriceRow = defineEntity({
  name: "ModelPriceRow",
  tableName: "model_prices",
  properties: {
    id: p.integer().primary().autoincrement(),
    provider: p.string().length(16),
    model: p.string().length(100),
    inputEurPerMTok: money(),
    outputEurPerMTok: money(),
    cachedInputEurPerMTok: money(),
    effectiveFrom: p.datetime(3),
    createdAt: createdAt(),
  },
  uniques: [{ properties: ["provider", "model", "effectiveFrom"] }],
});

export const ProviderKeyRow = defineEntity({
  name: "ProviderKeyRow",
  tableName: "provider_keys",
  properties: {
    id: p.integer().primary().autoincrement(),
    // "vendor" for the vendor's own keys, "customer:<id>" for a customer's BYOK key; unique with provider
    // (a plain nullable customer_id would let several vendor rows through a unique index).
    owner: p.string().length(32),
    customer: () => p.manyToOne(CustomerRow).nullable().deleteRule("cascade"),
    provider: p.string().length(16),
    keySealed: p.text(),
    last4: p.string().length(4),
    baseUrl: p.string().length(255).nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  uniques: [{ properties: ["owner", "provider"] }],
});

export const AdminUserRow = defineEntity({
  name: "AdminUserRow",
  tableName: "admin_users",
  properties: {
    id: p.integer().primary().autoincrement(),
    email: p.string().length(254).unique(),
    name: p.string().length(200),
    passwordHash: p.string().length(255),
    disabled: p.boolean(),
    lastLoginAt: p.datetime(3).nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});

export const AdminSessionRow = defineEntity({
  name: "AdminSessionRow",
  tableName: "admin_sessions",
  properties: {
    // SHA-256 of the session token: the token itself never reaches the database.
    id: p.string().length(64).primary(),
    admin: () => p.manyToOne(AdminUserRow).deleteRule("cascade"),
    expiresAt: p.datetime(3).index(),
    createdAt: createdAt(),
    clientIp: p.string().length(64).nullable(),
    userAgent: p.string().length(255).nullable(),
  },
});

export const AdminApiTokenRow = defineEntity({
  name: "AdminApiTokenRow",
  tableName: "admin_api_tokens",
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.string().length(100),
    tokenDigest: p.string().length(64).unique(),
    tokenPrefix: p.string().length(16),
    scope: p.string().length(8),
    createdBy: () => p.manyToOne(AdminUserRow).nullable().deleteRule("set null"),
    createdAt: createdAt(),
    lastUsedAt: p.datetime(3).nullable(),
    revokedAt: p.datetime(3).nullable(),
  },
});

export const AuditLogRow = defineEntity({
  name: "AuditLogRow",
  tableName: "audit_log",
  properties: {
    id: p.integer().primary().autoincrement(),
    actorType: p.string().length(16),
    actorId: p.string().length(64).nullable(),
    actorLabel: p.string().length(254).nullable(),
    action: p.string().length(64).index(),
    targetType: p.string().length(32).nullable(),
    targetId: p.string().length(64).nullable(),
    details: p.json<Record<string, unknown>>().nullable(),
    clientIp: p.string().length(64).nullable(),
    createdAt: createdAt().index(),
  },
});

export const ProcessedWebhookEventRow = defineEntity({
  name: "ProcessedWebhookEventRow",
  tableName: "processed_webhook_events",
  properties: {
    id: p.integer().primary().autoincrement(),
    source: p.string().length(32),
    eventId: p.string().length(128),
    eventType: p.string().length(64),
    outcome: p.string().length(32),
    details: p.json<Record<string, unknown>>().nullable(),
    receivedAt: p.datetime(3).index(),
  },
  uniques: [{ properties: ["source", "eventId"] }],
});

export const ThrottleBucketRow = defineEntity({
  name: "ThrottleBucketRow",
  tableName: "throttle_buckets",
  properties: {
    // e.g. "invalid_key:203.0.113.7"; one row per key and fixed window, shared by every instance.
    bucket: p.string().length(191).primary(),
    windowStart: p.datetime(3),
    hits: p.integer(),
    expiresAt: p.datetime(3).index(),
  },
});

export const MailOutboxRow = defineEntity({
  name: "MailOutboxRow",
  tableName: "mail_outbox",
  properties: {
    id: p.integer().primary().autoincrement(),
    // Unique per message purpose (e.g. "expiring_7d:license:12:2026-12-01"), so a warning is never sent twice.
    dedupeKey: p.string().length(191).unique(),
    kind: p.string().length(48),
    recipient: p.string().length(254),
    subject: p.string().length(255),
    textBody: p.text(),
    htmlBody: p.text(),
    // "queued" | "sent" | "failed" (gave up) | "stored" (no SMTP configured: kept for the admin to read)
    status: p.string().length(16).index(),
    attempts: p.integer(),
    nextAttemptAt: p.datetime(3).index(),
    lastError: p.string().length(255).nullable(),
    createdAt: createdAt(),
    sentAt: p.datetime(3).nullable(),
  },
});

export const JobLeaseRow = defineEntity({
  name: "JobLeaseRow",
  tableName: "job_leases",
  properties: {
    // One row per scheduled job; the holder runs it until leaseUntil, so several instances run it once.
    job: p.string().length(64).primary(),
    holder: p.string().length(64).nullable(),
    leaseUntil: p.datetime(3),
    lastStartedAt: p.datetime(3).nullable(),
    lastFinishedAt: p.datetime(3).nullable(),
    lastOutcome: p.string().length(16).nullable(),
    lastDetails: p.json<Record<string, unknown>>().nullable(),
  },
});

export const WebhookEndpointRow = defineEntity({
  name: "WebhookEndpointRow",
  tableName: "webhook_endpoints",
  properties: {
    id: p.integer().primary().autoincrement(),
    url: p.string().length(2048),
    events: p.json<string[]>(),
    secretSealed: p.text(),
    paused: p.boolean(),
    description: p.string().length(255).nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});

export const WebhookDeliveryRow = defineEntity({
  name: "WebhookDeliveryRow",
  tableName: "webhook_deliveries",
  properties: {
    id: p.integer().primary().autoincrement(),
    endpoint: () => p.manyToOne(WebhookEndpointRow).deleteRule("cascade"),
    eventId: p.string().length(64),
    eventType: p.string().length(48),
    payload: p.json<Record<string, unknown>>(),
    // "pending" | "delivered" | "failed" (gave up)
    status: p.string().length(16).index(),
    attempts: p.integer(),
    nextAttemptAt: p.datetime(3).index(),
    lastStatusCode: p.integer().nullable(),
    lastError: p.string().length(255).nullable(),
    createdAt: createdAt(),
    deliveredAt: p.datetime(3).nullable(),
  },
  uniques: [{ properties: ["endpoint", "eventId"] }],
});

/** Every entity, in dependency order, for the ORM configuration. */
export const ENTITIES = [
  PlanRow,
  CustomerRow,
  LicenseRow,
  SiteActivationRow,
  UsageEventRow,
  UsageBatchRow,
  QuotaCounterRow,
  QuotaReservationRow,
  UsageDailyRow,
  ModelPriceRow,
  ProviderKeyRow,
  AdminUserRow,
  AdminSessionRow,
  AdminApiTokenRow,
  AuditLogRow,
  ProcessedWebhookEventRow,
  ThrottleBucketRow,
  MailOutboxRow,
  JobLeaseRow,
  WebhookEndpointRow,
  WebhookDeliveryRow,
];
