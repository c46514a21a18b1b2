// The admin's webhooks page: create shows the secret once (stored sealed), only http(s) URLs, pause and
// resume, delete with a confirmation, deliveries with status and replay, every change audited, text escaped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DbWebhookDeliveries, DbWebhookEvents } from "../../src/adapters/db/webhook_repos.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

/** Page text with Mustache's escaped slashes turned back, to look for URLs. */
function slashes(page: string): string {
  return page.replaceAll("&#x2F;", "/");
}

describe("admin webhooks page", () => {
  let svc: TestService;
  let admin: AdminSessionClient;

  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  async function create(url: string, events: string[], description = ""): Promise<{ id: number; secret: string; page: string }> {
    const res = await admin.post("/admin/webhooks", { url, events, description });
    const page = await res.text();
    expect(res.status).toBe(201);
    const secret = /(whsec_[0-9a-f]{64})/.exec(page)![1];
    const id = Number(/\/admin\/webhooks\/(\d+)"/.exec(page)![1]);
    return { id, secret, page };
  }

  test("creating an endpoint shows its secret once, stores it sealed and audits it without the secret", async () => {
    const { id, secret } = await create("https://example.com/hook", ["license.created", "payment.failed"], "CRM sync");
    const list = slashes(await (await admin.get("/admin/webhooks")).text());
    expect(list).toContain("https://example.com/hook");
    expect(list).toContain("license.created, payment.failed");
    expect(list).not.toContain(secret);
    expect(await (await admin.get(`/admin/webhooks/${id}`)).text()).not.toContain(secret);
    const rows = await svc.services.db.orm.em.getConnection().execute("select * from webhook_endpoints");
    expect(JSON.stringify(rows)).not.toContain(secret.slice(6));
    const entry = (await svc.services.audit.recent(10)).find((e) => e.action === "webhook_endpoint.created")!;
    expect(entry.targetId).toBe(String(id));
    expect(JSON.stringify(entry)).not.toContain(secret.slice(6));
  });

  test("only http(s) URLs and at least one event are accepted", async () => {
    const bad = await admin.post("/admin/webhooks", { url: "file:///etc/passwd", events: ["license.created"] });
    expect(bad.status).toBe(422);
    expect(slashes(await bad.text())).toContain("Give an http:// or https:// URL.");
    const none = await admin.post("/admin/webhooks", { url: "https://example.com/x" });
    expect(none.status).toBe(422);
    expect(await none.text()).toContain("Pick at least one event.");
  });

  test("a create without the CSRF token is refused", async () => {
    const res = await admin.post("/admin/webhooks", { url: "https://example.com/csrf", events: ["license.created"] }, { csrf: false });
    expect(res.status).toBe(403);
  });

  test("pause and resume are shown and audited", async () => {
    const { id } = await create("https://example.com/pause", ["license.expired"]);
    const paused = await admin.post(`/admin/webhooks/${id}/pause`);
    expect(paused.status).toBe(303);
    expect(paused.headers.get("location")).toBe(`/admin/webhooks/${id}?done=paused`);
    const page = await (await admin.get(`/admin/webhooks/${id}?done=paused`)).text();
    expect(page).toContain("Endpoint paused.");
    expect(page).toContain(`/admin/webhooks/${id}/resume`);
    expect((await admin.post(`/admin/webhooks/${id}/resume`)).status).toBe(303);
    expect(await (await admin.get(`/admin/webhooks/${id}`)).text()).toContain(`/admin/webhooks/${id}/pause`);
    const actions = (await svc.services.audit.recent(10)).map((e) => e.action);
    expect(actions).toContain("webhook_endpoint.paused");
    expect(actions).toContain("webhook_endpoint.resumed");
  });

  test("deliveries are listed with status and attempts, and replay queues one again", async () => {
    const { id } = await create("https://example.com/replay", ["quota.warning"]);
    await new DbWebhookEvents(svc.services.db, svc.services.random).emit("quota.warning", { license_id: 1, used: 0.9 }, svc.clock.now());
    const deliveries = new DbWebhookDeliveries(svc.services.db);
    const [delivery] = await deliveries.recent(id);
    await deliveries.markFailed(delivery, { statusCode: 502, error: "HTTP 502" }, svc.clock.now());
    const page = await (await admin.get(`/admin/webhooks/${id}`)).text();
    expect(page).toContain("quota.warning");
    expect(page).toContain(delivery.eventId);
    expect(page).toContain("HTTP 502");
    expect(page).toContain("<td>502</td>");

    const res = await admin.post(`/admin/webhooks/${id}/deliveries/${delivery.id}/replay`);
    expect(res.status).toBe(303);
    const replayed = (await deliveries.recent(id))[0];
    expect(replayed).toMatchObject({ status: "pending", attempts: 0 });
    expect(replayed.nextAttemptAt.getTime()).toBe(svc.clock.now().getTime());
    expect((await svc.services.audit.recent(10)).some((e) => e.action === "webhook_delivery.replayed" && e.targetId === String(delivery.id))).toBe(true);
    expect((await admin.post(`/admin/webhooks/${id + 1000}/deliveries/${delivery.id}/replay`)).status).toBe(404);
  });

  test("deleting needs the confirmation and is audited", async () => {
    const { id } = await create("https://example.com/delete", ["license.cancelled"]);
    expect(await (await admin.get(`/admin/webhooks/${id}/delete`)).text()).toContain('name="confirm"');
    expect((await admin.post(`/admin/webhooks/${id}/delete`)).status).toBe(422);
    const res = await admin.post(`/admin/webhooks/${id}/delete`, { confirm: "yes" });
    expect(res.status).toBe(303);
    expect((await admin.get(`/admin/webhooks/${id}`)).status).toBe(404);
    expect((await svc.services.audit.recent(10)).some((e) => e.action === "webhook_endpoint.deleted" && e.targetId === String(id))).toBe(true);
  });

  test("URLs and descriptions are escaped", async () => {
    const { page } = await create("https://example.com/<script>x</script>?a=1&b=2", ["license.created"], `<img src=x onerror="alert(1)">`);
    expect(page).not.toContain("<script>x</script>");
    const list = await (await admin.get("/admin/webhooks")).text();
    expect(list).not.toContain(`<img src=x onerror="alert(1)">`);
    expect(list).toContain("&lt;img src&#x3D;x onerror&#x3D;&quot;alert(1)&quot;&gt;");
  });

  test("the pages need a signed-in admin", async () => {
    const res = await svc.request("GET", "/admin/webhooks");
    expect([302, 303, 401]).toContain(res.status);
  });
});
