// Admin customers: list, search and pagination, add/edit/delete with field errors and escaping, and the
// old dashboard's customer JSON routes behind the admin session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const XSS = "<script>alert(1)</script>";
const ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;";

/** Mustache escapes `/` and `=` too; hrefs read back as the browser sees them. */
function decoded(html: string): string {
  return html.replaceAll("&#x2F;", "/").replaceAll("&#x3D;", "=").replaceAll("&amp;", "&");
}

async function createCustomer(admin: AdminSessionClient, form: Record<string, string>): Promise<number> {
  const res = await admin.post("/admin/customers", form);
  expect(res.status).toBe(303);
  const id = /\/admin\/customers\/(\d+)/.exec(res.headers.get("location") ?? "")?.[1];
  expect(id).toBeTruthy();
  return Number(id);
}

describe("admin customers pages", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("the customers list needs a signed-in admin", async () => {
    const res = await svc.request("GET", "/admin/customers");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toStartWith("/admin/login");
  });

  test("an admin adds a customer and sees its details", async () => {
    const id = await createCustomer(admin, { email: "Ada@Example.com", name: "Ada Lovelace", company: "Engines Ltd", notes: "VIP" });
    const page = await (await admin.get(`/admin/customers/${id}?done=created`)).text();
    expect(page).toContain("Ada Lovelace");
    expect(page).toContain("ada@example.com");
    expect(page).toContain("Engines Ltd");
    expect(page).toContain("Customer created.");
  });

  test("a customer's name and notes are shown escaped as text", async () => {
    const id = await createCustomer(admin, { email: "xss@example.com", name: XSS, notes: `note ${XSS}` });
    for (const path of [`/admin/customers/${id}`, "/admin/customers?q=xss", `/admin/customers/${id}/edit`, `/admin/customers/${id}/delete`]) {
      const page = await (await admin.get(path)).text();
      expect(page).not.toContain(XSS);
      expect(page).toContain(ESCAPED_XSS);
    }
  });

  test("adding a customer with an e-mail in use in another case is a field error", async () => {
    await createCustomer(admin, { email: "taken@example.com", name: "First" });
    const res = await admin.post("/admin/customers", { email: "TAKEN@example.com", name: "Second" });
    expect(res.status).toBe(422);
    const page = await res.text();
    expect(page).toContain('class="field-error"');
    expect(page).toContain("A customer with this e-mail already exists");
    expect(page).toContain('value="Second"');
  });

  test("an invalid e-mail is a field error and nothing is created", async () => {
    const res = await admin.post("/admin/customers", { email: "not-an-address", name: "Nobody" });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain("Invalid e-mail address");
    const list = await svc.services.customers.list({ offset: 0, limit: 100, search: "Nobody" });
    expect(list.total).toBe(0);
  });

  test("an admin edits a customer, and taking another customer's e-mail is refused", async () => {
    const id = await createCustomer(admin, { email: "edit-me@example.com", name: "Before" });
    await createCustomer(admin, { email: "other@example.com", name: "Other" });
    const saved = await admin.post(`/admin/customers/${id}`, { email: "edited@example.com", name: "After", company: "Co", notes: "n" });
    expect(saved.status).toBe(303);
    const customer = await svc.services.customers.byId(id);
    expect(customer).toMatchObject({ email: "edited@example.com", name: "After", company: "Co", notes: "n" });
    const clash = await admin.post(`/admin/customers/${id}`, { email: "Other@Example.com", name: "After" });
    expect(clash.status).toBe(422);
    expect(await clash.text()).toContain("A customer with this e-mail already exists");
    expect((await svc.services.customers.byId(id))?.email).toBe("edited@example.com");
  });

  test("an htmx form post answers with HX-Redirect on success", async () => {
    const res = await admin.post("/admin/customers", { email: "hx@example.com", name: "Hx" }, { hx: true });
    expect(res.status).toBe(204);
    expect(res.headers.get("hx-redirect")).toMatch(/^\/admin\/customers\/\d+/);
  });

  test("a form post without the CSRF token is refused", async () => {
    const res = await admin.post("/admin/customers", { email: "nocsrf@example.com", name: "X" }, { csrf: false });
    expect(res.status).toBe(403);
    expect(await svc.services.customers.findByEmail("nocsrf@example.com")).toBeNull();
  });

  test("the detail page lists the customer's licenses with status, expiry, sites and usage", async () => {
    const issued = await svc.issue({ email: "licensed@example.com", plan: "pro", term: { months: 1 }, domain: "shop.example.com" });
    const page = await (await admin.get(`/admin/customers/${issued.customerId}`)).text();
    expect(page).toContain(issued.key.slice(0, 12));
    expect(page).toContain("Pro - AI Included");
    expect(page).toContain('class="status active"');
    expect(page).toContain("2026-04-15");
    expect(page).toContain("shop.example.com");
    expect(page).toContain("0 requests");
    expect(page).not.toContain(issued.key);
  });

  test("the delete confirmation names the licenses, site activations and usage that go with the customer", async () => {
    const issued = await svc.issue({ email: "doomed@example.com", plan: "pro", domain: "doomed.example.com" });
    await svc.issue({ email: "doomed@example.com", plan: "starter" });
    const confirm = await (await admin.get(`/admin/customers/${issued.customerId}/delete`)).text();
    expect(confirm).toContain("Delete customer <strong>doomed</strong>");
    expect(confirm).toContain("2 license(s), 1 site activation(s)");
    const res = await admin.post(`/admin/customers/${issued.customerId}/delete`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/customers?done=deleted");
    expect(await svc.services.customers.byId(issued.customerId)).toBeNull();
    expect(await svc.services.licenses.byId(issued.licenseId)).toBeNull();
    expect((await svc.services.sites.activeFor(issued.licenseId)).length).toBe(0);
    expect(await (await admin.get("/admin/customers?done=deleted")).text()).toContain("Customer deleted.");
  });

  test("an unknown customer is a 404 page", async () => {
    expect((await admin.get("/admin/customers/999999")).status).toBe(404);
    expect((await admin.get("/admin/customers/abc")).status).toBe(404);
  });
});

describe("admin customers list", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
    for (let i = 1; i <= 30; i++) {
      await svc.services.customers.findOrCreate({ email: `bulk${String(i).padStart(2, "0")}@example.com`, name: `Bulk ${i}` }, svc.clock.now());
    }
    await svc.services.customers.findOrCreate({ email: "mario_rossi@example.it", name: "Mario 50% Rossi" }, svc.clock.now());
  });
  afterAll(async () => {
    await svc.close();
  });

  test("the list shows 25 customers per page with the total and a link to the next page", async () => {
    const first = await (await admin.get("/admin/customers")).text();
    expect(first).toContain("31 customer(s)");
    expect(first).toContain("Page 1 of 2 · 31 total");
    expect((first.match(/<tr><td><a href="\/admin\/customers\/\d+">/g) ?? []).length).toBe(25);
    expect(decoded(first)).toContain('href="/admin/customers?page=2"');
    const second = await (await admin.get("/admin/customers?page=2")).text();
    expect(second).toContain("Page 2 of 2");
    expect((second.match(/<tr><td><a href="\/admin\/customers\/\d+">/g) ?? []).length).toBe(6);
    expect(second).toContain("bulk01@example.com");
  });

  test("search matches e-mail or name, and wildcard characters search for themselves", async () => {
    const byEmail = await (await admin.get("/admin/customers?q=BULK07")).text();
    expect(byEmail).toContain("bulk07@example.com");
    expect(byEmail).toContain("1 customer(s)");
    const byName = await (await admin.get("/admin/customers?q=50%25")).text();
    expect(byName).toContain("mario_rossi@example.it");
    expect(byName).toContain("1 customer(s)");
    const underscore = await (await admin.get("/admin/customers?q=o_r")).text();
    expect(underscore).toContain("1 customer(s)");
  });

  test("an htmx search answers with the table fragment only, keeping the query in the pager", async () => {
    const res = await admin.get("/admin/customers?q=bulk", { hx: true });
    const body = await res.text();
    expect(body).toStartWith('<div id="customer-table">');
    expect(body).not.toContain("<html");
    expect(body).toContain("30 customer(s)");
    expect(decoded(body)).toContain('href="/admin/customers?q=bulk&page=2"');
  });
});

describe("old dashboard customer JSON routes", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("they need an admin session", async () => {
    const res = await svc.request("GET", "/api/customer/1");
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "admin_session_required" });
  });

  test("state changes need the CSRF header", async () => {
    const res = await admin.json("POST", "/api/customer", { email: "csrf@example.com" }, { csrf: false });
    expect(res.status).toBe(403);
  });

  test("POST creates, GET reads, PUT updates and DELETE removes a customer", async () => {
    const created = await admin.json("POST", "/api/customer", { email: "Json@Example.com", name: "Json", company: "JC", notes: "hi" });
    expect(created.status).toBe(201);
    const body = await created.json();
    expect(body).toMatchObject({ success: true, customer: { email: "json@example.com", name: "Json", company: "JC", notes: "hi" } });
    const id = body.customer_id as number;

    const read = await admin.json("GET", `/api/customer/${id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id, email: "json@example.com", name: "Json", licenses: [] });

    const updated = await admin.json("PUT", `/api/customer/${id}`, { name: "Renamed" });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ success: true, customer: { id, name: "Renamed", email: "json@example.com", company: "JC" } });

    const removed = await admin.json("DELETE", `/api/customer/${id}`);
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({ success: true, deleted: { licenses: 0 } });
    expect((await admin.json("GET", `/api/customer/${id}`)).status).toBe(404);
  });

  test("a duplicate e-mail is a 409 and a missing e-mail a 422, in the contract's error body", async () => {
    await admin.json("POST", "/api/customer", { email: "dupe@example.com" });
    const dupe = await admin.json("POST", "/api/customer", { email: "DUPE@example.com" });
    expect(dupe.status).toBe(409);
    expect(await dupe.json()).toMatchObject({ code: "conflict", field: "email" });
    const missing = await admin.json("POST", "/api/customer", { name: "No mail" });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ code: "invalid_request", field: "email" });
    const notObject = await admin.json("POST", "/api/customer", [1, 2]);
    expect(notObject.status).toBe(400);
    expect((await admin.json("PUT", "/api/customer/424242", { name: "x" })).status).toBe(404);
    expect((await admin.json("DELETE", "/api/customer/424242")).status).toBe(404);
  });

  test("every change is in the audit log with the admin as actor", async () => {
    const rows = await svc.services.db.orm.em
      .getConnection()
      .execute("select action, actor_label from audit_log where action like 'customer.%' order by id");
    const actions = (rows as Array<{ action: string; actor_label: string }>).map((r) => r.action);
    expect(actions).toContain("customer.created");
    expect(actions).toContain("customer.updated");
    expect(actions).toContain("customer.deleted");
    expect((rows as Array<{ actor_label: string }>).every((r) => r.actor_label === admin.email)).toBe(true);
  });
});
