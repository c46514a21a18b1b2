// Outgoing webhooks end to end against local receivers: signed delivery, retries with backoff, paused
// endpoints, replay, and claiming that never hands one delivery to two senders.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKeyring, cryptoRandom } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { DbWebhookDeliveries, DbWebhookEndpoints, DbWebhookEvents } from "../../src/adapters/db/webhook_repos.ts";
import { startWebhookSender } from "../../src/app/webhook_sender.ts";
import type { Keyring } from "../../src/domain/encryption/mod.ts";
import { nextAttemptDelay, signPayload, verifySignature } from "../../src/domain/webhooks/mod.ts";
import { TestClock } from "../support/app.ts";
import { TEST_DIALECT, testDb } from "../support/db.ts";

interface Received {
  body: string;
  signature: string | null;
  eventId: string | null;
  contentType: string | null;
}

/** A local receiver answering `statuses` in turn (then 200), recording every request. */
function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      received.push({
        body: await request.text(),
        signature: request.headers.get("chatello-signature"),
        eventId: request.headers.get("chatello-event-id"),
        contentType: request.headers.get("content-type"),
      });
      return new Response("ok", { status: statuses.shift() ?? 200 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hook`, received, stop: () => server.stop(true) };
}

describe(`outgoing webhooks on ${TEST_DIALECT}`, () => {
  let ctx: Awaited<ReturnType<typeof testDb>>;
  let keyring: Keyring;
  let endpoints: DbWebhookEndpoints;
  let events: DbWebhookEvents;
  let deliveries: DbWebhookDeliveries;
  const clock = new TestClock();
  const receivers: Array<ReturnType<typeof receiver>> = [];

  function sender() {
    return startWebhookSender({ db: ctx.db, keyring, clock, intervalMs: 0, timeoutMs: 2000 });
  }

  /** A receiver with its own endpoint subscribed to `types`. */
  async function subscribed(types: string[], statuses: number[] = []) {
    const r = receiver(statuses);
    receivers.push(r);
    const created = await endpoints.create({ url: r.url, events: types, description: "test" }, clock.now());
    return { ...r, ...created };
  }

  beforeAll(async () => {
    ctx = await testDb();
    keyring = await createKeyring({ current: new Uint8Array(32).fill(5) });
    endpoints = new DbWebhookEndpoints(ctx.db, keyring, cryptoRandom);
    events = new DbWebhookEvents(ctx.db, cryptoRandom);
    deliveries = new DbWebhookDeliveries(ctx.db);
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await ctx.cleanup();
  });

  test("a subscribed receiver gets a signed license.created event it can verify", async () => {
    const hook = await subscribed(["license.created"]);
    const other = await subscribed(["payment.failed"]);
    expect(hook.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    await events.emit("license.created", { license_id: 7, plan: "pro" }, clock.now());
    const s = sender();
    expect(await s.runOnce()).toBe(1);
    await s.stop();

    expect(other.received).toHaveLength(0);
    expect(hook.received).toHaveLength(1);
    const got = hook.received[0];
    expect(got.contentType).toBe("application/json");
    expect(await verifySignature(hook.secret, got.signature, got.body, clock.now())).toBe(true);
    expect(await verifySignature(hook.secret, got.signature, got.body + " ", clock.now())).toBe(false);
    expect(await verifySignature("whsec_wrong", got.signature, got.body, clock.now())).toBe(false);
    const body = JSON.parse(got.body);
    expect(body).toEqual({ id: got.eventId, type: "license.created", created_at: clock.now().toISOString(), data: { license_id: 7, plan: "pro" } });
    const [row] = await deliveries.recent(hook.endpoint.id);
    expect(row).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 200, lastError: null });
  });

  test("the secret is stored sealed, never in clear", async () => {
    const hook = await subscribed(["quota.warning"]);
    const rows = await ctx.db.orm.em.getConnection().execute("select * from webhook_endpoints");
    expect(JSON.stringify(rows)).not.toContain(hook.secret.slice(6));
    expect(await endpoints.secretOf(hook.endpoint.id)).toBe(hook.secret);
  });

  test("a receiver that fails twice gets the event on the third attempt, after the backoff", async () => {
    const hook = await subscribed(["license.suspended"], [500, 500]);
    await events.emit("license.suspended", { license_id: 9 }, clock.now());
    const s = sender();
    expect(await s.runOnce()).toBe(1);
    let [row] = await deliveries.recent(hook.endpoint.id);
    expect(row).toMatchObject({ status: "pending", attempts: 1, lastStatusCode: 500, lastError: "HTTP 500" });
    expect(row.nextAttemptAt.getTime() - clock.now().getTime()).toBe(nextAttemptDelay(1)!);

    expect(await s.runOnce()).toBe(0); // not due yet
    clock.advance(nextAttemptDelay(1)! + 1);
    expect(await s.runOnce()).toBe(1);
    [row] = await deliveries.recent(hook.endpoint.id);
    expect(row).toMatchObject({ status: "pending", attempts: 2, lastStatusCode: 500 });
    clock.advance(nextAttemptDelay(2)! + 1);
    expect(await s.runOnce()).toBe(1);
    await s.stop();

    [row] = await deliveries.recent(hook.endpoint.id);
    expect(row).toMatchObject({ status: "delivered", attempts: 3, lastStatusCode: 200, lastError: null });
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((r) => r.eventId)).size).toBe(1);
  });

  test("a paused endpoint receives nothing until resumed", async () => {
    const hook = await subscribed(["license.expired"]);
    await endpoints.setPaused(hook.endpoint.id, true, clock.now());
    await events.emit("license.expired", { license_id: 3 }, clock.now());
    const s = sender();
    expect(await s.runOnce()).toBe(0);
    clock.advance(3_600_000);
    expect(await s.runOnce()).toBe(0);
    expect(hook.received).toHaveLength(0);
    expect((await deliveries.recent(hook.endpoint.id))[0]).toMatchObject({ status: "pending", attempts: 0 });

    await endpoints.setPaused(hook.endpoint.id, false, clock.now());
    expect(await s.runOnce()).toBe(1);
    await s.stop();
    expect(hook.received).toHaveLength(1);
    expect(JSON.parse(hook.received[0].body).type).toBe("license.expired");
  });

  test("replaying a delivered event sends it again with the same event id", async () => {
    const hook = await subscribed(["license.cancelled"]);
    await events.emit("license.cancelled", { license_id: 4 }, clock.now());
    const s = sender();
    await s.runOnce();
    const [delivered] = await deliveries.recent(hook.endpoint.id);
    expect(delivered.status).toBe("delivered");

    expect(await deliveries.replay(delivered.id, clock.now())).toBe(true);
    expect(await s.runOnce()).toBe(1);
    await s.stop();
    expect(hook.received).toHaveLength(2);
    expect(hook.received[1].eventId).toBe(hook.received[0].eventId);
    expect((await deliveries.recent(hook.endpoint.id))[0]).toMatchObject({ status: "delivered", attempts: 1 });
  });

  test("two senders polling at once never send the same delivery twice", async () => {
    const hook = await subscribed(["license.activated"]);
    for (let i = 0; i < 5; i++) await events.emit("license.activated", { n: i }, clock.now());
    const a = sender();
    const b = sender();
    const [na, nb] = await Promise.all([a.runOnce(), b.runOnce()]);
    await Promise.all([a.stop(), b.stop()]);
    expect(na + nb).toBe(5);
    expect(hook.received).toHaveLength(5);
    expect(new Set(hook.received.map((r) => r.eventId)).size).toBe(5);
  });

  test("an endpoint gives up after the last attempt", async () => {
    const hook = await subscribed(["payment.failed"], Array(20).fill(503));
    await events.emit("payment.failed", { license_id: 1 }, clock.now());
    const s = sender();
    for (let i = 0; i < 10; i++) {
      await s.runOnce();
      clock.advance(6 * 3_600_000 + 1);
    }
    await s.stop();
    expect(hook.received).toHaveLength(8);
    expect((await deliveries.recent(hook.endpoint.id))[0]).toMatchObject({ status: "failed", attempts: 8, lastStatusCode: 503 });
  });

  test("only http(s) URLs and known events are accepted", async () => {
    await expect(endpoints.create({ url: "ftp://example.com/x", events: ["license.created"] }, clock.now())).rejects.toThrow(/http/);
    await expect(endpoints.create({ url: "javascript:alert(1)", events: ["license.created"] }, clock.now())).rejects.toThrow(/http/);
    await expect(endpoints.create({ url: "https://example.com/x", events: ["nope"] }, clock.now())).rejects.toThrow(/event/);
  });

  test("signatures outside the tolerance are refused", async () => {
    const header = await signPayload("whsec_x", clock.now(), "{}");
    expect(await verifySignature("whsec_x", header, "{}", new Date(clock.now().getTime() + 299_000))).toBe(true);
    expect(await verifySignature("whsec_x", header, "{}", new Date(clock.now().getTime() + 301_000))).toBe(false);
    expect(await verifySignature("whsec_x", "garbage", "{}", clock.now())).toBe(false);
  });
});
