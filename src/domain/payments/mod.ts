/** Payments: Paddle Billing and generic payment events mapped to license actions, and their signature checks. */
import { addCalendarMonths } from "../licensing/mod.ts";
import { constantTimeEqual } from "../shared/mod.ts";

/** A Paddle Billing notification as far as the license rules need it. */
export interface PaddleEvent {
  eventId: string;
  eventType: string;
  occurredAt: Date | null;
  data: Record<string, unknown>;
}

/** The Paddle references a license remembers in its metadata. */
export interface PaddleRefs {
  subscriptionId: string | null;
  transactionId: string | null;
  customerId: string | null;
}

/** What a Paddle event asks of the licenses; `ignore` events are only recorded. */
export type PaddleAction =
  | { kind: "ignore" }
  | { kind: "remember_customer"; paddleCustomerId: string; email: string }
  /** A first purchase: subscription created/activated or a completed one-time or first transaction. */
  | { kind: "purchase"; refs: PaddleRefs; priceId: string | null; email: string | null; cycleMonths: number | null }
  /** A recurring payment of a known subscription: extend the same license by the billing period. */
  | { kind: "renew"; refs: PaddleRefs; priceId: string | null; cycleMonths: number | null }
  | { kind: "suspend" | "reactivate"; refs: PaddleRefs }
  /** The subscription ends at `endsAt` (the end of the paid period). */
  | { kind: "cancel_at"; refs: PaddleRefs; endsAt: Date }
  /** An approved refund (or chargeback) of a transaction. */
  | { kind: "refund"; refs: PaddleRefs };

/** The Paddle event types that change licenses; everything else is recorded as "ignored". */
export const HANDLED_PADDLE_EVENTS: readonly string[] = Object.freeze([
  "customer.created",
  "customer.updated",
  "subscription.created",
  "subscription.activated",
  "subscription.resumed",
  "subscription.past_due",
  "subscription.paused",
  "subscription.canceled",
  "subscription.updated",
  "transaction.completed",
  "adjustment.created",
  "adjustment.updated",
]);

function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

function date(value: unknown): Date | null {
  const text = str(value);
  if (!text) return null;
  const parsed = new Date(text);
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

/** Parses a notification body; null when it is not a Paddle event (no event id or type). */
export function parsePaddleEvent(body: unknown): PaddleEvent | null {
  const root = obj(body);
  const eventId = str(root.event_id);
  const eventType = str(root.event_type);
  if (!eventId || !eventType || eventId.length > 128 || eventType.length > 64) return null;
  return { eventId, eventType, occurredAt: date(root.occurred_at), data: obj(root.data) };
}

/** Months of a Paddle billing cycle ({interval, frequency}); null for day/week cycles or none. */
export function cycleMonths(cycle: unknown): number | null {
  const c = obj(cycle);
  const frequency = typeof c.frequency === "number" && Number.isSafeInteger(c.frequency) && c.frequency > 0 ? c.frequency : null;
  if (frequency === null) return null;
  if (c.interval === "month") return frequency;
  if (c.interval === "year") return frequency * 12;
  return null;
}

function firstItem(data: Record<string, unknown>): Record<string, unknown> {
  return Array.isArray(data.items) ? obj(data.items[0]) : {};
}

function priceIdOf(data: Record<string, unknown>): string | null {
  const item = firstItem(data);
  return str(obj(item.price).id) ?? str(item.price_id);
}

function emailOf(data: Record<string, unknown>): string | null {
  return str(obj(data.customer).email) ?? str(obj(data.custom_data).email);
}

function subscriptionRefs(data: Record<string, unknown>): PaddleRefs {
  return { subscriptionId: str(data.id), transactionId: str(data.transaction_id), customerId: str(data.customer_id) };
}

function transactionRefs(data: Record<string, unknown>): PaddleRefs {
  return { subscriptionId: str(data.subscription_id), transactionId: str(data.id), customerId: str(data.customer_id) };
}

/** The end of a cancelled subscription's paid period: the scheduled change, the billing period's end, or the cancel time. */
export function cancellationEnd(data: Record<string, unknown>, fallback: Date): Date {
  const change = obj(data.scheduled_change);
  const scheduled = change.action === "cancel" ? date(change.effective_at) : null;
  return scheduled ?? date(obj(data.current_billing_period).ends_at) ?? date(data.canceled_at) ?? fallback;
}

/**
 * Maps a Paddle event to what it does to licenses. A completed transaction is a renewal when Paddle says it
 * was a recurring charge of a subscription; any other completed transaction is a (possibly first) purchase,
 * which the caller turns into a no-op when the subscription or transaction already has its license.
 */
export function decidePaddleEvent(event: PaddleEvent, now: Date): PaddleAction {
  const data = event.data;
  switch (event.eventType) {
    case "customer.created":
    case "customer.updated": {
      const id = str(data.id);
      const email = str(data.email);
      return id && email ? { kind: "remember_customer", paddleCustomerId: id, email } : { kind: "ignore" };
    }
    case "subscription.created":
      return { kind: "purchase", refs: subscriptionRefs(data), priceId: priceIdOf(data), email: emailOf(data), cycleMonths: cycleMonths(data.billing_cycle) };
    case "subscription.activated":
    case "subscription.resumed":
      return { kind: "reactivate", refs: subscriptionRefs(data) };
    case "subscription.past_due":
    case "subscription.paused":
      return { kind: "suspend", refs: subscriptionRefs(data) };
    case "subscription.canceled":
      return { kind: "cancel_at", refs: subscriptionRefs(data), endsAt: cancellationEnd(data, event.occurredAt ?? now) };
    case "subscription.updated": {
      // A cancellation scheduled for the period's end arrives as an update; the license runs until then.
      const change = obj(data.scheduled_change);
      const at = change.action === "cancel" ? date(change.effective_at) : null;
      return at ? { kind: "cancel_at", refs: subscriptionRefs(data), endsAt: at } : { kind: "ignore" };
    }
    case "transaction.completed": {
      const refs = transactionRefs(data);
      const months = cycleMonths(obj(obj(firstItem(data).price).billing_cycle));
      if (refs.subscriptionId && data.origin === "subscription_recurring") {
        return { kind: "renew", refs, priceId: priceIdOf(data), cycleMonths: months };
      }
      return { kind: "purchase", refs, priceId: priceIdOf(data), email: emailOf(data), cycleMonths: months };
    }
    case "adjustment.created":
    case "adjustment.updated": {
      const approved = data.status === "approved";
      const refund = data.action === "refund" || data.action === "chargeback";
      if (!approved || !refund) return { kind: "ignore" };
      return { kind: "refund", refs: { subscriptionId: str(data.subscription_id), transactionId: str(data.transaction_id), customerId: str(data.customer_id) } };
    }
    default:
      return { kind: "ignore" };
  }
}

/** A plan's Paddle price mapping entry; months 0 is a one-time lifetime purchase. */
export interface PaddlePrice {
  planId: number;
  planName: string;
  priceId: string;
  months: number;
}

/** The mapping entry for a price id, or null when no plan sells it. */
export function planForPrice(prices: readonly PaddlePrice[], priceId: string | null): PaddlePrice | null {
  if (!priceId) return null;
  return prices.find((p) => p.priceId === priceId) ?? null;
}

/** The expiry after a renewal: the billing period added to the later of now and the current expiry; lifetime stays lifetime. */
export function renewedExpiry(current: Date | null, now: Date, months: number): Date | null {
  if (current === null) return null;
  const from = current.getTime() > now.getTime() ? current : now;
  return addCalendarMonths(from, months);
}

/** The expiry after a cancellation effective at `endsAt`: never later than a current (finite) expiry. */
export function cancelledExpiry(current: Date | null, endsAt: Date): Date {
  return current !== null && current.getTime() < endsAt.getTime() ? current : endsAt;
}

/** Longest clock difference accepted between Paddle's signature timestamp and ours, either way. */
export const PADDLE_SIGNATURE_TOLERANCE_SECONDS = 300;

/** Hex HMAC-SHA256 of `message` with `secret` (WebCrypto). */
export async function hmacSha256Hex(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parses `ts=<unix>;h1=<hex>[;h1=<hex>...]`; null when malformed. */
export function parsePaddleSignature(header: string | null): { ts: number; h1: string[] } | null {
  if (!header) return null;
  let ts: number | null = null;
  const h1: string[] = [];
  for (const part of header.split(";")) {
    const [name, ...rest] = part.split("=");
    const value = rest.join("=").trim();
    if (name?.trim() === "ts" && /^\d{1,12}$/.test(value)) ts = Number(value);
    else if (name?.trim() === "h1" && /^[0-9a-fA-F]{64}$/.test(value)) h1.push(value.toLowerCase());
  }
  return ts !== null && h1.length > 0 ? { ts, h1 } : null;
}

/**
 * True when `Paddle-Signature` signs "<ts>:<rawBody>" with the secret, within the tolerance either way.
 * Every h1 is compared (Paddle sends several while a secret is being rotated), each in constant time.
 */
export async function verifyPaddleSignature(header: string | null, rawBody: string, secret: string, now: Date): Promise<boolean> {
  const parsed = parsePaddleSignature(header);
  if (!parsed) return false;
  if (Math.abs(now.getTime() / 1000 - parsed.ts) > PADDLE_SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = await hmacSha256Hex(secret, `${parsed.ts}:${rawBody}`);
  let ok = false;
  for (const candidate of parsed.h1) ok = constantTimeEqual(candidate, expected) || ok;
  return ok;
}

/** True when `X-Webhook-Signature` (hex, optionally "sha256=") is the HMAC-SHA256 of the raw body. */
export async function verifyGenericSignature(header: string | null, rawBody: string, secret: string): Promise<boolean> {
  const value = (header ?? "").trim().replace(/^sha256=/i, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(value)) return false;
  return constantTimeEqual(value, await hmacSha256Hex(secret, rawBody));
}

/** What the old generic hook asks: failed payments suspend, succeeded ones reactivate and extend a month. */
export type GenericPaymentAction = { kind: "payment_failed"; licenseKey: string } | { kind: "payment_succeeded"; licenseKey: string } | { kind: "invalid" };

/** Parses the old generic hook's body. */
export function decideGenericPayment(body: unknown): GenericPaymentAction {
  const root = obj(body);
  const key = str(obj(root.metadata).license_key);
  if (!key) return { kind: "invalid" };
  if (root.type === "payment.failed") return { kind: "payment_failed", licenseKey: key };
  if (root.type === "payment.succeeded") return { kind: "payment_succeeded", licenseKey: key };
  return { kind: "invalid" };
}
