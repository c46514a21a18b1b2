// Outgoing webhooks in the database: endpoints (secret sealed), the event sink that queues one delivery per
// subscribed endpoint, and delivery claiming that lets several instances share the queue.
import type { Keyring, SealedSecret, SecretStore } from "../../domain/encryption/mod.ts";
import type { Random } from "../../domain/shared/mod.ts";
import { DomainError } from "../../domain/shared/mod.ts";
import {
  type EventSink,
  isWebhookEventType,
  isWebhookUrl,
  nextAttemptDelay,
  webhookEnvelope,
  type WebhookEnvelope,
  type WebhookEventType,
} from "../../domain/webhooks/mod.ts";
import { isUniqueViolation } from "./_support.ts";
import type { Db } from "./orm.ts";
import { WebhookDeliveryRow, WebhookEndpointRow } from "./schema.ts";

/** The context an endpoint's signing secret is sealed under. */
export const WEBHOOK_SECRET_CONTEXT = "webhook_secret";

/** How long a claimed delivery stays invisible to other senders (longer than any request may take). */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;

/** A webhook endpoint as the admin sees it (never its secret). */
export interface WebhookEndpoint {
  id: number;
  url: string;
  events: WebhookEventType[];
  paused: boolean;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Delivery status: queued (or retrying), delivered, or given up. */
export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** One event queued for one endpoint. */
export interface WebhookDelivery {
  id: number;
  endpointId: number;
  eventId: string;
  eventType: string;
  payload: WebhookEnvelope;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** A claimed delivery with what the sender needs to POST it. */
export interface ClaimedDelivery extends WebhookDelivery {
  url: string;
  secretSealed: string;
}

type Row<T> = T extends { "~entity": infer E } ? E : never;
type EndpointRow = Row<typeof WebhookEndpointRow>;
type DeliveryRow = Row<typeof WebhookDeliveryRow>;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new signing secret: `whsec_` + 32 random bytes in hex. */
export function generateWebhookSecret(random: Random): string {
  return `whsec_${hex(random.bytes(32))}`;
}

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: (Array.isArray(row.events) ? row.events : []).filter(isWebhookEventType),
    paused: Boolean(row.paused),
    description: row.description ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function endpointIdOf(row: DeliveryRow): number {
  const ref = row.endpoint as unknown as { id: number } | number;
  return typeof ref === "number" ? ref : ref.id;
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    endpointId: endpointIdOf(row),
    eventId: row.eventId,
    eventType: row.eventType,
    payload: row.payload as unknown as WebhookEnvelope,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastStatusCode: row.lastStatusCode ?? null,
    lastError: row.lastError ?? null,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt ?? null,
  };
}

/** Checks an endpoint's URL and event list; throws invalid_argument naming the field. */
function validateEndpoint(input: { url: string; events: string[]; description?: string | null }): WebhookEventType[] {
  if (!isWebhookUrl(input.url)) throw new DomainError("invalid_argument", "Give an http:// or https:// URL.", { field: "url" });
  const events = [...new Set(input.events)];
  if (events.length === 0 || !events.every(isWebhookEventType)) {
    throw new DomainError("invalid_argument", "Pick at least one event.", { field: "events" });
  }
  if ((input.description ?? "").length > 255) {
    throw new DomainError("invalid_argument", "Keep the description to 255 characters.", { field: "description" });
  }
  return events;
}

/** Webhook endpoints: create (secret returned once), list, pause/resume, delete, open the secret. */
export class DbWebhookEndpoints {
  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly random: Random,
  ) {}

  async list(): Promise<WebhookEndpoint[]> {
    const rows = await this.db.orm.em.fork().find(WebhookEndpointRow, {}, { orderBy: { id: "asc" } });
    return rows.map(toEndpoint);
  }

  async byId(id: number): Promise<WebhookEndpoint | null> {
    const row = await this.db.orm.em.fork().findOne(WebhookEndpointRow, { id });
    return row ? toEndpoint(row) : null;
  }

  /** Registers an endpoint; the plain secret is returned here and never again. */
  async create(
    input: { url: string; events: string[]; description?: string | null },
    now: Date,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const events = validateEndpoint(input);
    const secret = generateWebhookSecret(this.random);
    const em = this.db.orm.em.fork();
    const row = em.create(WebhookEndpointRow, {
      url: input.url,
      events,
      secretSealed: await this.keyring.seal(secret, WEBHOOK_SECRET_CONTEXT),
      paused: false,
      description: input.description ? input.description : null,
      createdAt: now,
      updatedAt: now,
    });
    await em.flush();
    return { endpoint: toEndpoint(row), secret };
  }

  /** Pauses or resumes; false when there is no such endpoint. */
  async setPaused(id: number, paused: boolean, now: Date): Promise<boolean> {
    return (await this.db.orm.em.fork().nativeUpdate(WebhookEndpointRow, { id }, { paused, updatedAt: now })) > 0;
  }

  /** Deletes the endpoint and (by cascade) its deliveries; false when there is no such endpoint. */
  async delete(id: number): Promise<boolean> {
    const em = this.db.orm.em.fork();
    await em.nativeDelete(WebhookDeliveryRow, { endpoint: id });
    return (await em.nativeDelete(WebhookEndpointRow, { id })) > 0;
  }

  /** The plain signing secret of an endpoint (for the sender). */
  async secretOf(id: number): Promise<string | null> {
    const row = await this.db.orm.em.fork().findOne(WebhookEndpointRow, { id }, { fields: ["id", "secretSealed"] });
    return row ? this.keyring.open(row.secretSealed, WEBHOOK_SECRET_CONTEXT) : null;
  }
}

/** The event sink: one pending delivery per endpoint subscribed to the event's type (paused ones too). */
export class DbWebhookEvents implements EventSink {
  constructor(
    private readonly db: Db,
    private readonly random: Random,
  ) {}

  async emit(type: WebhookEventType, data: Record<string, unknown>, now: Date): Promise<void> {
    const em = this.db.orm.em.fork();
    const endpoints = (await em.find(WebhookEndpointRow, {}, { fields: ["id", "events"] })).filter(
      (e) => Array.isArray(e.events) && e.events.includes(type),
    );
    if (endpoints.length === 0) return;
    const eventId = `evt_${hex(this.random.bytes(16))}`;
    const envelope = webhookEnvelope(eventId, type, data, now);
    for (const endpoint of endpoints) {
      em.create(WebhookDeliveryRow, {
        endpoint: endpoint.id,
        eventId,
        eventType: type,
        payload: envelope as unknown as Record<string, unknown>,
        status: "pending",
        attempts: 0,
        nextAttemptAt: now,
        lastStatusCode: null,
        lastError: null,
        createdAt: now,
        deliveredAt: null,
      });
    }
    try {
      await em.flush();
    } catch (error) {
      // An endpoint deleted meanwhile loses the event; a duplicate event id cannot happen with 16 random bytes.
      if (!isUniqueViolation(error)) throw error;
    }
  }
}

/** The delivery queue: recent deliveries, claiming due ones, recording outcomes, replay. */
export class DbWebhookDeliveries {
  constructor(private readonly db: Db) {}

  /** The newest deliveries of an endpoint. */
  async recent(endpointId: number, limit = 50): Promise<WebhookDelivery[]> {
    const rows = await this.db.orm.em
      .fork()
      .find(WebhookDeliveryRow, { endpoint: endpointId }, { orderBy: { id: "desc" }, limit });
    return rows.map(toDelivery);
  }

  async byId(id: number): Promise<WebhookDelivery | null> {
    const row = await this.db.orm.em.fork().findOne(WebhookDeliveryRow, { id });
    return row ? toDelivery(row) : null;
  }

  /**
   * Claims up to `limit` pending deliveries that are due, skipping paused endpoints. Each is claimed by a
   * conditional update that moves its next attempt `leaseMs` ahead, so another instance polling at the same
   * time finds it no longer due and never sends it twice.
   */
  async claimDue(now: Date, limit = 20, leaseMs = DEFAULT_CLAIM_LEASE_MS): Promise<ClaimedDelivery[]> {
    const em = this.db.orm.em.fork();
    const rows = await em.find(
      WebhookDeliveryRow,
      { status: "pending", nextAttemptAt: { $lte: now }, endpoint: { paused: false } },
      { populate: ["endpoint"], orderBy: { nextAttemptAt: "asc", id: "asc" }, limit },
    );
    const leaseUntil = new Date(now.getTime() + leaseMs);
    const claimed: ClaimedDelivery[] = [];
    for (const row of rows) {
      const won = await em.nativeUpdate(
        WebhookDeliveryRow,
        { id: row.id, status: "pending", nextAttemptAt: { $lte: now } },
        { nextAttemptAt: leaseUntil },
      );
      if (won === 0) continue;
      const endpoint = row.endpoint as unknown as EndpointRow;
      claimed.push({ ...toDelivery(row), nextAttemptAt: leaseUntil, url: endpoint.url, secretSealed: endpoint.secretSealed });
    }
    return claimed;
  }

  /** Records a 2xx answer. */
  async markDelivered(delivery: { id: number; attempts: number }, statusCode: number, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(
      WebhookDeliveryRow,
      { id: delivery.id },
      { status: "delivered", attempts: delivery.attempts + 1, lastStatusCode: statusCode, lastError: null, deliveredAt: now },
    );
  }

  /** Records a failed attempt: schedules the next one with backoff, or gives up after the last. */
  async markFailed(
    delivery: { id: number; attempts: number },
    outcome: { statusCode: number | null; error: string },
    now: Date,
  ): Promise<WebhookDeliveryStatus> {
    const attempts = delivery.attempts + 1;
    const delay = nextAttemptDelay(attempts);
    const status: WebhookDeliveryStatus = delay === null ? "failed" : "pending";
    await this.db.orm.em.fork().nativeUpdate(
      WebhookDeliveryRow,
      { id: delivery.id },
      {
        status,
        attempts,
        nextAttemptAt: delay === null ? now : new Date(now.getTime() + delay),
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error.slice(0, 255),
      },
    );
    return status;
  }

  /** Queues a delivery again, due now, with a fresh retry schedule; false when there is no such delivery. */
  async replay(id: number, now: Date): Promise<boolean> {
    return (
      (await this.db.orm.em
        .fork()
        .nativeUpdate(WebhookDeliveryRow, { id }, { status: "pending", attempts: 0, nextAttemptAt: now, deliveredAt: null })) > 0
    );
  }
}

/** Rotation store over webhook_endpoints.secret_sealed. */
export function webhookSecretStore(db: Db): SecretStore {
  return {
    count: () => db.orm.em.fork().count(WebhookEndpointRow, {}),
    async listSealed(afterId, batch): Promise<SealedSecret[]> {
      const rows = await db.orm.em
        .fork()
        .find(WebhookEndpointRow, { id: { $gt: afterId } }, { orderBy: { id: "asc" }, limit: batch, fields: ["id", "secretSealed"] });
      return rows.map((r) => ({ table: "webhook_endpoints", id: r.id, context: WEBHOOK_SECRET_CONTEXT, sealed: r.secretSealed }));
    },
    async replace(id, oldSealed, newSealed) {
      return (await db.orm.em.fork().nativeUpdate(WebhookEndpointRow, { id, secretSealed: oldSealed }, { secretSealed: newSealed })) > 0;
    },
  };
}
