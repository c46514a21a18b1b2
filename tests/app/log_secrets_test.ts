// The service's output never carries a secret. A real session (first-start admin password, sign-in, an
// admin API token, a license key on validate/activate/chat, an own provider key, the vendor keys, wrong
// passwords and keys, errors) runs against `serve` as a child process at LOG_LEVEL=debug, and everything it
// wrote to stdout and stderr is searched for every secret used and the fragments that would betray it. The
// same is done for the log lines the in-process test services of this test process wrote (collected by
// tests/support/app.ts), with every license key they issued.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_PASSWORD, signedInAdmin } from "../support/admin.ts";
import { collectedLogLines, findSecrets, leakedSecrets, registerSecret, startTestService, type TestService } from "../support/app.ts";
import { envFor, HELLO } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { createSandbox, randomKey, startServe, type Sandbox, type ServeProcess } from "./process_support.ts";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `length` random letters and digits. */
function randomText(length: number): string {
  return [...crypto.getRandomValues(new Uint8Array(length))].map((b) => ALNUM[b % ALNUM.length]).join("");
}

/** A well-formed license key nobody issued. */
function unknownLicenseKey(): string {
  const group = () => [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
  return `CHA-${group()}-${group()}-${group()}-${group()}`;
}

/** The JSON lines of a text (other lines, such as the listening line, skipped). */
function jsonLines(text: string): Array<Record<string, any>> {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

describe("the output of a served session", () => {
  let sandbox: Sandbox;
  let up: FakeUpstream;
  let server: ServeProcess | null = null;
  const secrets = new Map<string, string>();
  const secret = (value: string, what: string) => {
    secrets.set(value, what);
    return value;
  };
  const vendorOpenAi = secret(`sk-proj-${randomText(48)}`, "vendor OpenAI key");
  const vendorAnthropic = secret(`sk-ant-api03-${randomText(40)}`, "vendor Anthropic key");
  const vendorDeepSeek = secret(`sk-${randomText(32).toLowerCase()}`, "vendor DeepSeek key");
  const ownKey = secret(`sk-proj-${randomText(48)}`, "own (BYOK) OpenAI key");
  const metricsToken = secret(`mt_${randomText(32)}`, "metrics token");
  const encryptionKey = secret(randomKey(), "encryption key");
  const webhookSecret = secret(randomText(40), "payment webhook secret");
  const strangerKey = secret(unknownLicenseKey(), "unknown license key");
  const wrongPassword = secret(`${randomText(6)}-${randomText(6)}-${randomText(6)}-${randomText(6)}`, "wrong admin password");
  let stdout = "";
  let stderr = "";
  let banner = "";
  let licenseId = 0;
  let tokenId = 0;

  beforeAll(async () => {
    sandbox = await createSandbox();
    up = await startFakeUpstream();
    server = await startServe(
      sandbox.env({
        LOG_LEVEL: "debug",
        ENCRYPTION_KEY: encryptionKey,
        OPENAI_API_KEY: vendorOpenAi,
        OPENAI_BASE_URL: up.openaiBaseUrl,
        ANTHROPIC_API_KEY: vendorAnthropic,
        ANTHROPIC_BASE_URL: up.anthropicBaseUrl,
        DEEPSEEK_API_KEY: vendorDeepSeek,
        DEEPSEEK_BASE_URL: up.openaiBaseUrl,
        PROVIDER_MAX_RETRIES: "0",
        PROVIDER_TIMEOUT_MS: "1000",
        METRICS_TOKEN: metricsToken,
        PAYMENT_WEBHOOK_SECRET: webhookSecret,
      }),
    );
    const base = server.url;
    const call = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { redirect: "manual", ...init });
    const form = (fields: Record<string, string>) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });

    // The first start's password, printed once on purpose: the only place it may ever appear.
    const firstStart = server.stdout();
    banner = /=+\nFirst start:[\s\S]*?\n=+\n/.exec(firstStart)?.[0] ?? "";
    const password = secret(/password:\s+(\S+)/.exec(banner)?.[1] ?? "", "first-start admin password");
    expect(password.length).toBeGreaterThanOrEqual(12);

    // Admin: a wrong password, then the right one, then an API token made in the admin.
    expect((await call("/admin/login", form({ email: "admin@chatello.local", password: wrongPassword }))).status).toBe(401);
    const login = await call("/admin/login", form({ email: "admin@chatello.local", password }));
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    secret(cookie.split("=")[1], "admin session token");
    const account = await (await call("/admin/account", { headers: { cookie } })).text();
    const csrf = secret(/name="csrf-token" content="([0-9a-f]+)"/.exec(account)![1], "CSRF token");
    const tokenPage = await call("/admin/account/tokens", { ...form({ _csrf: csrf, name: "log test", scope: "write" }), headers: { cookie, "content-type": "application/x-www-form-urlencoded" } });
    expect(tokenPage.status).toBe(200);
    const adminToken = secret(/chtl_[0-9a-f]{40}/.exec(await tokenPage.text())![0], "admin API token");
    const admin = (path: string, init: RequestInit = {}) =>
      call(path, { ...init, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", ...(init.headers ?? {}) } });
    expect((await call("/api/admin/licenses", { headers: { authorization: `Bearer chtl_${randomText(40).toLowerCase()}` } })).status).toBe(401);
    const issued = await admin("/api/admin/licenses", { method: "POST", body: JSON.stringify({ email: "buyer@example.com", plan: "pro" }) });
    expect(issued.status).toBe(201);
    const issuedBody = (await issued.json()) as { license_key: string; license: { id: number } };
    const key = secret(issuedBody.license_key, "license key");
    licenseId = issuedBody.license.id;
    const tokens = (await (await admin("/api/admin/tokens")).json()) as { items: Array<{ id: number }> };
    tokenId = tokens.items[0].id;

    // The plugin: wrong and malformed keys, then the real one, also where it does not belong (path, query).
    const plugin = (path: string, body: unknown, headers: Record<string, string> = { "x-license-key": key }) =>
      call(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    expect((await plugin("/api/validate", {}, { "x-license-key": strangerKey })).status).toBe(401);
    expect((await plugin("/api/validate", {}, { "x-license-key": `CHA-${randomText(20)}` })).status).toBe(401);
    expect((await plugin("/api/validate", { site_url: "https://shop.example.com" })).status).toBe(200);
    expect((await plugin("/api/activate", { site_url: "https://shop.example.com" })).status).toBe(200);
    expect((await call(`/api/usage?license_key=${key}`, { headers: { "x-license-key": key } })).status).toBe(200);
    expect((await call(`/api/validate/${key}`)).status).toBe(404);
    expect((await call("/api/validate", { method: "POST", headers: { "x-license-key": key, "content-type": "application/json" }, body: `{"site_url": "${key}"` })).status).toBe(400);

    // The proxy: plain, OpenAI-compatible with the key as bearer, streamed, and an upstream that repeats the key it got.
    expect((await plugin("/api/chat", { messages: HELLO })).status).toBe(200);
    const v1 = await plugin("/v1/chat/completions", { model: "gpt-4o-mini", messages: HELLO }, { authorization: `Bearer ${key}` });
    expect(v1.status).toBe(200);
    const streamed = await plugin("/api/chat", { messages: HELLO, stream: true });
    expect(streamed.status).toBe(200);
    await streamed.text();
    up.script({ status: 401, errorBody: { error: { message: `Incorrect API key provided: ${vendorOpenAi}`, type: "invalid_request_error", code: "invalid_api_key" } } });
    expect((await plugin("/api/chat", { messages: HELLO })).status).toBe(502);
    expect((await plugin("/api/chat", { messages: HELLO, provider: "anthropic", model: "claude-3-5-haiku-latest" })).status).toBe(200);

    // Bring your own key: a wrongly shaped one (refused without echo), the real one, and a call that uses it.
    expect((await call("/api/keys/openai", { method: "PUT", headers: { "x-license-key": key, "content-type": "application/json" }, body: JSON.stringify({ api_key: [ownKey] }) })).status).toBe(422);
    expect((await call("/api/keys/openai", { method: "PUT", headers: { "x-license-key": key, "content-type": "application/json" }, body: JSON.stringify({ api_key: ownKey }) })).status).toBe(200);
    up.reset();
    expect((await plugin("/api/chat", { messages: HELLO })).status).toBe(200);
    expect(up.requests.at(-1)?.headers.authorization).toBe(`Bearer ${ownKey}`);

    // Webhooks and metrics with wrong credentials, then the metrics with the right token.
    expect((await call("/api/webhook/payment", { method: "POST", headers: { "content-type": "application/json", "x-signature": randomText(64) }, body: "{}" })).status).toBeGreaterThanOrEqual(400);
    expect((await call("/metrics", { headers: { authorization: `Bearer ${metricsToken}x` } })).status).toBe(401);
    expect((await call("/metrics", { headers: { authorization: `Bearer ${metricsToken}` } })).status).toBe(200);

    expect(await server.stop()).toBe(0);
    stdout = server.stdout();
    stderr = server.stderr();
    server = null;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await up?.stop();
    await sandbox?.remove();
  });

  test("the first-start password appears once, in the first-start notice, and nowhere else", () => {
    const password = [...secrets].find(([, what]) => what === "first-start admin password")![0];
    expect(stdout.split(password).length - 1).toBe(1);
    expect(banner).toContain(password);
  });

  test("no secret used in the session, nor a telling part of one, is in anything the process wrote", () => {
    const output = `${stdout.replace(banner, "")}\n${stderr}`;
    expect(output.length).toBeGreaterThan(1000);
    expect(findSecrets(output, secrets)).toEqual([]);
  });

  test("every request has a JSON log line with its id, route pattern, status, duration and caller", () => {
    const requests = jsonLines(stdout).filter((line) => line.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(25);
    for (const line of requests) {
      const types = [line.level, typeof line.request_id, typeof line.method, typeof line.route, typeof line.path, typeof line.status, typeof line.duration_ms];
      expect(types).toEqual(["info", "string", "string", "string", "string", "number", "number"]);
      expect(line.path).not.toContain("?");
    }
    const chat = requests.filter((line) => line.route === "/api/chat" && line.status === 200);
    expect(chat.length).toBeGreaterThanOrEqual(3);
    for (const line of chat) expect(line.license_id).toBe(licenseId);
    expect(requests.find((line) => line.route === "/v1/chat/completions")).toMatchObject({ status: 200, license_id: licenseId });
    expect(requests.find((line) => line.path === "/api/usage")).toMatchObject({ route: "/api/usage", license_id: licenseId });
    expect(requests.find((line) => line.route === "/api/keys/:provider" && line.status === 200)).toMatchObject({ path: "/api/keys/openai", license_id: licenseId });
    expect(requests.find((line) => line.route === "/api/admin/licenses" && line.status === 201)).toMatchObject({ token_id: tokenId });
    expect(typeof requests.find((line) => line.route === "/admin/account" && line.status === 200)?.admin_id).toBe("number");
    // A refused key has no license; an unknown path is "unmatched" whatever it holds.
    expect(requests.filter((line) => line.route === "/api/validate" && line.status === 401).every((line) => line.license_id === undefined)).toBe(true);
    expect(requests.find((line) => line.status === 404 && line.path.startsWith("/api/validate/"))).toMatchObject({ route: "unmatched" });
  });
});

describe("the log lines of this process's in-process services", () => {
  let up: FakeUpstream;
  let svc: TestService;
  let licenseId = 0;
  // The collector is the whole run's: other files' services number their licenses from 1 too.
  let firstLine = 0;

  beforeAll(async () => {
    firstLine = collectedLogLines().length;
    up = await startFakeUpstream();
    const env = envFor(up);
    for (const name of ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY"]) registerSecret(env[name], `vendor key ${name}`);
    svc = await startTestService(env);
    registerSecret(ADMIN_PASSWORD, "admin password");
  }, 30_000);
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });

  test("a session of an admin and a plugin runs with secrets registered", async () => {
    const admin = await signedInAdmin(svc);
    const tokenPage = await admin.post("/admin/account/tokens", { name: "in-process", scope: "write" });
    const token = /chtl_[0-9a-f]{40}/.exec(await tokenPage.text())![0];
    registerSecret(token, "admin API token");
    const issued = await svc.request("POST", "/api/admin/licenses", { body: { email: "log@example.com", plan: "pro" }, headers: { authorization: `Bearer ${token}` } });
    expect(issued.status).toBe(201);
    const { license_key: key, license } = (await issued.json()) as { license_key: string; license: { id: number } };
    registerSecret(key, "license key");
    licenseId = license.id;
    const ownKey = `sk-proj-${randomText(48)}`;
    registerSecret(ownKey, "own (BYOK) key");
    const stranger = unknownLicenseKey();
    registerSecret(stranger, "unknown license key");

    expect((await svc.request("POST", "/api/validate", { key: stranger })).status).toBe(401);
    expect((await svc.request("POST", "/api/validate", { key, body: { site_url: "shop.example.com" } })).status).toBe(200);
    expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(200);
    expect((await svc.request("PUT", "/api/keys/openai", { key, body: { api_key: ownKey } })).status).toBe(200);
    expect((await svc.request("POST", "/v1/chat/completions", { headers: { authorization: `Bearer ${key}` }, body: { model: "gpt-4o-mini", messages: HELLO } })).status).toBe(200);
    expect((await svc.request("GET", `/api/usage?license_key=${key}`, { key })).status).toBe(200);
    expect((await svc.request("GET", "/api/admin/licenses", { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
  }, 30_000);

  test("the collector holds the services' lines, with the licensed requests' license id", async () => {
    const licensedLines = () =>
      collectedLogLines()
        .slice(firstLine)
        .map((line) => JSON.parse(line) as Record<string, any>)
        .filter((line) => line.msg === "request" && line.license_id === licenseId);
    // Request lines are written once the answer has gone out.
    for (let waited = 0; licensedLines().length < 5 && waited < 2000; waited += 10) await Bun.sleep(10);
    const licensed = licensedLines();
    expect(licensed.map((line) => line.route).sort()).toEqual(["/api/chat", "/api/keys/:provider", "/api/usage", "/api/validate", "/v1/chat/completions"]);
  });

  test("no secret registered in this process (every license key issued included) is in any collected log line", () => {
    expect(collectedLogLines().length).toBeGreaterThan(10);
    expect(leakedSecrets()).toEqual([]);
  });
});
