// The admin's provider-key page: configured or not with last4 only, set/replace sealed, remove with a
// confirmation, a connection test against the provider's base URL that reports only OK/failed and the
// HTTP status, per-plan routing with links to the plan editor, and the audit entries of every change.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { DbVendorKeys, probeProvider } from "../../src/adapters/db/admin_plan_provider_repos.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const ENV_KEY = "sk-env-vendor-key-0001";
const NEW_KEY = "sk-proj-NEWSECRETvalue-7Q9z";
const SECRET_PART = "NEWSECRETvalue";

/** Every row of a table as one string, to search for a secret in clear. */
async function tableText(svc: TestService, table: string): Promise<string> {
  const rows = await svc.services.db.orm.em.getConnection().execute(`select * from ${table}`);
  return JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? String(v) : v));
}

/** A provider stub that refuses every key with 401 and an error text echoing it (as some providers do). */
function refusingProvider() {
  const seen: Array<{ path: string; authorization: string | null }> = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      seen.push({ path: new URL(request.url).pathname, authorization: request.headers.get("authorization") });
      return Response.json({ error: { message: `Incorrect API key provided: ${request.headers.get("authorization")}` } }, { status: 401 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

describe("admin provider keys page", () => {
  let up: FakeUpstream;
  let refusing: ReturnType<typeof refusingProvider>;
  let svc: TestService;
  let admin: AdminSessionClient;

  beforeAll(async () => {
    up = await startFakeUpstream();
    refusing = refusingProvider();
    svc = await startTestService({
      OPENAI_BASE_URL: up.openaiBaseUrl,
      OPENAI_API_KEY: ENV_KEY,
      ANTHROPIC_BASE_URL: up.anthropicBaseUrl,
      DEEPSEEK_BASE_URL: refusing.url,
    });
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
    await up.stop();
    await refusing.stop();
  });
  beforeEach(() => up.reset());

  test("the page shows each provider configured or not, with last4, base URL and update time, never the key", async () => {
    const res = await admin.get("/admin/providers");
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("OpenAI");
    expect(page).toContain("Anthropic");
    expect(page).toContain("DeepSeek");
    expect(page).toContain('<code class="key">…0001</code>');
    expect(page).not.toContain(ENV_KEY);
    expect(page).toContain(`<code>${up.openaiBaseUrl.replaceAll("/", "&#x2F;")}</code>`);
    expect(page.match(/status active">configured/g)?.length).toBe(1);
    expect(page.match(/<span class="status">not configured/g)?.length).toBe(2);
    expect(page).toContain('type="password" name="api_key"');
    expect(page).toContain("within 10 seconds");
  });

  test("the page lists each plan's default and fallback provider with a link to its editor", async () => {
    const pro = (await svc.services.plans.byName("pro"))!;
    const page = await (await admin.get("/admin/providers")).text();
    expect(page).toContain(`<a href="/admin/plans/${pro.id}">Edit plan</a>`);
    expect(page).toMatch(/Pro - AI Included <code>pro<\/code><\/td>\s*<td>openai<\/td>\s*<td>none<\/td>/);
  });

  test("setting a key stores it sealed and shows only its last four characters; it is audited with last4 only", async () => {
    const res = await admin.post("/admin/providers/anthropic/key", { api_key: `${NEW_KEY}\n` });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/providers?done=set:anthropic");
    const page = await (await admin.get(res.headers.get("location")!)).text();
    expect(page).toContain("Anthropic key saved");
    expect(page).toContain('<code class="key">…7Q9z</code>');
    expect(page).not.toContain(SECRET_PART);

    const stored = await tableText(svc, "provider_keys");
    expect(stored).not.toContain(SECRET_PART);
    expect(stored).toContain("7Q9z");
    // The chat path opens the sealed key as it was typed (the trailing newline trimmed).
    const opened = await new DbVendorKeys(svc.services.db, svc.services.keyring).open("anthropic");
    expect(opened?.apiKey).toBe(NEW_KEY);

    const entry = (await svc.services.audit.recent(10)).find((e) => e.action === "provider_key.set")!;
    expect(entry.targetId).toBe("anthropic");
    expect(entry.details).toEqual({ provider: "anthropic", last4: "7Q9z", replaced: false });
    expect(await tableText(svc, "audit_log")).not.toContain(SECRET_PART);
  });

  test("replacing a key keeps the row's base URL and records replaced", async () => {
    const res = await admin.post("/admin/providers/openai/key", { api_key: "sk-replacement-key-ABCD" });
    expect(res.status).toBe(303);
    const page = await (await admin.get("/admin/providers")).text();
    expect(page).toContain('<code class="key">…ABCD</code>');
    expect(page).not.toContain("…0001");
    expect(page).toContain(`<code>${up.openaiBaseUrl.replaceAll("/", "&#x2F;")}</code>`);
    const entry = (await svc.services.audit.recent(10)).find((e) => e.action === "provider_key.set" && e.targetId === "openai")!;
    expect(entry.details).toEqual({ provider: "openai", last4: "ABCD", replaced: true });
    await admin.post("/admin/providers/openai/key", { api_key: ENV_KEY });
  });

  test("a malformed key is refused with 422 beside its provider and nothing is stored", async () => {
    const before = await tableText(svc, "provider_keys");
    for (const apiKey of ["", "short", "has a space inside"]) {
      const res = await admin.post("/admin/providers/deepseek/key", { api_key: apiKey });
      expect(res.status).toBe(422);
      expect(await res.text()).toContain('class="field-error" role="alert"');
    }
    expect(await tableText(svc, "provider_keys")).toBe(before);
  });

  test("an unknown provider answers 404", async () => {
    expect((await admin.post("/admin/providers/mistral/key", { api_key: NEW_KEY })).status).toBe(404);
    expect((await admin.post("/admin/providers/mistral/test", {})).status).toBe(404);
  });

  test("setting a key needs the CSRF token", async () => {
    const res = await admin.post("/admin/providers/deepseek/key", { api_key: NEW_KEY }, { csrf: false });
    expect(res.status).toBe(403);
    expect(await tableText(svc, "provider_keys")).not.toContain('"deepseek"');
  });

  test("test connection with the stored OpenAI key against the fake upstream answers OK with the status", async () => {
    const res = await admin.post("/admin/providers/openai/test", {}, { hx: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("OK (HTTP 200)");
    expect(text).not.toContain("<html");
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]).toMatchObject({ method: "GET", path: "/v1/models" });
    expect(up.requests[0].headers.authorization).toBe(`Bearer ${ENV_KEY}`);
  });

  test("test connection for Anthropic lists models with x-api-key and the API version", async () => {
    const res = await admin.post("/admin/providers/anthropic/test", {}, { hx: true });
    expect(await res.text()).toContain("OK (HTTP 200)");
    expect(up.requests[0]).toMatchObject({ method: "GET", path: "/v1/models" });
    expect(up.requests[0].headers["x-api-key"]).toBe(NEW_KEY);
    expect(up.requests[0].headers["anthropic-version"]).toBeTruthy();
  });

  test("test connection against a provider answering 401 reports failed with the status, never its error text nor the key", async () => {
    await admin.post("/admin/providers/deepseek/key", { api_key: "sk-deepseek-refused-WXYZ" });
    const res = await admin.post("/admin/providers/deepseek/test", {}, { hx: true });
    const text = await res.text();
    expect(text).toContain("Failed (HTTP 401)");
    expect(text).toContain("The provider refused the key.");
    expect(text).not.toContain("Incorrect API key");
    expect(text).not.toContain("sk-deepseek-refused");
    expect(refusing.seen.at(-1)).toEqual({ path: "/models", authorization: "Bearer sk-deepseek-refused-WXYZ" });
    const entry = (await svc.services.audit.recent(5)).find((e) => e.action === "provider_key.tested")!;
    expect(entry.details).toMatchObject({ provider: "deepseek", ok: false, status: 401 });
  });

  test("without htmx the connection test re-renders the page with the result beside the provider", async () => {
    const res = await admin.post("/admin/providers/openai/test", {});
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("<html");
    expect(page).toMatch(/id="test-openai"[^>]*>\s*<span class="status active">OK \(HTTP 200\)/);
  });

  test("the test button posts with htmx and the busy indicator", async () => {
    const page = await (await admin.get("/admin/providers")).text();
    expect(page).toContain('hx-post="/admin/providers/openai/test"');
    expect(page).toContain('hx-indicator="#busy"');
  });

  test("removing a key needs the confirmation, then deletes it and is audited", async () => {
    const unconfirmed = await admin.post("/admin/providers/deepseek/remove", {});
    expect(unconfirmed.status).toBe(422);
    expect(await unconfirmed.text()).toContain("Tick the confirmation");
    expect(await tableText(svc, "provider_keys")).toContain("WXYZ");

    const res = await admin.post("/admin/providers/deepseek/remove", { confirm: "yes" });
    expect(res.status).toBe(303);
    const page = await (await admin.get(res.headers.get("location")!)).text();
    expect(page).toContain("DeepSeek key removed");
    expect(page).not.toContain("…WXYZ");
    expect(await tableText(svc, "provider_keys")).not.toContain("WXYZ");
    const entry = (await svc.services.audit.recent(5)).find((e) => e.action === "provider_key.removed")!;
    expect(entry.details).toEqual({ provider: "deepseek", last4: "WXYZ" });

    const again = await admin.post("/admin/providers/deepseek/remove", { confirm: "yes" });
    expect(again.status).toBe(404);
  });

  test("test connection without a stored key says so without calling anyone", async () => {
    const res = await admin.post("/admin/providers/deepseek/test", {}, { hx: true });
    expect(await res.text()).toContain("No key is configured.");
    expect(up.requests).toHaveLength(0);
  });
});

describe("probeProvider", () => {
  test("a provider that does not answer within the timeout counts as failed with no status", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: () => Bun.sleep(2_000).then(() => new Response("late")) });
    try {
      const result = await probeProvider({ provider: "openai", apiKey: "sk-x-12345678", baseUrl: `http://127.0.0.1:${server.port}/v1` }, { timeoutMs: 100 });
      expect(result).toEqual({ ok: false, status: null, problem: "timeout" });
    } finally {
      server.stop(true);
    }
  });

  test("an address nobody listens on counts as unreachable", async () => {
    const result = await probeProvider({ provider: "deepseek", apiKey: "sk-x-12345678", baseUrl: "http://127.0.0.1:1" });
    expect(result).toEqual({ ok: false, status: null, problem: "unreachable" });
  });
});
