// Several admin accounts: a signed-in admin lists the admins and adds one, who can then sign in.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

describe("admin accounts", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => svc.close());

  test("the account page lists every admin, the first-start admin included", async () => {
    const page = await (await admin.get("/admin/account")).text();
    expect(page).toContain("admin@chatello.local");
    expect(page).toContain(admin.email);
  });

  test("an admin adds another admin, who can sign in, and the action is audited", async () => {
    const res = await admin.post("/admin/account/admins", { email: "Second.Admin@Example.com", name: "Second", password: "another long password" });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("second.admin@example.com");
    const login = await svc.request("POST", "/admin/login", {
      rawBody: new URLSearchParams({ email: "second.admin@example.com", password: "another long password" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(login.status).toBe(303);
    const audit = await svc.services.audit.recent(10);
    expect(audit.some((e) => e.action === "admin.created" && (e.details as { email?: string }).email === "second.admin@example.com")).toBe(true);
  });

  test("a duplicate e-mail, a bad e-mail or a short password re-render the form with field errors (422)", async () => {
    for (const [form, message] of [
      [{ email: admin.email.toUpperCase(), password: "long enough password" }, "already exists"],
      [{ email: "not-an-email", password: "long enough password" }, "valid e-mail"],
      [{ email: "third@example.com", password: "short" }, "At least 12 characters"],
    ] as const) {
      const res = await admin.post("/admin/account/admins", form);
      expect(res.status).toBe(422);
      expect(await res.text()).toContain(message);
    }
    expect(await svc.services.admins.byEmail("third@example.com")).toBeNull();
  });

  test("adding an admin without the CSRF token is refused", async () => {
    const res = await admin.post("/admin/account/admins", { email: "fourth@example.com", password: "long enough password" }, { csrf: false });
    expect(res.status).toBe(403);
    expect(await svc.services.admins.byEmail("fourth@example.com")).toBeNull();
  });
});
