// Admin bulk operations: CSV import with dry-run preview and per-row errors, real imports, and the CSV
// exports (never a full key, formula-injection safe).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const HEADER = "email,plan,months,lifetime,domain";

describe("admin bulk operations", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc?.close();
  });

  const counts = async () => ({
    customers: (await svc.services.customers.list({ offset: 0, limit: 1 })).total,
    licenses: (await svc.services.licenses.list({ offset: 0, limit: 1 })).total,
  });

  test("the page shows the import form and the export links", async () => {
    const res = await admin.get("/admin/bulk");
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('action="/admin/bulk/import"');
    expect(body).toContain('type="file"');
    expect(body).toMatch(/name="dry_run" value="1" checked/);
    expect(body).toContain("licenses.csv");
    expect(body).toContain("customers.csv");
  });

  test("a dry run shows the preview and creates nothing", async () => {
    const before = await counts();
    const csv = `${HEADER}\r\ndry1@example.com,pro,12,,\r\ndry2@example.com,founders,,yes,shop.example.com\r\n`;
    const res = await admin.post("/admin/bulk/import", { csv, dry_run: "1" });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("Dry run preview");
    expect(body).toContain("dry1@example.com");
    expect(body).toContain("shop.example.com");
    expect(body).toContain("lifetime");
    expect(await counts()).toEqual(before);
    const audit = await svc.services.audit.recent(5);
    expect(audit.some((a) => a.action === "bulk.import")).toBe(true);
  });

  test("rows with errors are listed per row and a real import is refused as a whole", async () => {
    const before = await counts();
    const csv = [HEADER, "good@example.com,pro,3,,", "bad-email,pro,3,,", "x@example.com,nope,3,,", "y@example.com,pro,500,,"].join("\n");
    const res = await admin.post("/admin/bulk/import", { csv });
    expect(res.status).toBe(422);
    const body = await res.text();
    expect(body).toContain("Nothing was imported");
    expect(body).toMatch(/<td>2<\/td><td>email<\/td>/);
    expect(body).toMatch(/<td>3<\/td><td>plan<\/td>/);
    expect(body).toMatch(/<td>4<\/td><td>months<\/td>/);
    expect(await counts()).toEqual(before);
  });

  test("a real import creates customers and licenses and shows the keys once", async () => {
    const before = await counts();
    const csv = `${HEADER}\nreal1@example.com,pro,12,,\nreal2@example.com,starter,1,,real2.example.com\nreal1@example.com,founders,,true,\n`;
    const res = await admin.post("/admin/bulk/import", { csv });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("3 license(s) created (2 new customer(s))");
    const keys = [...body.matchAll(/<code class="key" id="bulk-key-(\d+)">([^<]+)<\/code> <button type="button" data-copy="bulk-key-\1">/g)];
    expect(keys.length).toBe(3);
    const after = await counts();
    expect(after.customers).toBe(before.customers + 2);
    expect(after.licenses).toBe(before.licenses + 3);
    const audit = (await svc.services.audit.recent(10)).find((a) => a.action === "bulk.import");
    expect(audit?.details).toMatchObject({ created: 3, customers_created: 2, dry_run: false });
  });

  test("multipart uploads with a file are read", async () => {
    const boundary = "----bulkboundary";
    const csv = `${HEADER}\r\nfile1@example.com,pro,6,,\r\n`;
    const raw = [
      `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${admin.csrf}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="csv"\r\n\r\n\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n`,
      `--${boundary}--\r\n`,
    ].join("");
    const res = await svc.request("POST", "/admin/bulk/import", { rawBody: raw, headers: { cookie: admin.cookie, "content-type": `multipart/form-data; boundary=${boundary}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("1 license(s) created");
  });

  test("the import needs the CSRF token", async () => {
    const before = await counts();
    const res = await admin.post("/admin/bulk/import", { csv: `${HEADER}\ncsrf@example.com,pro,1,,` }, { csrf: false });
    expect(res.status).toBe(403);
    expect(await counts()).toEqual(before);
  });

  test("exports list licenses and customers, never a full key, and neutralise formulas", async () => {
    const issued = await svc.issue({ email: "export@example.com", plan: "pro" });
    await svc.services.customers.findOrCreate({ email: "formula@example.com", name: "=HYPERLINK(\"http://evil\")", company: "+cmd", notes: null }, svc.clock.now());
    const lic = await admin.get("/admin/bulk/licenses.csv");
    expect(lic.status).toBe(200);
    expect(lic.headers.get("content-type")).toContain("text/csv");
    expect(lic.headers.get("content-disposition")).toContain("attachment");
    const licText = await lic.text();
    expect(licText.startsWith("id,key_prefix,customer_email,plan,status,expires_at,domain,created_at\r\n")).toBe(true);
    expect(licText).toContain("export@example.com");
    expect(licText).toContain("real2.example.com");
    expect(licText).not.toContain(issued.key);
    const prefix = issued.key.slice(0, 8);
    expect(licText).toContain(`${issued.licenseId},${prefix}`);
    const cus = await admin.get("/admin/bulk/customers.csv");
    expect(cus.status).toBe(200);
    const cusText = await cus.text();
    expect(cusText.startsWith("id,email,name,company,status,created_at,license_count\r\n")).toBe(true);
    expect(cusText).toContain(`"'=HYPERLINK(""http://evil"")",'+cmd,`);
    expect(cusText).toMatch(/real1@example\.com,real1,,active,[^,]+,2\r\n/);
  });

  test("anonymous callers get nothing", async () => {
    const res = await svc.request("GET", "/admin/bulk/licenses.csv");
    expect([302, 303, 401]).toContain(res.status);
    expect(await res.text()).not.toContain("export@example.com");
  });
});
