// What a failed payment sets off besides the suspension: the customer's mail (once a day) and the
// payment.failed and license.suspended webhook events.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { DbWebhookEndpoints } from "../../src/adapters/db/webhook_repos.ts";
import { startTestService, type TestService } from "../support/app.ts";

const SECRET = "test-payment-hook-secret";

describe("a failed payment", () => {
  let svc: TestService;
  let previous: string | undefined;
  beforeAll(async () => {
    previous = process.env.PAYMENT_WEBHOOK_SECRET;
    process.env.PAYMENT_WEBHOOK_SECRET = SECRET;
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
    if (previous === undefined) delete process.env.PAYMENT_WEBHOOK_SECRET;
    else process.env.PAYMENT_WEBHOOK_SECRET = previous;
  });

  function hook(body: Record<string, unknown>) {
    const raw = JSON.stringify(body);
    return svc.request("POST", "/api/webhook/payment", {
      rawBody: raw,
      headers: { "content-type": "application/json", "x-webhook-signature": createHmac("sha256", SECRET).update(raw).digest("hex") },
    });
  }

  test("suspends the license, mails the customer once, and emits payment.failed and license.suspended", async () => {
    const endpoints = new DbWebhookEndpoints(svc.services.db, svc.services.keyring, svc.services.random);
    await endpoints.create({ url: "http://127.0.0.1:9/hook", events: ["payment.failed", "license.suspended"], description: null }, svc.clock.now());
    const { key, licenseId } = await svc.issue({ email: "late.payer@example.com", plan: "pro" });
    const res = await hook({ type: "payment.failed", metadata: { license_key: key } });
    expect(res.status).toBe(200);
    expect((await svc.services.licenses.byId(licenseId))?.status).toBe("suspended");
    await hook({ type: "payment.succeeded", metadata: { license_key: key } });
    await hook({ type: "payment.failed", metadata: { license_key: key } });
    const conn = svc.services.db.orm.em.getConnection();
    const mails = (await conn.execute("select recipient, text_body from mail_outbox where kind = 'license_suspended'")) as Array<{ recipient: string; text_body: string }>;
    expect(mails.map((m) => m.recipient)).toEqual(["late.payer@example.com"]);
    expect(mails[0].text_body).not.toContain(key);
    const events = (await conn.execute("select event_type from webhook_deliveries order by id")) as Array<{ event_type: string }>;
    expect(events.filter((e) => e.event_type === "payment.failed")).toHaveLength(2);
    expect(events.filter((e) => e.event_type === "license.suspended")).toHaveLength(2);
  });
});
