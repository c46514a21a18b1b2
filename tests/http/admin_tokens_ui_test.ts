// Admin API tokens on the account page: list, create (the secret is shown once), revoke, CSRF, audit.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkApiToken } from "../../src/domain/admin/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const TOKEN_IN_PAGE = /<code class="key" id="new-token">(chtl_[0-9a-f]{40})<\/code>/;

describe("admin API tokens in the admin UI", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => svc.close());

  /** Creates a token through the form and returns the secret shown on the answer. */
  async function createThroughForm(name: string, scope: "read" | "write"): Promise<{ token: string; page: string; response: Response }> {
    const response = await admin.post("/admin/account/tokens", { name, scope });
    const page = await response.text();
    expect(response.status).toBe(200);
    const token = TOKEN_IN_PAGE.exec(page)?.[1];
    if (!token) throw new Error(`the creation answer shows no token:\n${page.slice(0, 2000)}`);
    return { token, page, response };
  }

  /** Whether the admin API has a GET route for the token list yet (another part of the service). */
  async function adminApiTokenList(token: string): Promise<Response | null> {
    const response = await svc.request("GET", "/api/admin/tokens", { headers: { authorization: `Bearer ${token}` } });
    return response.status === 404 ? null : response;
  }

  test("the account page has the token section with a creation form", async () => {
    const res = await admin.get("/admin/account");
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("Admin API tokens");
    expect(page).toContain('action="/admin/account/tokens"');
    expect(page).toMatch(/<select name="scope">[\s\S]*value="read"[\s\S]*value="write"/);
    expect(page).not.toContain('id="new-token"');
  });

  test("creating a token shows it once with a copy button; the list shows only its prefix", async () => {
    const { token, page, response } = await createThroughForm("CI deploy", "read");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(page).toContain('<button type="button" data-copy="new-token">Copy</button>');
    expect(page).toMatch(/will not be shown again/i);

    const stored = (await svc.services.tokens.list()).find((t) => t.name === "CI deploy");
    expect(stored).toMatchObject({ scope: "read", prefix: token.slice(0, 12), revokedAt: null });

    const again = await (await admin.get("/admin/account")).text();
    expect(again).not.toContain(token);
    expect(again).not.toContain('id="new-token"');
    expect(again).toContain("CI deploy");
    expect(again).toContain(`${token.slice(0, 12)}…`);

    const audit = await svc.services.audit.recent(20);
    expect(audit.some((e) => e.action === "api_token.created" && e.actor.type === "admin" && (e.details as { name?: string }).name === "CI deploy")).toBe(true);
  });

  test("the new token authenticates on the admin API, with its scope", async () => {
    const { token } = await createThroughForm("reporting", "read");
    const check = await checkApiToken({ tokens: svc.services.tokens, clock: svc.clock }, token, "GET");
    expect(check.kind).toBe("ok");
    if (check.kind === "ok") expect(check.token).toMatchObject({ name: "reporting", scope: "read" });
    expect((await checkApiToken({ tokens: svc.services.tokens, clock: svc.clock }, token, "POST")).kind).toBe("forbidden");
    const api = await adminApiTokenList(token);
    if (api) expect(api.status).toBe(200);
    // Last-used is recorded and shown on the account page.
    const stored = (await svc.services.tokens.list()).find((t) => t.name === "reporting");
    expect(stored?.lastUsedAt).not.toBeNull();
    const page = await (await admin.get("/admin/account")).text();
    const row = page.split("<tr>").find((r) => r.includes("reporting"));
    expect(row).toBeDefined();
    expect(row).not.toContain("never");
  });

  test("an empty name re-renders the form with a field error (422) and creates nothing", async () => {
    const before = (await svc.services.tokens.list()).length;
    const res = await admin.post("/admin/account/tokens", { name: "   ", scope: "write" });
    expect(res.status).toBe(422);
    const page = await res.text();
    expect(page).toContain('class="field-error"');
    expect(page).toContain("Enter a name");
    expect(page).not.toContain('id="new-token"');
    expect(page).toMatch(/value="write" selected/);
    expect((await svc.services.tokens.list()).length).toBe(before);
  });

  test("revoking a token refuses it from then on, marks it revoked and audits it", async () => {
    const { token } = await createThroughForm("to revoke", "write");
    const info = (await svc.services.tokens.list()).find((t) => t.name === "to revoke")!;
    const listed = await (await admin.get("/admin/account")).text();
    expect(listed).toContain(`action="/admin/account/tokens/${info.id}/revoke"`);
    expect(listed).toContain("hx-confirm=");

    const res = await admin.post(`/admin/account/tokens/${info.id}/revoke`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toStartWith("/admin/account");

    expect((await checkApiToken({ tokens: svc.services.tokens, clock: svc.clock }, token, "GET")).kind).toBe("revoked");
    const api = await adminApiTokenList(token);
    if (api) expect(api.status).toBe(401);

    // A browser never sends the #fragment of a redirect's location.
    const after = await (await admin.get(res.headers.get("location")!.split("#")[0])).text();
    expect(after).toContain("Token revoked");
    expect(after).not.toContain(`action="/admin/account/tokens/${info.id}/revoke"`);
    const row = after.split("<tr>").find((r) => r.includes("to revoke"));
    expect(row).toContain("revoked ");

    const audit = await svc.services.audit.recent(20);
    expect(audit.some((e) => e.action === "api_token.revoked" && String(e.targetId) === String(info.id))).toBe(true);

    // A second revoke (or an unknown id) answers 404 and changes nothing.
    expect((await admin.post(`/admin/account/tokens/${info.id}/revoke`)).status).toBe(404);
    expect((await admin.post("/admin/account/tokens/999999/revoke")).status).toBe(404);
  });

  test("with htmx the revoke answers an HX-Redirect back to the account page", async () => {
    await createThroughForm("htmx revoke", "read");
    const info = (await svc.services.tokens.list()).find((t) => t.name === "htmx revoke")!;
    const res = await admin.post(`/admin/account/tokens/${info.id}/revoke`, {}, { hx: true });
    expect(res.status).toBe(204);
    expect(res.headers.get("hx-redirect")).toStartWith("/admin/account");
    expect((await svc.services.tokens.list()).find((t) => t.id === info.id)?.revokedAt).not.toBeNull();
  });

  test("creating and revoking need the CSRF token", async () => {
    const before = (await svc.services.tokens.list()).length;
    const create = await admin.post("/admin/account/tokens", { name: "no csrf", scope: "write" }, { csrf: false });
    expect(create.status).toBe(403);
    expect(await create.text()).not.toMatch(/chtl_[0-9a-f]{40}/);
    expect((await svc.services.tokens.list()).length).toBe(before);

    const { token } = await createThroughForm("kept", "read");
    const info = (await svc.services.tokens.list()).find((t) => t.name === "kept")!;
    const revoke = await admin.post(`/admin/account/tokens/${info.id}/revoke`, {}, { csrf: false });
    expect(revoke.status).toBe(403);
    expect((await checkApiToken({ tokens: svc.services.tokens, clock: svc.clock }, token, "GET")).kind).toBe("ok");
  });

  test("the token routes need a signed-in admin", async () => {
    const res = await svc.request("POST", "/admin/account/tokens", {
      rawBody: new URLSearchParams({ name: "anonymous", scope: "write" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect([303, 401, 403]).toContain(res.status);
    expect((await svc.services.tokens.list()).some((t) => t.name === "anonymous")).toBe(false);
  });
});
