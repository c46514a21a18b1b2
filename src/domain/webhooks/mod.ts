/** Outgoing webhooks: event types, signatures, the retry schedule and the port that records events. */
import { constantTimeEqual } from "../shared/mod.ts";

/** Every event a webhook endpoint can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  "license.created",
  "license.activated",
  "license.suspended",
  "license.expired",
  "license.cancelled",
  "quota.warning",
  "payment.failed",
] as const;

/** One webhook event type. */
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** True when `value` names a webhook event type. */
export function isWebhookEventType(value: unknown): value is WebhookEventType {
  return typeof value === "string" && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = "Chatello-Signature";

/** The header carrying the event id (receivers deduplicate on it: a delivery may arrive more than once). */
export const EVENT_ID_HEADER = "Chatello-Event-Id";

/** How far a signature's timestamp may be from the receiver's clock by default (replay protection). */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** Waits after the 1st, 2nd, ... failed attempt; the last one repeats until the attempts run out. */
export const RETRY_DELAYS_MS = [30_000, 120_000, 600_000, 3_600_000, 21_600_000] as const;

/** Attempts made before a delivery is given up (status "failed"). */
export const MAX_DELIVERY_ATTEMPTS = 8;

/** The JSON body POSTed to an endpoint. */
export interface WebhookEnvelope {
  id: string;
  type: WebhookEventType;
  created_at: string;
  data: Record<string, unknown>;
}

/** Port: records an event for delivery to every endpoint subscribed to its type. */
export interface EventSink {
  emit(type: WebhookEventType, data: Record<string, unknown>, now: Date): Promise<void>;
}

/** An EventSink that drops every event (for wiring without webhooks and for tests). */
export const NULL_EVENT_SINK: EventSink = Object.freeze({ emit: async () => {} });

/** The envelope of one event. */
export function webhookEnvelope(id: string, type: WebhookEventType, data: Record<string, unknown>, now: Date): WebhookEnvelope {
  return { id, type, created_at: now.toISOString(), data };
}

/**
 * Wait in milliseconds before the next attempt after `attempts` failed attempts, or null when the delivery
 * should be given up.
 */
export function nextAttemptDelay(attempts: number): number | null {
  if (attempts >= MAX_DELIVERY_ATTEMPTS) return null;
  const index = Math.min(Math.max(attempts, 1), RETRY_DELAYS_MS.length) - 1;
  return RETRY_DELAYS_MS[index];
}

/** True for an absolute http(s) URL without credentials: the only kind an endpoint may have. */
export function isWebhookUrl(value: string): boolean {
  if (value.length > 2048) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.username === "" && url.password === "";
}

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The signature header value `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export async function signPayload(secret: string, timestamp: number | Date, body: string): Promise<string> {
  const t = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : Math.floor(timestamp);
  return `t=${t},v1=${await hmacHex(secret, `${t}.${body}`)}`;
}

/**
 * For receivers: true when `header` signs exactly `body` with `secret` and its timestamp is within
 * `toleranceSeconds` of `now`. Any of several v1 values may match (secret rotation).
 */
export async function verifySignature(
  secret: string,
  header: string | null | undefined,
  body: string,
  now: Date,
  toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
): Promise<boolean> {
  if (!header) return false;
  let t: number | null = null;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const [name, value] = part.trim().split("=", 2);
    if (name === "t" && /^\d{1,12}$/.test(value ?? "")) t = Number(value);
    else if (name === "v1" && value) candidates.push(value.toLowerCase());
  }
  if (t === null || candidates.length === 0) return false;
  if (Math.abs(now.getTime() / 1000 - t) > toleranceSeconds) return false;
  const expected = await hmacHex(secret, `${t}.${body}`);
  let ok = false;
  for (const candidate of candidates) ok = constantTimeEqual(candidate, expected) || ok;
  return ok;
}
