// Payment webhook storage: processed event ids (exactly-once claims), the Paddle price → plan mapping and
// license lookups/updates by the Paddle references kept in license metadata.
import type { License, LicenseStatus } from "../../domain/licensing/mod.ts";
import type { PaddlePrice } from "../../domain/payments/mod.ts";
import { isUniqueViolation, readJson, withRowLock } from "./_support.ts";
import { toLicense } from "./licensing_repos.ts";
import type { Db } from "./orm.ts";
import { LicenseRow, ProcessedWebhookEventRow } from "./schema.ts";

/** A processed (or in-flight, outcome "processing") webhook event. */
export interface ProcessedEvent {
  id: number;
  source: string;
  eventId: string;
  eventType: string;
  outcome: string;
  details: Record<string, unknown>;
  receivedAt: Date;
}

/** A claim left "processing" this long is taken to be from a crashed delivery and may be taken over. */
const STALE_CLAIM_MS = 2 * 60 * 1000;

/** Which purchase a license was created for; a second event for the same purchase finds the claim. */
export const PURCHASE_SOURCE = "paddle_purchase";

type Row<T> = T extends { "~entity": infer E } ? E : never;
type EventEntity = Row<typeof ProcessedWebhookEventRow>;

function toEvent(row: EventEntity): ProcessedEvent {
  return {
    id: row.id,
    source: row.source,
    eventId: row.eventId,
    eventType: row.eventType,
    outcome: row.outcome,
    details: row.details ?? {},
    receivedAt: row.receivedAt,
  };
}

/** Processed webhook events, price mappings and Paddle-linked licenses. */
export class DbPaymentStore {
  constructor(private readonly db: Db) {}

  /**
   * Claims an event id: true when this delivery owns it (inserted "processing", or took over a stale
   * "processing" claim), false when it was processed or is being processed. The unique (source, event_id)
   * index decides between concurrent deliveries.
   */
  async claim(source: string, eventId: string, eventType: string, now: Date): Promise<boolean> {
    try {
      const em = this.db.orm.em.fork();
      em.create(ProcessedWebhookEventRow, { source, eventId, eventType, outcome: "processing", details: null, receivedAt: now });
      await em.flush();
      return true;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    const taken = await this.db.orm.em
      .fork()
      .nativeUpdate(
        ProcessedWebhookEventRow,
        { source, eventId, outcome: "processing", receivedAt: { $lt: new Date(now.getTime() - STALE_CLAIM_MS) } },
        { receivedAt: now },
      );
    return taken > 0;
  }

  /** Records what a claimed event did. */
  async finish(source: string, eventId: string, outcome: string, details: Record<string, unknown>): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(ProcessedWebhookEventRow, { source, eventId }, { outcome, details });
  }

  /** Gives a claim back (the effect failed), so the sender's retry processes the event again. */
  async release(source: string, eventId: string): Promise<void> {
    await this.db.orm.em.fork().nativeDelete(ProcessedWebhookEventRow, { source, eventId, outcome: { $in: ["processing", "claimed"] } });
  }

  /** One recorded event. */
  async event(source: string, eventId: string): Promise<ProcessedEvent | null> {
    const row = await this.db.orm.em.fork().findOne(ProcessedWebhookEventRow, { source, eventId });
    return row ? toEvent(row) : null;
  }

  /** Recorded events of the given sources, newest first. */
  async list(options: { sources: string[]; offset: number; limit: number }): Promise<{ items: ProcessedEvent[]; total: number }> {
    const [rows, total] = await this.db.orm.em
      .fork()
      .findAndCount(ProcessedWebhookEventRow, { source: { $in: options.sources } }, { orderBy: { receivedAt: "desc", id: "desc" }, offset: options.offset, limit: options.limit });
    return { items: rows.map(toEvent), total };
  }

  /** Every plan's Paddle prices (plans.paddle_prices: [{price_id, months}]). */
  async paddlePrices(): Promise<PaddlePrice[]> {
    const rows = await this.db.orm.em
      .getConnection()
      .execute<Array<Record<string, unknown>>>("select id, name, paddle_prices from plans where paddle_prices is not null order by id");
    const prices: PaddlePrice[] = [];
    for (const row of rows) {
      const list = readJson<unknown>(row.paddle_prices, []);
      if (!Array.isArray(list)) continue;
      for (const entry of list) {
        const e = entry as { price_id?: unknown; months?: unknown };
        if (typeof e.price_id !== "string" || !Number.isSafeInteger(e.months) || (e.months as number) < 0) continue;
        prices.push({ planId: Number(row.id), planName: String(row.name), priceId: e.price_id, months: e.months as number });
      }
    }
    return prices;
  }

  /** The license remembering this Paddle subscription (preferred) or transaction, if any. */
  async licenseByPaddle(refs: { subscriptionId?: string | null; transactionId?: string | null }): Promise<License | null> {
    const wanted: Array<[string, string]> = [];
    if (refs.subscriptionId) wanted.push(["paddle_subscription_id", refs.subscriptionId]);
    if (refs.transactionId) wanted.push(["paddle_transaction_id", refs.transactionId], ["paddle_transaction_ids", refs.transactionId]);
    for (const [field, value] of wanted) {
      // instr() narrows on both dialects without JSON-function differences; the parsed metadata decides.
      const rows = await this.db.orm.em
        .getConnection()
        .execute<Array<{ id: unknown; metadata: unknown }>>("select id, metadata from licenses where instr(metadata, ?) > 0 order by id limit 50", [value]);
      for (const row of rows) {
        const metadata = readJson<Record<string, unknown>>(row.metadata, {});
        const stored = metadata[field];
        if (stored === value || (Array.isArray(stored) && stored.includes(value))) {
          const license = await this.licenseById(Number(row.id));
          if (license) return license;
        }
      }
    }
    return null;
  }

  /** A license read fresh. */
  async licenseById(id: number): Promise<License | null> {
    const row = await this.db.orm.em.fork().findOne(LicenseRow, { id }, { disableIdentityMap: true });
    return row ? toLicense(row) : null;
  }

  /**
   * Changes a license under its row lock: `change` sees the current license and returns the new expiry,
   * status and metadata additions, or null for no change. Answers the license after the change.
   */
  async updateLicense(
    id: number,
    now: Date,
    change: (license: License) => { expiresAt?: Date | null; status?: LicenseStatus; metadata?: Record<string, unknown> } | null,
  ): Promise<{ before: License; after: License; changed: boolean } | null> {
    return withRowLock(this.db, LicenseRow, id, async (em, row) => {
      if (!row) return null;
      const before = toLicense(row as never);
      const patch = change(before);
      if (!patch) return { before, after: before, changed: false };
      const after: License = {
        ...before,
        expiresAt: patch.expiresAt !== undefined ? patch.expiresAt : before.expiresAt,
        status: patch.status ?? before.status,
        metadata: { ...before.metadata, ...(patch.metadata ?? {}) },
        updatedAt: now,
      };
      await em.nativeUpdate(LicenseRow, { id }, { expiresAt: after.expiresAt, status: after.status, metadata: after.metadata, updatedAt: now });
      return { before, after, changed: true };
    });
  }

  /** The e-mail Paddle told us for a customer id (customer.created/updated events), newest first. */
  async emailOfPaddleCustomer(paddleCustomerId: string): Promise<string | null> {
    const rows = await this.db.orm.em
      .fork()
      .find(
        ProcessedWebhookEventRow,
        { source: "paddle", eventType: { $in: ["customer.created", "customer.updated"] } },
        { orderBy: { receivedAt: "desc", id: "desc" }, limit: 500 },
      );
    for (const row of rows) {
      const details = row.details ?? {};
      if (details.paddle_customer_id === paddleCustomerId && typeof details.email === "string") return details.email;
    }
    const rowsByLicense = await this.db.orm.em
      .getConnection()
      .execute<Array<{ email: unknown; metadata: unknown }>>(
        "select c.email, l.metadata from licenses l join customers c on c.id = l.customer_id where instr(l.metadata, ?) > 0 order by l.id desc limit 50",
        [paddleCustomerId],
      );
    for (const row of rowsByLicense) {
      if (readJson<Record<string, unknown>>(row.metadata, {}).paddle_customer_id === paddleCustomerId) return String(row.email);
    }
    return null;
  }
}
