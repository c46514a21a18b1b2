// Payment webhooks: Paddle Billing notifications and the old generic payment hook (raw-body signatures).
//
// Configuration (read here because services/config do not carry it yet; the app layer may read env):
//   PADDLE_WEBHOOK_SECRET   Paddle notification destination secret; unset → 503 webhooks_not_configured.
//   PAYMENT_WEBHOOK_SECRET  shared secret of the old generic hook; unset → 503 webhooks_not_configured.
// Both can be given on deps instead (`paddleWebhookSecret`, `paymentWebhookSecret`); an `outbox` on deps
// (the mail Outbox port) makes new purchases e-mail the key, without one the e-mail is skipped.
//
// Exactly-once: a delivery first claims (source, event_id) in processed_webhook_events (unique index), so of
// two concurrent deliveries only one applies the effect; the claim is given back when the effect fails, so
// Paddle's retry processes it again. License creation is additionally claimed per purchase (subscription
// or transaction id), because Paddle sends both subscription.created and transaction.completed for it.
// A sold-out lifetime plan answers 200 with outcome "sold_out" (retrying cannot succeed; refund in Paddle).
import { Elysia, t } from "elysia";
import { DbPaymentStore, PURCHASE_SOURCE } from "../../adapters/db/payment_repos.ts";
import type { Actor } from "../../domain/admin/mod.ts";
import { applyAction, issueLicense, licenseKeyDigest, parseLicenseKey, type License, type LicenseAction, type LicenseTerm } from "../../domain/licensing/mod.ts";
import { renderMail, type Outbox } from "../../domain/mail/mod.ts";
import {
  cancelledExpiry,
  decideGenericPayment,
  decidePaddleEvent,
  parsePaddleEvent,
  planForPrice,
  renewedExpiry,
  verifyGenericSignature,
  verifyPaddleSignature,
  type PaddleAction,
  type PaddleEvent,
} from "../../domain/payments/mod.ts";
import { DomainError } from "../../domain/shared/mod.ts";
import type { AdminAreaDeps } from "./admin/area_deps.ts";
import { asIs, ErrorBody, errorResponse } from "./docs.ts";
import { errorBody, json } from "./errors.ts";

/** Optional payment settings a composition root may add to the services. */
export interface PaymentOptions {
  paddleWebhookSecret?: string | null;
  paymentWebhookSecret?: string | null;
  outbox?: Outbox;
}

/** The actor of every change a Paddle notification makes. */
export const PADDLE_ACTOR: Actor = Object.freeze({ type: "system", label: "paddle" });

/** The actor of the old generic payment hook. */
export const PAYMENT_HOOK_ACTOR: Actor = Object.freeze({ type: "system", label: "payment_webhook" });

type Effect = { outcome: string; details: Record<string, unknown>; retry?: boolean };

const Received = t.Object({ received: t.Boolean(), duplicate: t.Optional(t.Boolean()), outcome: t.Optional(t.String()) }, { additionalProperties: true });

function secretFrom(deps: object, name: "paddleWebhookSecret" | "paymentWebhookSecret", env: string): string | null {
  const value = name in deps ? (deps as Record<string, unknown>)[name] : process.env[env];
  return typeof value === "string" && value !== "" ? value : null;
}

/** The payment webhook routes; `rawBodyOf` gives the exact bytes the signature covers. */
export function createPaymentRoutes(deps: AdminAreaDeps & PaymentOptions, rawBodyOf: (request: Request) => string) {
  const store = new DbPaymentStore(deps.db);
  const paddleSecret = secretFrom(deps, "paddleWebhookSecret", "PADDLE_WEBHOOK_SECRET");
  const paymentSecret = secretFrom(deps, "paymentWebhookSecret", "PAYMENT_WEBHOOK_SECRET");
  const notConfigured = (what: string) => asIs(json(503, errorBody(`${what} webhooks not configured`, "webhooks_not_configured")));
  const notConfiguredDoc = (variable: string, what: string) =>
    errorResponse(`${variable} is not set`, errorBody(`${what} webhooks not configured`, "webhooks_not_configured"));
  const invalidSignature = () => asIs(json(401, errorBody("Invalid signature", "invalid_signature")));

  async function sendDelivery(license: License, licenseKey: string, email: string, name: string, planName: string): Promise<boolean> {
    if (!deps.outbox) return false;
    const now = deps.clock.now();
    const mail = renderMail("license_delivered", { customerName: name, licenseKey, planName, expiresAt: license.expiresAt, publicUrl: deps.publicUrl });
    return deps.outbox.enqueue({ dedupeKey: `license_delivered:${license.id}`, kind: "license_delivered", to: email, ...mail }, now);
  }

  /** A suspension for a failed payment: webhook events, and the customer told once per license and day. */
  async function paymentFailed(license: License, now: Date): Promise<void> {
    await deps.events?.emit("payment.failed", { license_id: license.id, key_prefix: license.keyPrefix, customer_id: license.customerId }, now);
    await deps.events?.emit("license.suspended", { license_id: license.id, key_prefix: license.keyPrefix, reason: "payment_failed" }, now);
    if (!deps.outbox) return;
    const [customer, plan] = await Promise.all([deps.customers.byId(license.customerId), deps.plans.byId(license.planId)]);
    if (!customer) return;
    const mail = renderMail("license_suspended", { customerName: customer.name, keyPrefix: license.keyPrefix, planName: plan?.displayName ?? "", expiresAt: license.expiresAt, publicUrl: deps.publicUrl });
    await deps.outbox.enqueue({ dedupeKey: `suspended:license:${license.id}:${now.toISOString().slice(0, 10)}`, kind: "license_suspended", to: customer.email, ...mail }, now);
  }

  async function purchase(event: PaddleEvent, action: Extract<PaddleAction, { kind: "purchase" }>): Promise<Effect> {
    const { refs } = action;
    const base = { paddle_subscription_id: refs.subscriptionId, paddle_transaction_id: refs.transactionId, paddle_customer_id: refs.customerId, price_id: action.priceId };
    const existing = await store.licenseByPaddle(refs);
    if (existing) return { outcome: "already_issued", details: { ...base, license_id: existing.id } };
    const price = planForPrice(await store.paddlePrices(), action.priceId);
    if (!price) return { outcome: "unknown_price", details: base };
    const email = action.email ?? (refs.customerId ? await store.emailOfPaddleCustomer(refs.customerId) : null);
    // Paddle does not promise order: without customer.created yet, a non-2xx answer makes Paddle retry later.
    if (!email) return { outcome: "customer_unknown", details: base, retry: true };
    const purchaseRef = refs.subscriptionId ?? refs.transactionId;
    if (!purchaseRef) return { outcome: "ignored", details: { ...base, reason: "no subscription or transaction id" } };
    const now = deps.clock.now();
    if (!(await store.claim(PURCHASE_SOURCE, purchaseRef, event.eventType, now))) {
      return { outcome: "already_issued", details: { ...base, reason: "purchase handled by another event" } };
    }
    const term: LicenseTerm = price.months === 0 ? { lifetime: true } : { months: price.months };
    try {
      const issued = await issueLicense(deps, {
        email,
        planName: price.planName,
        term,
        actor: PADDLE_ACTOR,
        metadata: {
          source: "paddle",
          paddle_subscription_id: refs.subscriptionId,
          paddle_transaction_id: refs.transactionId,
          paddle_transaction_ids: refs.transactionId ? [refs.transactionId] : [],
          paddle_customer_id: refs.customerId,
          paddle_price_id: price.priceId,
          paddle_event_id: event.eventId,
        },
      });
      await store.finish(PURCHASE_SOURCE, purchaseRef, "issued", { license_id: issued.license.id, event_id: event.eventId });
      const mailed = await sendDelivery(issued.license, issued.licenseKey, issued.customer.email, issued.customer.name, price.planName).catch((error) => {
        deps.reportError(error, "queueing the license delivery e-mail");
        return false;
      });
      return {
        outcome: "license_issued",
        details: {
          ...base,
          license_id: issued.license.id,
          key_prefix: issued.license.keyPrefix,
          plan: price.planName,
          customer_id: issued.customer.id,
          expires_at: issued.license.expiresAt?.toISOString() ?? null,
          mail_queued: mailed,
        },
      };
    } catch (error) {
      await store.release(PURCHASE_SOURCE, purchaseRef);
      if (error instanceof DomainError && error.code === "limit_reached") {
        return { outcome: "sold_out", details: { ...base, plan: price.planName, email, cap: error.details.cap ?? null } };
      }
      throw error;
    }
  }

  async function changeStatus(license: License, action: LicenseAction): Promise<Effect> {
    const now = deps.clock.now();
    const result = await store.updateLicense(license.id, now, (current) => {
      try {
        const status = applyAction(current, action, now);
        return status === current.status ? null : { status };
      } catch (error) {
        if (error instanceof DomainError && error.code === "conflict") return null;
        throw error;
      }
    });
    const after = result?.after ?? license;
    const outcome = result?.changed ? { suspend: "suspended", reactivate: "reactivated", cancel: "cancelled" }[action] : "no_change";
    if (result?.changed) {
      await deps.audit.record(
        { actor: PADDLE_ACTOR, action: `license.${outcome}`, targetType: "license", targetId: license.id, details: { from: result.before.status, to: after.status } },
        now,
      );
      if (action === "suspend") await paymentFailed(after, now);
      if (action === "cancel") await deps.events?.emit("license.cancelled", { license_id: license.id, key_prefix: license.keyPrefix, reason: "payment" }, now);
    }
    return { outcome, details: { license_id: license.id, status: after.status } };
  }

  async function apply(event: PaddleEvent, action: PaddleAction): Promise<Effect> {
    const now = deps.clock.now();
    switch (action.kind) {
      case "ignore":
        return { outcome: "ignored", details: {} };
      case "remember_customer":
        return { outcome: "recorded", details: { paddle_customer_id: action.paddleCustomerId, email: action.email.toLowerCase() } };
      case "purchase":
        return purchase(event, action);
      case "renew": {
        const license = await store.licenseByPaddle({ subscriptionId: action.refs.subscriptionId });
        if (!license) return purchase(event, { ...action, kind: "purchase", email: null });
        const mapped = planForPrice(await store.paddlePrices(), action.priceId);
        const months = mapped && mapped.months > 0 ? mapped.months : action.cycleMonths;
        if (!months) return { outcome: "no_change", details: { license_id: license.id, reason: "unknown billing period" } };
        const txn = action.refs.transactionId;
        const result = await store.updateLicense(license.id, now, (current) => {
          const seen = Array.isArray(current.metadata.paddle_transaction_ids) ? (current.metadata.paddle_transaction_ids as string[]) : [];
          if (txn && seen.includes(txn)) return null;
          const expiresAt = renewedExpiry(current.expiresAt, now, months);
          if (expiresAt === null) return null;
          // A paid renewal lifts past-due suspension and a stored expiry; a cancellation stays final.
          const status = current.status === "suspended" || current.status === "expired" ? "active" : current.status;
          return { expiresAt, status, metadata: { paddle_transaction_ids: txn ? [...seen, txn].slice(-24) : seen, paddle_last_transaction_id: txn } };
        });
        if (!result?.changed) return { outcome: "no_change", details: { license_id: license.id, transaction_id: txn } };
        const details = { license_id: license.id, months, from: result.before.expiresAt?.toISOString() ?? null, to: result.after.expiresAt?.toISOString() ?? null, status: result.after.status, transaction_id: txn };
        await deps.audit.record({ actor: PADDLE_ACTOR, action: "license.extended", targetType: "license", targetId: license.id, details }, now);
        return { outcome: "extended", details };
      }
      case "suspend":
      case "reactivate": {
        const license = await store.licenseByPaddle({ subscriptionId: action.refs.subscriptionId });
        if (!license) {
          // subscription.activated can be the first news of a subscription: treat it as its creation.
          if (event.eventType === "subscription.activated") return apply(event, decidePaddleEvent({ ...event, eventType: "subscription.created" }, now));
          return { outcome: "no_license", details: { paddle_subscription_id: action.refs.subscriptionId } };
        }
        return changeStatus(license, action.kind);
      }
      case "cancel_at": {
        const license = await store.licenseByPaddle({ subscriptionId: action.refs.subscriptionId });
        if (!license) return { outcome: "no_license", details: { paddle_subscription_id: action.refs.subscriptionId } };
        const ended = action.endsAt.getTime() <= now.getTime();
        const result = await store.updateLicense(license.id, now, (current) => ({
          expiresAt: cancelledExpiry(current.expiresAt, action.endsAt),
          // Until the paid period ends the customer keeps what they paid for; afterwards it is cancelled.
          status: ended && current.status !== "cancelled" ? "cancelled" : current.status,
          metadata: { paddle_cancel_effective_at: action.endsAt.toISOString() },
        }));
        const after = result?.after ?? license;
        const details = { license_id: license.id, ends_at: action.endsAt.toISOString(), expires_at: after.expiresAt?.toISOString() ?? null, status: after.status };
        const outcome = ended ? "cancelled" : "cancel_scheduled";
        await deps.audit.record({ actor: PADDLE_ACTOR, action: ended ? "license.cancelled" : "license.cancel_scheduled", targetType: "license", targetId: license.id, details }, now);
        return { outcome, details };
      }
      case "refund": {
        const license = await store.licenseByPaddle({ transactionId: action.refs.transactionId });
        if (!license) return { outcome: "no_license", details: { paddle_transaction_id: action.refs.transactionId } };
        // A refunded lifetime purchase takes the license away; a refunded subscription payment ends with the subscription.
        if (license.expiresAt !== null) return { outcome: "refund_noted", details: { license_id: license.id, paddle_transaction_id: action.refs.transactionId } };
        const effect = await changeStatus(license, "cancel");
        return { ...effect, details: { ...effect.details, paddle_transaction_id: action.refs.transactionId } };
      }
    }
  }

  return new Elysia({ name: "payments-api" })
    .post(
      "/api/webhooks/paddle",
      async ({ request, body }) => {
        if (!paddleSecret) return notConfigured("Paddle");
        const now = deps.clock.now();
        if (!(await verifyPaddleSignature(request.headers.get("paddle-signature"), rawBodyOf(request), paddleSecret, now))) return invalidSignature();
        const event = parsePaddleEvent(body);
        if (!event) return asIs(json(422, errorBody("Not a Paddle notification", "invalid_request")));
        if (!(await store.claim("paddle", event.eventId, event.eventType, now))) return { received: true, duplicate: true };
        let effect: Effect;
        try {
          effect = await apply(event, decidePaddleEvent(event, now));
        } catch (error) {
          await store.release("paddle", event.eventId);
          throw error;
        }
        const details = { ...effect.details, occurred_at: event.occurredAt?.toISOString() ?? null };
        await deps.audit.record(
          { actor: PADDLE_ACTOR, action: "payment.paddle_event", targetType: "webhook_event", targetId: event.eventId, details: { event_type: event.eventType, outcome: effect.outcome, ...details } },
          now,
        );
        if (effect.retry) {
          await store.release("paddle", event.eventId);
          return asIs(json(409, errorBody("The customer of this purchase is not known yet; retry later", effect.outcome)));
        }
        await store.finish("paddle", event.eventId, effect.outcome, details);
        return { received: true, outcome: effect.outcome };
      },
      {
        detail: {
          summary: "Paddle Billing notifications",
          description:
            "Verified with the Paddle-Signature header (HMAC-SHA256 of \"ts:rawbody\", 5-minute tolerance). Each event id is processed once; replays answer 200 with duplicate: true. A sold-out lifetime purchase answers 200 with outcome \"sold_out\".",
          tags: ["Payments"],
          security: [],
        },
        response: { 200: Received, 401: ErrorBody, 409: ErrorBody, 422: ErrorBody, 503: notConfiguredDoc("PADDLE_WEBHOOK_SECRET", "Paddle") },
      },
    )
    .post(
      "/api/webhook/payment",
      async ({ request, body }) => {
        if (!paymentSecret) return notConfigured("Payment");
        const raw = rawBodyOf(request);
        if (!(await verifyGenericSignature(request.headers.get("x-webhook-signature"), raw, paymentSecret))) return invalidSignature();
        const action = decideGenericPayment(body);
        if (action.kind === "invalid") return asIs(json(422, errorBody("Expected type payment.succeeded or payment.failed and metadata.license_key", "invalid_request")));
        const key = parseLicenseKey(action.licenseKey);
        const license = key ? await deps.licenses.byDigest(await licenseKeyDigest(key)) : null;
        if (!license) return asIs(json(404, errorBody("License not found", "not_found")));
        const now = deps.clock.now();
        let effect: Effect;
        if (action.kind === "payment_failed") {
          effect = await changeStatus(license, "suspend");
        } else {
          const result = await store.updateLicense(license.id, now, (current) => {
            if (current.status === "cancelled") return null;
            return { expiresAt: renewedExpiry(current.expiresAt, now, 1), status: "active" };
          });
          const after = result?.after ?? license;
          effect = { outcome: result?.changed ? "extended" : "no_change", details: { license_id: license.id, status: after.status, expires_at: after.expiresAt?.toISOString() ?? null } };
        }
        await deps.audit.record(
          { actor: PAYMENT_HOOK_ACTOR, action: "payment.generic_event", targetType: "license", targetId: license.id, details: { type: action.kind === "payment_failed" ? "payment.failed" : "payment.succeeded", outcome: effect.outcome, ...effect.details } },
          now,
        );
        return { received: true, outcome: effect.outcome };
      },
      {
        detail: {
          summary: "Generic payment hook (legacy)",
          description: "payment.failed suspends the license in metadata.license_key; payment.succeeded reactivates it and extends it by one month. X-Webhook-Signature is the hex HMAC-SHA256 of the raw body.",
          tags: ["Payments"],
          security: [],
        },
        response: { 200: Received, 401: ErrorBody, 404: ErrorBody, 422: ErrorBody, 503: notConfiguredDoc("PAYMENT_WEBHOOK_SECRET", "Payment") },
      },
    );
}
