// Admin licenses: list filters (effective status), search and pagination, issuing with the key shown once,
// the full key on the detail page, lifecycle actions, plan changes, deletion, site releases, the founders
// cap, and the old dashboard's POST /api/create_license.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { LicenseRow } from "../../src/adapters/db/schema.ts";

const KEY = /CHA-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}/;
const DAY_MS = 24 * 60 * 60 * 1000;

function decoded(html: string): string {
  return html.replaceAll("&#x2F;", "/").replaceAll("&#x3D;", "=").replaceAll("&amp;", "&");
}

function rowsOf(html: string): number {
  return (html.match(/<tr>\s*<td><a href="\/admin\/licenses\/\d+"><code>/g) ?? []).length;
}

async function auditActions(svc: TestService, licenseId: number): Promise<Array<{ action: string; actor_label: string }>> {
  const rows = await svc.services.db.orm.em
    .getConnection()
    .execute("select action, actor_label from audit_log where target_type = 'license' and target_id = ? order by id", [String(licenseId)]);
  return rows as Array<{ action: string; actor_label: string }>;
}

describe("admin license pages", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("creating a license for a new e-mail creates the customer and shows the full key once with a Copy button", async () => {
    const res = await admin.post("/admin/licenses", { email: "New.Buyer@Example.com", plan: "pro", term: "12", domain: "https://www.buyer.example.com/" });
    expect(res.status).toBe(200);
    const page = await res.text();
    const key = KEY.exec(page)?.[0];
    expect(key).toBeTruthy();
    expect(page).toContain(`<code class="key" id="k">${key}</code>`);
    expect(page).toContain('<button type="button" data-copy="k">Copy</button>');
    expect(page).toContain("(new customer)");
    expect(page).toContain("2027-03-15");
    const customer = await svc.services.customers.findByEmail("new.buyer@example.com");
    expect(customer?.name).toBe("new.buyer");
    const customers = await (await admin.get("/admin/customers?q=new.buyer")).text();
    expect(customers).toContain("new.buyer@example.com");
    const list = await (await admin.get("/admin/licenses?q=new.buyer")).text();
    expect(list).toContain(key!.slice(0, 12));
    expect(list).not.toContain(key!);
  });

  test("creating a license for a known e-mail reuses the customer", async () => {
    const first = await svc.issue({ email: "known@example.com" });
    const res = await admin.post("/admin/licenses", { email: "KNOWN@example.com", plan: "starter", term: "" });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).not.toContain("(new customer)");
    expect(decoded(page)).toContain(`/admin/customers/${first.customerId}`);
  });

  test("an invalid e-mail or domain re-renders the form with a field error", async () => {
    const bad = await admin.post("/admin/licenses", { email: "nope", plan: "pro", term: "1" });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('<p class="field-error">Invalid e-mail address</p>');
    const domain = await admin.post("/admin/licenses", { email: "ok@example.com", plan: "pro", term: "1", domain: "javascript:alert(1)" }, { hx: true });
    expect(domain.status).toBe(422);
    const fragment = await domain.text();
    expect(fragment).toStartWith('<section class="card" id="license-new">');
    expect(fragment).toContain("domain is not a valid site address");
    expect(await svc.services.customers.findByEmail("ok@example.com")).toBeNull();
  });

  test("the detail page shows the full key with Copy, the customer, plan, status, dates, metadata and sites", async () => {
    const issued = await svc.issue({ email: "detail@example.com", plan: "pro", term: { months: 1 }, domain: "detail.example.com" });
    const page = await (await admin.get(`/admin/licenses/${issued.licenseId}`)).text();
    expect(page).toContain(`<code class="key" id="k">${issued.key}</code>`);
    expect(page).toContain('data-copy="k"');
    expect(page).toContain("detail@example.com");
    expect(page).toContain("Pro - AI Included");
    expect(page).toContain('<span class="status active">active</span>');
    expect(page).toContain("2026-04-15 12:00 UTC");
    expect(page).toContain("detail.example.com");
    expect(page).toContain('hx-indicator="#busy"');
  });

  test("suspend, reactivate, extend, change plan and cancel each re-render the panel and are audited", async () => {
    const issued = await svc.issue({ email: "life@example.com", plan: "pro", term: { months: 1 } });
    const path = `/admin/licenses/${issued.licenseId}`;

    const suspended = await admin.post(`${path}/status`, { action: "suspend" }, { hx: true });
    expect(suspended.status).toBe(200);
    const panel = await suspended.text();
    expect(panel).toStartWith('<div id="license-panel">');
    expect(panel).toContain("License suspended.");
    expect((await svc.services.licenses.byId(issued.licenseId))?.status).toBe("suspended");

    expect((await admin.post(`${path}/status`, { action: "reactivate" }, { hx: true })).status).toBe(200);
    expect((await svc.services.licenses.byId(issued.licenseId))?.status).toBe("active");

    const extended = await admin.post(`${path}/extend`, { months: "3" }, { hx: true });
    expect(await extended.text()).toContain("License extended to 2026-07-15.");
    expect((await svc.services.licenses.byId(issued.licenseId))?.expiresAt?.toISOString()).toBe("2026-07-15T12:00:00.000Z");

    const planned = await admin.post(`${path}/plan`, { plan: "agency" }, { hx: true });
    expect(await planned.text()).toContain("Plan changed.");
    const agency = await svc.services.plans.byName("agency");
    expect((await svc.services.licenses.byId(issued.licenseId))?.planId).toBe(agency!.id);

    expect((await admin.post(`${path}/status`, { action: "cancel" }, { hx: true })).status).toBe(200);
    expect((await svc.services.licenses.byId(issued.licenseId))?.status).toBe("cancelled");

    const refused = await admin.post(`${path}/status`, { action: "reactivate" }, { hx: true });
    expect(refused.status).toBe(422);
    expect(await refused.text()).toContain("Cannot reactivate a license that is cancelled");

    const actions = await auditActions(svc, issued.licenseId);
    expect(actions.map((a) => a.action)).toEqual([
      "license.created",
      "license.suspended",
      "license.reactivated",
      "license.extended",
      "license.plan_changed",
      "license.cancelled",
    ]);
    expect(actions.slice(1).every((a) => a.actor_label === admin.email)).toBe(true);
  });

  test("extending an expired license counts from today and makes it active again; lifetime stays lifetime", async () => {
    const issued = await svc.issue({ email: "expired@example.com", plan: "pro", term: { months: 1 } });
    // Expired ten days ago, and marked expired by a sweep.
    const past = new Date(svc.clock.now().getTime() - 10 * DAY_MS);
    await svc.services.db.orm.em.fork().nativeUpdate(LicenseRow, { id: issued.licenseId }, { expiresAt: past, status: "expired" });
    const before = await (await admin.get(`/admin/licenses/${issued.licenseId}`)).text();
    expect(before).toContain('<span class="status expired">expired</span>');
    const extended = await admin.post(`/admin/licenses/${issued.licenseId}/extend`, { months: "1" });
    expect(extended.status).toBe(200);
    const after = await svc.services.licenses.byId(issued.licenseId);
    expect(after?.status).toBe("active");
    expect(after?.expiresAt?.toISOString()).toBe("2026-04-15T12:00:00.000Z");
    const lifetime = await svc.issue({ email: "forever@example.com", plan: "founders" });
    const res = await admin.post(`/admin/licenses/${lifetime.licenseId}/extend`, { months: "12" }, { hx: true });
    expect(await res.text()).toContain("Lifetime licenses never expire; nothing changed.");
    expect((await svc.services.licenses.byId(lifetime.licenseId))?.expiresAt).toBeNull();
    const bad = await admin.post(`/admin/licenses/${lifetime.licenseId}/extend`, { months: "5" }, { hx: true });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('class="field-error"');
  });

  test("an admin releases an active site", async () => {
    const issued = await svc.issue({ email: "sites@example.com", plan: "pro", domain: "one.example.com" });
    await svc.services.sites.activate(issued.licenseId, "two.example.com", 3, svc.clock.now());
    const res = await admin.post(`/admin/licenses/${issued.licenseId}/sites/release`, { host: "one.example.com" }, { hx: true });
    expect(res.status).toBe(200);
    const panel = await res.text();
    expect(panel).toContain("Site one.example.com released.");
    expect(panel).toContain("two.example.com");
    expect((await svc.services.sites.activeFor(issued.licenseId)).map((s) => s.host)).toEqual(["two.example.com"]);
    expect((await auditActions(svc, issued.licenseId)).map((a) => a.action)).toContain("site.released");
  });

  test("deleting a license asks first, then removes it with its sites", async () => {
    const issued = await svc.issue({ email: "delete-license@example.com", plan: "pro", domain: "gone.example.com" });
    const confirm = await (await admin.get(`/admin/licenses/${issued.licenseId}/delete`)).text();
    expect(confirm).toContain("delete-license@example.com");
    expect(confirm).toContain("1 site activation(s)");
    const res = await admin.post(`/admin/licenses/${issued.licenseId}/delete`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/licenses?done=deleted");
    expect(await svc.services.licenses.byId(issued.licenseId)).toBeNull();
    expect(await svc.services.customers.byId(issued.customerId)).not.toBeNull();
    expect((await admin.get(`/admin/licenses/${issued.licenseId}`)).status).toBe(404);
  });
});

describe("admin license list", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  let expiredByDate: { key: string; licenseId: number };
  let suspended: { key: string; licenseId: number };
  beforeAll(async () => {
    svc = await startTestService();
    for (let i = 0; i < 27; i++) await svc.issue({ email: `many${i}@example.com`, plan: "starter", term: { months: 12 } });
    expiredByDate = await svc.issue({ email: "old@example.com", plan: "pro", term: { months: 1 } });
    svc.clock.advance(45 * DAY_MS);
    suspended = await svc.issue({ email: "paused@example.com", plan: "agency" });
    await svc.setStatus(suspended.key, "suspend");
    // Signed in after the clock moved, so the session is fresh.
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("the list pages by 25 and shows the total", async () => {
    const first = await (await admin.get("/admin/licenses")).text();
    expect(rowsOf(first)).toBe(25);
    expect(first).toContain("Page 1 of 2 · 29 total");
    const second = await (await admin.get("/admin/licenses?page=2")).text();
    expect(rowsOf(second)).toBe(4);
  });

  test("a license past its expiry shows and filters as expired, not active", async () => {
    const expired = await (await admin.get("/admin/licenses?status=expired")).text();
    expect(rowsOf(expired)).toBe(1);
    expect(expired).toContain("old@example.com");
    expect(expired).toContain('<span class="status expired">expired</span>');
    const active = await (await admin.get("/admin/licenses?status=active")).text();
    expect(active).not.toContain("old@example.com");
    expect(active).not.toContain("paused@example.com");
    expect(active).toContain("27 license(s)");
  });

  test("filters combine status, plan and search by e-mail or key prefix", async () => {
    const byPlan = await (await admin.get("/admin/licenses?plan=agency&status=suspended")).text();
    expect(rowsOf(byPlan)).toBe(1);
    expect(byPlan).toContain("paused@example.com");
    const byPrefix = await (await admin.get(`/admin/licenses?q=${expiredByDate.key.slice(4, 12).toLowerCase()}`)).text();
    expect(byPrefix).toContain("old@example.com");
    const byEmail = await (await admin.get("/admin/licenses?q=many1", { hx: true })).text();
    expect(byEmail).toStartWith('<div id="license-table">');
    expect(rowsOf(byEmail)).toBe(11);
  });
});

describe("founders cap", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    await svc.services.db.orm.em.getConnection().execute("update plans set lifetime_cap = 1 where name = 'founders'");
    (svc.services.plans as unknown as { cache: null }).cache = null;
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("issuing past the founders cap is a field error on the plan", async () => {
    expect((await admin.post("/admin/licenses", { email: "first@example.com", plan: "founders", term: "" })).status).toBe(200);
    const res = await admin.post("/admin/licenses", { email: "second@example.com", plan: "founders", term: "" });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('<p class="field-error">Lifetime licenses sold out</p>');
  });

  test("moving a license onto a sold-out founders plan is refused", async () => {
    const issued = await svc.issue({ email: "mover@example.com", plan: "pro" });
    const res = await admin.post(`/admin/licenses/${issued.licenseId}/plan`, { plan: "founders" }, { hx: true });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain("Lifetime licenses sold out");
  });

  test("the old create_license route answers 409 when sold out", async () => {
    const res = await admin.json("POST", "/api/create_license", { email: "third@example.com", plan: "founders" });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: "limit_reached" });
  });
});

describe("POST /api/create_license", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("it creates the customer from the e-mail and answers the old dashboard's body", async () => {
    const res = await admin.json("POST", "/api/create_license", { customer_email: "Compat@Example.com", plan: "pro", duration_months: 6, domain: "compat.example.com" });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(Object.keys(body).sort()).toEqual(["customer_id", "expires_at", "license_key", "message", "success"]);
    expect(body).toMatchObject({ success: true, expires_at: "2026-09-15T12:00:00.000Z", message: "License created and assigned automatically" });
    expect(body.license_key).toMatch(KEY);
    const customer = await svc.services.customers.byId(body.customer_id);
    expect(customer).toMatchObject({ email: "compat@example.com", name: "compat" });
  });

  test("it reuses the customer and accepts plan_id", async () => {
    const pro = await svc.services.plans.byName("agency");
    const first = await (await admin.json("POST", "/api/create_license", { email: "reuse@example.com", plan: "pro" })).json();
    const second = await (await admin.json("POST", "/api/create_license", { email: "REUSE@example.com", plan_id: pro!.id })).json();
    expect(second.customer_id).toBe(first.customer_id);
    expect(second.expires_at).toBe("2026-04-15T12:00:00.000Z");
  });

  test("bad input answers the contract's error bodies", async () => {
    const noEmail = await admin.json("POST", "/api/create_license", { plan: "pro" });
    expect(noEmail.status).toBe(422);
    expect(await noEmail.json()).toMatchObject({ code: "invalid_request", field: "email" });
    const noPlan = await admin.json("POST", "/api/create_license", { email: "x@example.com", plan: "gold" });
    expect(noPlan.status).toBe(422);
    expect(await noPlan.json()).toMatchObject({ code: "invalid_request", field: "plan" });
    const badMonths = await admin.json("POST", "/api/create_license", { email: "x@example.com", plan: "pro", duration_months: "twelve" });
    expect(badMonths.status).toBe(422);
    expect(await badMonths.json()).toMatchObject({ field: "duration_months" });
    const badEmail = await admin.json("POST", "/api/create_license", { email: "nope", plan: "pro" });
    expect(badEmail.status).toBe(422);
    expect(await badEmail.json()).toMatchObject({ code: "invalid_request", field: "email" });
    expect((await admin.json("POST", "/api/create_license", { email: "x@example.com", plan: "pro" }, { csrf: false })).status).toBe(403);
    expect((await svc.request("POST", "/api/create_license", { body: { email: "x@example.com", plan: "pro" } })).status).toBe(401);
  });
});
