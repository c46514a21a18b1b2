// GET /admin/outbox and /admin/outbox/:id: messages newest first with recipient, subject, status, attempts
// and last error; a status filter; pages; the detail's text body in <pre>; everything escaped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DbOutbox } from "../../src/adapters/db/outbox_repo.ts";
import { renderMail } from "../../src/domain/mail/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const KEY = "CHAT-TEST-KEY1-2345-6789";

function ids(page: string): number[] {
  return [...page.matchAll(/<tr data-id="(\d+)">/g)].map((m) => Number(m[1]));
}

function total(page: string): number {
  return Number(/data-total="(\d+)"/.exec(page)![1]);
}

describe("admin outbox", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  let hostileId = 0;

  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
    const outbox = new DbOutbox(svc.services.db);
    const data = { customerName: "Bulk", planName: "Starter", keyPrefix: "CHAT-BULK", publicUrl: "https://example.com" };
    for (let i = 0; i < 55; i++) {
      await outbox.enqueue({ dedupeKey: `bulk:${i}`, kind: "quota_80", to: `bulk${i}@example.com`, ...renderMail("quota_80", data) }, svc.clock.now());
    }
    const rendered = renderMail("license_delivered", { customerName: `<img src=x onerror=alert(1)>`, licenseKey: KEY, planName: "Pro", publicUrl: "https://example.com" });
    await outbox.enqueue(
      { dedupeKey: "delivered:1", kind: "license_delivered", to: `"<b>x</b>"@example.com`, ...rendered, subject: "Key for <script>alert(1)</script>" },
      svc.clock.now(),
    );
    hostileId = (await outbox.listOutbox({ page: 1 })).items[0].id;
    // One queued message that failed once, through the sender's own bookkeeping.
    await new DbOutbox(svc.services.db, { smtpConfigured: true }).enqueue(
      { dedupeKey: "queued:1", kind: "license_expired", to: "late@example.com", ...renderMail("license_expired", data) },
      svc.clock.now(),
    );
    const queued = (await outbox.listOutbox({ status: "queued", page: 1 })).items[0];
    await outbox.markFailed(queued.id, "ECONNREFUSED <connect> 127.0.0.1:25", new Date(svc.clock.now().getTime() + 60_000));
  });
  afterAll(async () => svc.close());

  test("the outbox lists messages newest first with recipient, subject, status, attempts and last error", async () => {
    const res = await admin.get("/admin/outbox");
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(total(body)).toBe(57);
    const listed = ids(body);
    expect(listed).toHaveLength(50);
    expect([...listed].sort((a, b) => b - a)).toEqual(listed);
    expect(body).toContain("late@example.com");
    expect(body).toContain("ECONNREFUSED &lt;connect&gt; 127.0.0.1:25");
    expect(body).toContain(">queued<");
    expect(body).toContain(">stored<");
    expect(body).toContain('rel="next" href="/admin/outbox?page&#x3D;2"');
  });

  test("the outbox escapes subjects and recipients and never shows bodies in the list", async () => {
    const body = await (await admin.get("/admin/outbox")).text();
    expect(body).not.toContain("<script>alert(1)</script>");
    expect(body).toContain("Key for &lt;script&gt;alert(1)&lt;&#x2F;script&gt;");
    expect(body).not.toContain("<b>x</b>");
    expect(body).not.toContain(KEY);
  });

  test("the outbox filters by status and pages", async () => {
    const queued = await (await admin.get("/admin/outbox?status=queued")).text();
    expect(total(queued)).toBe(1);
    expect(queued).toContain('<option value="queued" selected>');
    const second = await (await admin.get("/admin/outbox?page=2")).text();
    expect(ids(second)).toHaveLength(7);
    const region = await (await admin.get("/admin/outbox?status=stored", { hx: true })).text();
    expect(region.startsWith('<div id="outbox-results">')).toBe(true);
    expect(total(region)).toBe(56);
    const bogus = await (await admin.get("/admin/outbox?status=<x>&page=abc")).text();
    expect(total(bogus)).toBe(57);
  });

  test("a message's page shows its text body escaped in a pre", async () => {
    const res = await admin.get(`/admin/outbox/${hostileId}`);
    expect(res.status).toBe(200);
    const body = await res.text();
    const pre = /<pre id="outbox-text">([\s\S]*?)<\/pre>/.exec(body)![1];
    expect(pre).toContain(KEY);
    expect(pre).toContain("&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;");
    expect(body).not.toContain("<img src=x");
    expect(body).not.toContain("<script>alert(1)</script>");
    expect(body).toContain("delivered:1");
  });

  test("an unknown message is a 404 page", async () => {
    expect((await admin.get("/admin/outbox/999999")).status).toBe(404);
    expect((await admin.get("/admin/outbox/abc")).status).toBe(404);
  });

  test("the outbox needs a signed-in admin", async () => {
    const res = await svc.request("GET", `/admin/outbox/${hostileId}`);
    expect([302, 303, 401]).toContain(res.status);
    expect(await res.text()).not.toContain(KEY);
  });
});
