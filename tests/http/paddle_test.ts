// Paddle Billing webhooks and the old generic payment hook: signatures, exactly-once processing, every
// license lifecycle transition, the founders cap under concurrent purchases, on the run's dialect.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { DbPaymentStore } from "../../src/adapters/db/payment_repos.ts";
import { licenseKeyDigest } from "../../src/domain/licensing/mod.ts";
import { signedInAdmin } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const SECRET = "pdl_ntfset_test_secret_0123456789";
const GENERIC_SECRET = "generic-test-secret";
process.env.PADDLE_WEBHOOK_SECRET = SECRET;
process.env.PAYMENT_WEBHOOK_SECRET = GENERIC_SECRET;

let svc: TestService;
let store: DbPaymentStore;
let seq = 0;

beforeAll(async () => {
  svc = await startTestService();
  store = new DbPaymentStore(svc.services.db);
  const conn = svc.services.db.orm.em.getConnection();
  await conn.execute("update plans set paddle_prices = ? where name = 'pro'", [JSON.stringify([{ price_id: "pri_pro_month", months: 1 }, { price_id: "pri_pro_year", months: 12 }])]);
  await conn.execute("update plans set paddle_prices = ? where name = 'founders'", [JSON.stringify([{ price_id: "pri_founders", months: 0 }])]);
});
afterAll(async () => {
  await svc.close();
});

function sign(raw: string, ts = Math.floor(svc.clock.now().getTime() / 1000), secret = SECRET): string {
  return `ts=${ts};h1=${createHmac("sha256", secret).update(`${ts}:${raw}`).digest("hex")}`;
}

function nextId(prefix: string): string {
  seq += 1;
  return `${prefix}_01hv${String(seq).padStart(22, "0")}`;
}

async function deliver(event: Record<string, unknown>, signature?: string): Promise<Response> {
  const raw = JSON.stringify(event);
  return svc.request("POST", "/api/webhooks/paddle", { rawBody: raw, headers: { "content-type": "application/json", "paddle-signature": signature ?? sign(raw) } });
}

function envelope(type: string, data: Record<string, unknown>, eventId = nextId("evt")): Record<string, unknown> {
  return { event_id: eventId, event_type: type, occurred_at: svc.clock.now().toISOString().replace("Z", "000Z"), notification_id: nextId("ntf"), data };
}

function customerCreated(ctm: string, email: string) {
  return envelope("customer.created", { id: ctm, name: null, email, marketing_consent: false, status: "active", custom_data: null, locale: "en", created_at: svc.clock.now().toISOString(), updated_at: svc.clock.now().toISOString(), import_meta: null });
}

function subscription(type: string, sub: string, ctm: string, extra: Record<string, unknown> = {}) {
  const now = svc.clock.now();
  const end = new Date(now.getTime() + 31 * 86_400_000).toISOString();
  return envelope(type, {
    id: sub,
    status: "active",
    customer_id: ctm,
    address_id: "add_01hv0000000000000000000000",
    business_id: null,
    currency_code: "EUR",
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    started_at: now.toISOString(),
    first_billed_at: now.toISOString(),
    next_billed_at: end,
    paused_at: null,
    canceled_at: null,
    collection_mode: "automatic",
    billing_details: null,
    current_billing_period: { starts_at: now.toISOString(), ends_at: end },
    billing_cycle: { interval: "month", frequency: 1 },
    scheduled_change: null,
    items: [{ status: "active", quantity: 1, recurring: true, created_at: now.toISOString(), updated_at: now.toISOString(), previously_billed_at: now.toISOString(), next_billed_at: end, trial_dates: null, price: { id: "pri_pro_month", product_id: "pro_01hv", description: "Pro monthly", type: "standard", billing_cycle: { interval: "month", frequency: 1 }, trial_period: null, tax_mode: "account_setting", unit_price: { amount: "1900", currency_code: "EUR" }, status: "active" } }],
    custom_data: null,
    management_urls: { update_payment_method: null, cancel: "https://buyer-portal.paddle.com/x" },
    discount: null,
    import_meta: null,
    ...extra,
  });
}

function transaction(txn: string, ctm: string, priceId: string, origin: string, sub: string | null, extra: Record<string, unknown> = {}) {
  const now = svc.clock.now().toISOString();
  const cycle = priceId === "pri_founders" ? null : { interval: "month", frequency: 1 };
  return envelope("transaction.completed", {
    id: txn,
    status: "completed",
    customer_id: ctm,
    address_id: "add_01hv0000000000000000000000",
    business_id: null,
    custom_data: null,
    origin,
    collection_mode: "automatic",
    subscription_id: sub,
    invoice_id: "inv_01hv",
    invoice_number: "325-10001",
    billing_details: null,
    billing_period: sub ? { starts_at: now, ends_at: now } : null,
    currency_code: "EUR",
    discount_id: null,
    created_at: now,
    updated_at: now,
    billed_at: now,
    items: [{ price_id: priceId, price: { id: priceId, billing_cycle: cycle, unit_price: { amount: "1900", currency_code: "EUR" } }, quantity: 1, proration: null }],
    details: { totals: { subtotal: "1900", tax: "361", total: "2261", currency_code: "EUR" } },
    payments: [{ amount: "2261", status: "captured", method_details: { type: "card" } }],
    checkout: { url: "https://example.com/pay?_ptxn=" + txn },
    ...extra,
  });
}

async function licenseOf(ref: { subscriptionId?: string; transactionId?: string }) {
  return store.licenseByPaddle(ref);
}

describe("Paddle signatures", () => {
  test("a bad signature answers 401 invalid_signature", async () => {
    const event = customerCreated(nextId("ctm"), "bad@example.com");
    const res = await deliver(event, sign(JSON.stringify(event), undefined, "wrong-secret"));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Invalid signature", code: "invalid_signature" });
  });

  test("a missing signature answers 401", async () => {
    const raw = JSON.stringify(customerCreated(nextId("ctm"), "none@example.com"));
    const res = await svc.request("POST", "/api/webhooks/paddle", { rawBody: raw, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(401);
  });

  test("a signature older than five minutes answers 401, and one from the near future within tolerance is accepted", async () => {
    const old = customerCreated(nextId("ctm"), "old@example.com");
    const ts = Math.floor(svc.clock.now().getTime() / 1000);
    expect((await deliver(old, sign(JSON.stringify(old), ts - 301))).status).toBe(401);
    expect((await deliver(old, sign(JSON.stringify(old), ts + 301))).status).toBe(401);
    expect((await deliver(old, sign(JSON.stringify(old), ts + 200))).status).toBe(200);
  });

  test("a signature over a different body answers 401", async () => {
    const event = customerCreated(nextId("ctm"), "tamper@example.com");
    const sig = sign(JSON.stringify(event));
    const raw = JSON.stringify({ ...event, event_type: "subscription.canceled" });
    const res = await svc.request("POST", "/api/webhooks/paddle", { rawBody: raw, headers: { "content-type": "application/json", "paddle-signature": sig } });
    expect(res.status).toBe(401);
  });

  test("any of several h1 values may match during secret rotation", async () => {
    const event = customerCreated(nextId("ctm"), "rotate@example.com");
    const raw = JSON.stringify(event);
    const ts = Math.floor(svc.clock.now().getTime() / 1000);
    const good = createHmac("sha256", SECRET).update(`${ts}:${raw}`).digest("hex");
    const other = createHmac("sha256", "old-secret").update(`${ts}:${raw}`).digest("hex");
    expect((await deliver(event, `ts=${ts};h1=${other};h1=${good}`)).status).toBe(200);
  });
});

describe("Paddle exactly-once", () => {
  test("a replayed event id answers 200 duplicate and changes nothing, also when delivered twice at once", async () => {
    const ctm = nextId("ctm");
    await deliver(customerCreated(ctm, "replay@example.com"));
    const sub = nextId("sub");
    const created = subscription("subscription.created", sub, ctm);
    const answers = await Promise.all([deliver(created), deliver(created)]);
    const bodies = await Promise.all(answers.map((r) => r.json()));
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(bodies.filter((b) => b.duplicate === true)).toHaveLength(1);
    const again = await deliver(created);
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    const rows = await svc.services.db.orm.em.getConnection().execute("select count(*) as n from licenses where instr(metadata, ?) > 0", [sub]);
    expect(Number((rows as any)[0].n)).toBe(1);
    const recorded = await store.event("paddle", String(created.event_id));
    expect(recorded?.outcome).toBe("license_issued");
  });

  test("subscription.created and the first transaction.completed make one license together", async () => {
    const ctm = nextId("ctm");
    await deliver(customerCreated(ctm, "pair@example.com"));
    const sub = nextId("sub");
    const txn = nextId("txn");
    const [a, b] = await Promise.all([deliver(subscription("subscription.created", sub, ctm, { transaction_id: txn })), deliver(transaction(txn, ctm, "pri_pro_month", "web", sub))]);
    const outcomes = [(await a.json()).outcome, (await b.json()).outcome].sort();
    expect(outcomes).toEqual(["already_issued", "license_issued"]);
  });
});

describe("Paddle lifecycle", () => {
  const ctm = "ctm_01hvlifecycle00000000000000";
  const sub = "sub_01hvlifecycle00000000000000";
  let licenseId = 0;

  test("subscription.created issues a license on the mapped plan for the customer's e-mail", async () => {
    await deliver(customerCreated(ctm, "Life.Cycle@Example.com"));
    const res = await deliver(subscription("subscription.created", sub, ctm));
    expect(res.status).toBe(200);
    expect((await res.json()).outcome).toBe("license_issued");
    const license = (await licenseOf({ subscriptionId: sub }))!;
    licenseId = license.id;
    const plan = await svc.services.plans.byId(license.planId);
    expect(plan?.name).toBe("pro");
    expect(license.status).toBe("active");
    expect(license.expiresAt?.toISOString()).toBe("2026-04-15T12:00:00.000Z");
    expect(license.metadata.paddle_customer_id).toBe(ctm);
    const customer = await svc.services.customers.byId(license.customerId);
    expect(customer?.email).toBe("life.cycle@example.com");
  });

  test("a recurring transaction extends the same license by the billing period from its current expiry", async () => {
    const txn = nextId("txn");
    const res = await deliver(transaction(txn, ctm, "pri_pro_month", "subscription_recurring", sub));
    expect((await res.json()).outcome).toBe("extended");
    const license = (await store.licenseById(licenseId))!;
    expect(license.expiresAt?.toISOString()).toBe("2026-05-15T12:00:00.000Z");
    // The same transaction under a new event id (Paddle re-sends) does not extend twice.
    const again = await deliver(transaction(txn, ctm, "pri_pro_month", "subscription_recurring", sub));
    expect((await again.json()).outcome).toBe("no_change");
    expect((await store.licenseById(licenseId))!.expiresAt?.toISOString()).toBe("2026-05-15T12:00:00.000Z");
  });

  test("past_due and paused suspend; resumed and activated reactivate", async () => {
    expect((await (await deliver(subscription("subscription.past_due", sub, ctm, { status: "past_due" }))).json()).outcome).toBe("suspended");
    expect((await store.licenseById(licenseId))!.status).toBe("suspended");
    expect((await (await deliver(subscription("subscription.resumed", sub, ctm))).json()).outcome).toBe("reactivated");
    expect((await store.licenseById(licenseId))!.status).toBe("active");
    expect((await (await deliver(subscription("subscription.paused", sub, ctm, { status: "paused" }))).json()).outcome).toBe("suspended");
    expect((await (await deliver(subscription("subscription.activated", sub, ctm))).json()).outcome).toBe("reactivated");
    expect((await store.licenseById(licenseId))!.status).toBe("active");
  });

  test("a renewal payment while past due lifts the suspension", async () => {
    await deliver(subscription("subscription.past_due", sub, ctm, { status: "past_due" }));
    await deliver(transaction(nextId("txn"), ctm, "pri_pro_month", "subscription_recurring", sub));
    const license = (await store.licenseById(licenseId))!;
    expect(license.status).toBe("active");
    expect(license.expiresAt?.toISOString()).toBe("2026-06-15T12:00:00.000Z");
  });

  test("cancellation keeps the license active until the paid period ends, then it is cancelled", async () => {
    const endsAt = "2026-04-01T00:00:00.000Z";
    const scheduled = subscription("subscription.canceled", sub, ctm, { status: "canceled", canceled_at: endsAt, current_billing_period: { starts_at: "2026-03-01T00:00:00.000Z", ends_at: endsAt } });
    expect((await (await deliver(scheduled)).json()).outcome).toBe("cancel_scheduled");
    let license = (await store.licenseById(licenseId))!;
    expect(license.status).toBe("active");
    expect(license.expiresAt?.toISOString()).toBe(endsAt);
    svc.clock.current = new Date("2026-04-02T00:00:00.000Z");
    try {
      const final = subscription("subscription.canceled", sub, ctm, { status: "canceled", canceled_at: endsAt, current_billing_period: null });
      expect((await (await deliver(final)).json()).outcome).toBe("cancelled");
      license = (await store.licenseById(licenseId))!;
      expect(license.status).toBe("cancelled");
    } finally {
      svc.clock.current = new Date("2026-03-15T12:00:00.000Z");
    }
  });

  test("a lifetime purchase is refunded into a cancelled license", async () => {
    const buyer = nextId("ctm");
    const txn = nextId("txn");
    await deliver(customerCreated(buyer, "lifetime@example.com"));
    expect((await (await deliver(transaction(txn, buyer, "pri_founders", "web", null))).json()).outcome).toBe("license_issued");
    const license = (await licenseOf({ transactionId: txn }))!;
    expect(license.expiresAt).toBeNull();
    const adj = envelope("adjustment.created", { id: nextId("adj"), action: "refund", transaction_id: txn, subscription_id: null, customer_id: buyer, reason: "requested", status: "approved", items: [], totals: { total: "9900", currency_code: "EUR" }, created_at: svc.clock.now().toISOString() });
    expect((await (await deliver(adj)).json()).outcome).toBe("cancelled");
    expect((await store.licenseById(license.id))!.status).toBe("cancelled");
  });

  test("an unknown event type is recorded as ignored with 200", async () => {
    const event = envelope("payout.paid", { id: "pay_1" });
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect((await store.event("paddle", String(event.event_id)))?.outcome).toBe("ignored");
  });

  test("a purchase of a customer Paddle has not introduced yet answers 409 and is processed on retry", async () => {
    const buyer = nextId("ctm");
    const sub2 = nextId("sub");
    const event = subscription("subscription.created", sub2, buyer);
    const first = await deliver(event);
    expect(first.status).toBe(409);
    await deliver(customerCreated(buyer, "late@example.com"));
    expect((await (await deliver(event)).json()).outcome).toBe("license_issued");
  });

  test("every event is in the audit log with the paddle actor", async () => {
    const rows = (await svc.services.db.orm.em.getConnection().execute("select count(*) as n from audit_log where action = 'payment.paddle_event' and actor_label = 'paddle'")) as any[];
    expect(Number(rows[0].n)).toBeGreaterThan(10);
  });
});

describe("Founders cap", () => {
  test("20 concurrent lifetime purchases with the cap lowered to 5 make exactly 5 licenses; the rest are sold_out", async () => {
    const conn = svc.services.db.orm.em.getConnection();
    const founders = (await conn.execute("select id from plans where name = 'founders'")) as any[];
    const planId = Number(founders[0].id);
    const before = (await conn.execute("select count(*) as n from licenses where plan_id = ? and status <> 'cancelled'", [planId])) as any[];
    await conn.execute("update plans set lifetime_cap = ? where id = ?", [Number(before[0].n) + 5, planId]);
    await new Promise((r) => setTimeout(r, 5_100)); // the plans cache lives five seconds
    const buyers = Array.from({ length: 20 }, (_, i) => ({ ctm: nextId("ctm"), txn: nextId("txn"), email: `founder${i}@example.com` }));
    for (const b of buyers) await deliver(customerCreated(b.ctm, b.email));
    const answers = await Promise.all(buyers.map((b) => deliver(transaction(b.txn, b.ctm, "pri_founders", "web", null))));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const outcomes = await Promise.all(answers.map(async (r) => (await r.json()).outcome));
    expect(outcomes.filter((o) => o === "license_issued")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "sold_out")).toHaveLength(15);
    const after = (await conn.execute("select count(*) as n from licenses where plan_id = ? and status <> 'cancelled'", [planId])) as any[];
    expect(Number(after[0].n)).toBe(Number(before[0].n) + 5);
  }, 30_000);
});

describe("generic payment hook", () => {
  function signed(body: unknown, secret = GENERIC_SECRET) {
    const raw = JSON.stringify(body);
    return { rawBody: raw, headers: { "content-type": "application/json", "x-webhook-signature": createHmac("sha256", secret).update(raw).digest("hex") } };
  }

  test("a bad signature answers 401 and changes nothing", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro", term: { months: 1 } });
    const res = await svc.request("POST", "/api/webhook/payment", signed({ type: "payment.failed", metadata: { license_key: key } }, "nope"));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Invalid signature", code: "invalid_signature" });
    expect((await store.licenseById(licenseId))!.status).toBe("active");
  });

  test("payment.failed suspends and payment.succeeded reactivates and extends by a month", async () => {
    const { key, licenseId } = await svc.issue({ plan: "pro", term: { months: 1 } });
    expect((await svc.request("POST", "/api/webhook/payment", signed({ type: "payment.failed", metadata: { license_key: key } }))).status).toBe(200);
    expect((await store.licenseById(licenseId))!.status).toBe("suspended");
    const ok = await svc.request("POST", "/api/webhook/payment", signed({ type: "payment.succeeded", metadata: { license_key: key } }));
    expect((await ok.json()).outcome).toBe("extended");
    const license = (await store.licenseById(licenseId))!;
    expect(license.status).toBe("active");
    expect(license.expiresAt?.toISOString()).toBe("2026-05-15T12:00:00.000Z");
    expect(license.keyDigest).toBe(await licenseKeyDigest(key));
  });

  test("an unknown license key answers 404", async () => {
    const res = await svc.request("POST", "/api/webhook/payment", signed({ type: "payment.failed", metadata: { license_key: "CHA-00000000-00000000-00000000-00000000" } }));
    expect(res.status).toBe(404);
  });
});

describe("admin payments page", () => {
  test("GET /admin/payments lists processed events newest first, escaped", async () => {
    const evil = envelope("<script>alert(1)</script>", { id: "x" });
    expect((await deliver(evil)).status).toBe(200);
    const admin = await signedInAdmin(svc);
    const res = await admin.get("/admin/payments");
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("payment-events");
    expect(body).toContain("license_issued");
    expect(body).not.toContain("<script>alert(1)</script>");
    expect(body).toContain("&lt;script&gt;");
    expect((await svc.request("GET", "/admin/payments")).status).not.toBe(200);
  });
});
