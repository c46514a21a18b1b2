// Pure payment rules: Paddle event mapping, renewal/cancellation expiries and signature checks.
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import {
  cancelledExpiry,
  decideGenericPayment,
  decidePaddleEvent,
  parsePaddleEvent,
  renewedExpiry,
  verifyGenericSignature,
  verifyPaddleSignature,
} from "../../src/domain/payments/mod.ts";

const NOW = new Date("2026-03-15T12:00:00.000Z");

function event(type: string, data: Record<string, unknown>) {
  return parsePaddleEvent({ event_id: "evt_1", event_type: type, occurred_at: NOW.toISOString(), data })!;
}

describe("decidePaddleEvent", () => {
  test("decidePaddleEvent treats a recurring transaction of a subscription as a renewal", () => {
    const action = decidePaddleEvent(event("transaction.completed", { id: "txn_1", subscription_id: "sub_1", origin: "subscription_recurring", items: [{ price: { id: "pri_1", billing_cycle: { interval: "year", frequency: 1 } } }] }), NOW);
    expect(action).toMatchObject({ kind: "renew", priceId: "pri_1", cycleMonths: 12, refs: { subscriptionId: "sub_1", transactionId: "txn_1" } });
  });

  test("decidePaddleEvent treats a web checkout transaction as a purchase", () => {
    expect(decidePaddleEvent(event("transaction.completed", { id: "txn_1", origin: "web", items: [{ price_id: "pri_2" }], custom_data: { email: "a@b.c" } }), NOW)).toMatchObject({ kind: "purchase", priceId: "pri_2", email: "a@b.c" });
  });

  test("decidePaddleEvent maps past_due and paused to suspend, resumed to reactivate", () => {
    expect(decidePaddleEvent(event("subscription.past_due", { id: "sub_1" }), NOW).kind).toBe("suspend");
    expect(decidePaddleEvent(event("subscription.paused", { id: "sub_1" }), NOW).kind).toBe("suspend");
    expect(decidePaddleEvent(event("subscription.resumed", { id: "sub_1" }), NOW).kind).toBe("reactivate");
  });

  test("decidePaddleEvent cancels at the scheduled change, else at the billing period's end", () => {
    const scheduled = decidePaddleEvent(event("subscription.canceled", { id: "sub_1", scheduled_change: { action: "cancel", effective_at: "2026-04-01T00:00:00Z" }, current_billing_period: { ends_at: "2026-05-01T00:00:00Z" } }), NOW);
    expect(scheduled).toMatchObject({ kind: "cancel_at", endsAt: new Date("2026-04-01T00:00:00Z") });
    const period = decidePaddleEvent(event("subscription.canceled", { id: "sub_1", current_billing_period: { ends_at: "2026-05-01T00:00:00Z" } }), NOW);
    expect(period).toMatchObject({ kind: "cancel_at", endsAt: new Date("2026-05-01T00:00:00Z") });
  });

  test("decidePaddleEvent refunds only approved refund adjustments and ignores unknown types", () => {
    expect(decidePaddleEvent(event("adjustment.created", { action: "refund", status: "approved", transaction_id: "txn_1" }), NOW).kind).toBe("refund");
    expect(decidePaddleEvent(event("adjustment.created", { action: "refund", status: "pending_approval", transaction_id: "txn_1" }), NOW).kind).toBe("ignore");
    expect(decidePaddleEvent(event("payout.paid", {}), NOW).kind).toBe("ignore");
  });

  test("parsePaddleEvent rejects a body without event id or type", () => {
    expect(parsePaddleEvent({ data: {} })).toBeNull();
  });
});

describe("expiries", () => {
  test("renewedExpiry counts from the later of now and the current expiry, and keeps lifetime", () => {
    expect(renewedExpiry(new Date("2026-04-15T12:00:00Z"), NOW, 1)?.toISOString()).toBe("2026-05-15T12:00:00.000Z");
    expect(renewedExpiry(new Date("2026-01-01T00:00:00Z"), NOW, 1)?.toISOString()).toBe("2026-04-15T12:00:00.000Z");
    expect(renewedExpiry(null, NOW, 1)).toBeNull();
  });

  test("cancelledExpiry never extends a license", () => {
    expect(cancelledExpiry(new Date("2026-04-01T00:00:00Z"), new Date("2026-05-01T00:00:00Z")).toISOString()).toBe("2026-04-01T00:00:00.000Z");
    expect(cancelledExpiry(null, new Date("2026-05-01T00:00:00Z")).toISOString()).toBe("2026-05-01T00:00:00.000Z");
  });
});

describe("signatures", () => {
  const body = '{"event_id":"evt_1"}';
  const ts = Math.floor(NOW.getTime() / 1000);
  const h1 = createHmac("sha256", "s").update(`${ts}:${body}`).digest("hex");

  test("verifyPaddleSignature accepts a fresh signature and rejects a stale or wrong one", async () => {
    expect(await verifyPaddleSignature(`ts=${ts};h1=${h1}`, body, "s", NOW)).toBe(true);
    expect(await verifyPaddleSignature(`ts=${ts};h1=${h1}`, body, "t", NOW)).toBe(false);
    expect(await verifyPaddleSignature(`ts=${ts};h1=${h1}`, body, "s", new Date(NOW.getTime() + 301_000))).toBe(false);
    expect(await verifyPaddleSignature(null, body, "s", NOW)).toBe(false);
  });

  test("verifyGenericSignature checks the hex HMAC of the raw body", async () => {
    const sig = createHmac("sha256", "g").update(body).digest("hex");
    expect(await verifyGenericSignature(sig, body, "g")).toBe(true);
    expect(await verifyGenericSignature(`sha256=${sig}`, body, "g")).toBe(true);
    expect(await verifyGenericSignature(sig, body + " ", "g")).toBe(false);
  });

  test("decideGenericPayment needs a known type and a license key", () => {
    expect(decideGenericPayment({ type: "payment.failed", metadata: { license_key: "K" } }).kind).toBe("payment_failed");
    expect(decideGenericPayment({ type: "payment.refunded", metadata: { license_key: "K" } }).kind).toBe("invalid");
  });
});
