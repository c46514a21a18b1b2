// Secrets stay secret: after a realistic session (licenses issued every way, validated, used for chat, a
// customer's own provider key, vendor keys, admin passwords and sessions, admin API tokens, an outgoing
// webhook with its signing secret, Paddle and generic payment hooks, a CSV import) a dump of every column of
// every row of every table holds none of them in clear or in a trivial encoding — only digests, sealed
// ciphertext, last four characters and prefixes. Every page, fragment and JSON answer the router lists, and
// the error answers of requests that carry a secret, hold none either, except the screens meant to show one.
// (The log-output scan lives in its own test.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { createKeyring } from "../../src/adapters/crypto/webcrypto_keyring.ts";
import { DbOutbox, mailBodyStores } from "../../src/adapters/db/outbox_repo.ts";
import { startMailSender } from "../../src/adapters/mail/smtp_sender.ts";
import { sessionIdOf } from "../../src/domain/admin/mod.ts";
import { rotateSecrets } from "../../src/domain/encryption/mod.ts";
import { licenseKeyDigest } from "../../src/domain/licensing/mod.ts";
import { ADMIN_PASSWORD, signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { concretePath, protectedAdminRoutes } from "../support/admin_probe.ts";
import { startTestService, TEST_ENCRYPTION_KEY, type TestService } from "../support/app.ts";
import { envFor, HELLO, T0 } from "../support/chat.ts";
import { dumpDatabase, type DumpCell } from "../support/db_dump.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const SLOW = 120_000;
const PADDLE_SECRET = "pdl_ntfset_secretsuite_7f3a9c0b1e2d4f5a6b7c";
const GENERIC_SECRET = "generic-hook-secretsuite-0b9c8d7e6f5a4b3c";

const VENDOR_OPENAI = "sk-vendor-openai-Q9w8E7r6T5y4U3i2O1p0AsDfGh";
const VENDOR_ANTHROPIC = "sk-ant-vendor-Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1F";
const VENDOR_DEEPSEEK_ENV = "sk-ds-vendor-env-Pp0Oo9Ii8Uu7Yy6Tt5Rr4Ee3W";
const VENDOR_DEEPSEEK_API = "sk-ds-vendor-api-Nn2Bb3Vv4Cc5Xx6Zz7Aa8Ss9D";
const BYOK_KEY = "sk-own-customer-Ab12Cd34Ef56Gh78Ij90Kl12Mn";
const NEW_PASSWORD = "a brand new passphrase for secrets 42";
const SECOND_ADMIN_PASSWORD = "second admin passphrase, also secret 99";

/** A secret and what it is, for the failure messages (never printed in full). */
interface Secret {
  label: string;
  value: string;
}

let up: FakeUpstream;
let svc: TestService;
let admin: AdminSessionClient;
let uiToken = "";
let apiToken = "";
let readToken = "";
let webhookSecret = "";
const licenseKeys: string[] = [];
const sessionTokens: string[] = [];
let dump: DumpCell[] = [];
/** Ids to fill route parameters with, per kind of resource. */
const ids = { customer: 0, license: 0, starterLicense: 0, webhook: 0, outbox: 0, plan: 1, token: 0 };

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function hmacHex(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("hex");
}

/** The forms a secret could take in a careless store: as is, lower- and upper-cased, base64, base64url and hex. */
function encodings(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  return [...new Set([value, value.toLowerCase(), value.toUpperCase(), bytes.toString("base64").replace(/=+$/, ""), bytes.toString("base64url"), bytes.toString("hex")])];
}

/** The part of a secret that must never be visible: all of it but a shown prefix or last four characters. */
function hiddenParts(secret: Secret): string[] {
  const v = secret.value;
  if (/^CHA-/.test(v)) return [v.slice(13)]; // "CHA-XXXXXXXX" is the stored, shown prefix
  if (/^chtl_/.test(v)) return [v, v.slice(12)]; // the first 12 characters are the shown prefix
  if (/^sk-/.test(v)) return [v, v.slice(0, -4)]; // the last four are shown
  return [v];
}

function allSecrets(): Secret[] {
  return [
    ...licenseKeys.map((value, i) => ({ label: `license key #${i + 1}`, value })),
    ...sessionTokens.map((value, i) => ({ label: `admin session token #${i + 1}`, value })),
    { label: "admin API token (UI)", value: uiToken },
    { label: "admin API token (API)", value: apiToken },
    { label: "admin API token (read)", value: readToken },
    { label: "admin password (first)", value: ADMIN_PASSWORD },
    { label: "admin password (changed)", value: NEW_PASSWORD },
    { label: "second admin's password", value: SECOND_ADMIN_PASSWORD },
    { label: "vendor OpenAI key", value: VENDOR_OPENAI },
    { label: "vendor Anthropic key", value: VENDOR_ANTHROPIC },
    { label: "vendor DeepSeek key (env)", value: VENDOR_DEEPSEEK_ENV },
    { label: "vendor DeepSeek key (API)", value: VENDOR_DEEPSEEK_API },
    { label: "customer's own key", value: BYOK_KEY },
    { label: "webhook signing secret", value: webhookSecret },
    { label: "Paddle notification secret", value: PADDLE_SECRET },
    { label: "generic payment hook secret", value: GENERIC_SECRET },
    { label: "ENCRYPTION_KEY", value: TEST_ENCRYPTION_KEY },
  ];
}

/** The labels of the secrets a text shows (any encoding of their hidden part). */
function leaks(text: string, secrets: Secret[] = allSecrets()): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    if (secret.value === "") continue;
    if (hiddenParts(secret).some((part) => encodings(part).some((form) => text.includes(form)))) found.push(secret.label);
  }
  return found;
}

async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${text.slice(0, 300)}`);
  }
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

const KEY = /CHA-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}/;

beforeAll(async () => {
  up = await startFakeUpstream();
  // The payment routes read their secrets from the environment when the app is built; other test files
  // in this process must not inherit them.
  const saved = { paddle: process.env.PADDLE_WEBHOOK_SECRET, payment: process.env.PAYMENT_WEBHOOK_SECRET };
  process.env.PADDLE_WEBHOOK_SECRET = PADDLE_SECRET;
  process.env.PAYMENT_WEBHOOK_SECRET = GENERIC_SECRET;
  try {
    svc = await startTestService(
      envFor(up, { OPENAI_API_KEY: VENDOR_OPENAI, ANTHROPIC_API_KEY: VENDOR_ANTHROPIC, DEEPSEEK_API_KEY: VENDOR_DEEPSEEK_ENV, PROVIDER_MAX_RETRIES: "0" }),
    );
  } finally {
    restoreEnv("PADDLE_WEBHOOK_SECRET", saved.paddle);
    restoreEnv("PAYMENT_WEBHOOK_SECRET", saved.payment);
  }
  svc.clock.current = new Date(T0);
  const conn = svc.services.db.orm.em.getConnection();
  await conn.execute("update plans set paddle_prices = ? where name = 'founders'", [JSON.stringify([{ price_id: "pri_secret_life", months: 0 }])]);

  // Admins: sign in, change the password, add a second admin, sign in as both.
  admin = await signedInAdmin(svc, "secrets.admin@example.com");
  sessionTokens.push(admin.cookie.split("=")[1]);
  const changed = await admin.post("/admin/account/password", { current_password: ADMIN_PASSWORD, new_password: NEW_PASSWORD });
  expect(changed.status).toBe(200);
  const added = await admin.post("/admin/account/admins", { email: "second.admin@example.com", name: "Second", password: SECOND_ADMIN_PASSWORD });
  expect(added.status).toBe(200);
  for (const [email, password] of [["secrets.admin@example.com", NEW_PASSWORD], ["second.admin@example.com", SECOND_ADMIN_PASSWORD]]) {
    const login = await svc.request("POST", "/admin/login", {
      rawBody: new URLSearchParams({ email, password }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(login.status).toBe(303);
    sessionTokens.push(login.headers.get("set-cookie")!.split(";")[0].split("=")[1]);
  }

  // Admin API tokens: one from the account page, one from the API, one read-only.
  const tokenPage = await (await admin.post("/admin/account/tokens", { name: "backoffice", scope: "write" })).text();
  uiToken = /chtl_[0-9a-f]{40}/.exec(tokenPage)?.[0] ?? "";
  expect(uiToken).not.toBe("");
  const created = await json(await svc.request("POST", "/api/admin/tokens", { body: { name: "ci", scope: "write" }, headers: bearer(uiToken) }));
  apiToken = created.token;
  readToken = (await json(await svc.request("POST", "/api/admin/tokens", { body: { name: "reader", scope: "read" }, headers: bearer(uiToken) }))).token;
  ids.token = created.id;

  // Vendor key through the API (the others came from the environment on the first start).
  expect((await svc.request("PUT", "/api/admin/provider-keys/deepseek", { body: { api_key: VENDOR_DEEPSEEK_API }, headers: bearer(apiToken) })).status).toBe(200);

  // An outgoing webhook endpoint (its secret is shown once), registered before licenses are issued.
  const hook = await admin.post("/admin/webhooks", { url: `${up.url}/hook`, events: ["license.created", "license.activated"], description: "secrets suite" });
  expect(hook.status).toBe(201);
  const hookPage = await hook.text();
  webhookSecret = /whsec_[0-9a-f]{64}/.exec(hookPage)?.[0] ?? "";
  expect(webhookSecret).not.toBe("");
  ids.webhook = Number(/\/admin\/webhooks\/(\d+)/.exec(hookPage)?.[1]);

  // Licenses: admin API, admin page, old dashboard route, CSV import, Paddle purchase.
  const issued = await json(await svc.request("POST", "/api/admin/licenses", { body: { email: "pro.buyer@example.com", plan: "pro", domain: "shop.example.com" }, headers: bearer(apiToken) }));
  licenseKeys.push(issued.license_key);
  ids.license = issued.license.id;
  ids.customer = issued.customer_id;
  const createdPage = await (await admin.post("/admin/licenses", { email: "starter.buyer@example.com", plan: "starter", term: "", domain: "" })).text();
  const starterKey = KEY.exec(createdPage)?.[0] ?? "";
  expect(starterKey).not.toBe("");
  licenseKeys.push(starterKey);
  ids.starterLicense = Number(/\/admin\/licenses\/(\d+)/.exec(createdPage)?.[1]);
  const compat = await json(await admin.json("POST", "/api/create_license", { email: "compat.buyer@example.com", plan: "agency" }));
  licenseKeys.push(compat.license_key);
  const imported = await admin.post("/admin/bulk/import", { csv: "email,plan,months,lifetime,domain\nbulk.one@example.com,pro,1,,bulk-one.example.com\nbulk.two@example.com,agency,12,,\n" });
  expect(imported.status).toBe(200);
  for (const match of (await imported.text()).matchAll(new RegExp(KEY.source, "g"))) licenseKeys.push(match[0]);

  const paddle = async (event: Record<string, unknown>) => {
    const raw = JSON.stringify(event);
    const ts = Math.floor(svc.clock.now().getTime() / 1000);
    return svc.request("POST", "/api/webhooks/paddle", { rawBody: raw, headers: { "content-type": "application/json", "paddle-signature": `ts=${ts};h1=${hmacHex(PADDLE_SECRET, `${ts}:${raw}`)}` } });
  };
  const now = svc.clock.now().toISOString();
  const envelope = (id: string, type: string, data: Record<string, unknown>) => ({ event_id: id, event_type: type, occurred_at: now, notification_id: `ntf_${id}`, data });
  expect((await paddle(envelope("evt_secrets_1", "customer.created", { id: "ctm_secrets", email: "paddle.buyer@example.com", name: "Paddle Buyer", status: "active", created_at: now, updated_at: now }))).status).toBe(200);
  const txn = await paddle(
    envelope("evt_secrets_2", "transaction.completed", {
      id: "txn_secrets",
      status: "completed",
      customer_id: "ctm_secrets",
      origin: "web",
      subscription_id: null,
      currency_code: "EUR",
      created_at: now,
      updated_at: now,
      billed_at: now,
      items: [{ price_id: "pri_secret_life", price: { id: "pri_secret_life", billing_cycle: null, unit_price: { amount: "2900", currency_code: "EUR" } }, quantity: 1 }],
      details: { totals: { subtotal: "2900", tax: "0", total: "2900", currency_code: "EUR" } },
    }),
  );
  expect({ status: txn.status, body: await txn.json() }).toMatchObject({ status: 200, body: { outcome: "license_issued" } });

  // Every license's key, opened from the database: the ones issued above and the Paddle purchase's.
  for (const license of (await svc.services.licenses.list({ offset: 0, limit: 1000 })).items) {
    const key = await svc.services.keyring.open(license.keySealed, "license_key");
    if (!licenseKeys.includes(key)) licenseKeys.push(key);
  }
  expect(licenseKeys.length).toBe(6); // API, page, old dashboard, two imported, Paddle

  // The plugin side: validate, activate, chat on the vendor's key, store an own key and chat on it.
  const [proKey] = licenseKeys;
  expect((await svc.request("POST", "/api/validate", { key: proKey, body: { site_url: "https://shop.example.com" } })).status).toBe(200);
  expect((await svc.request("POST", "/api/activate", { key: proKey, body: { site_url: "https://shop.example.com" } })).status).toBe(200);
  expect((await svc.request("POST", "/api/chat", { key: proKey, body: { messages: HELLO } })).status).toBe(200);
  expect((await svc.request("POST", "/v1/chat/completions", { headers: bearer(proKey), body: { model: "gpt-4o-mini", messages: HELLO } })).status).toBe(200);
  expect((await svc.request("PUT", "/api/keys/openai", { key: starterKey, body: { api_key: BYOK_KEY } })).status).toBe(200);
  expect((await svc.request("POST", "/api/chat", { key: starterKey, body: { messages: HELLO } })).status).toBe(200);
  expect(up.requests.some((r) => r.headers.authorization === `Bearer ${BYOK_KEY}`)).toBe(true);
  expect(up.requests.some((r) => r.headers.authorization === `Bearer ${VENDOR_OPENAI}`)).toBe(true);

  // The generic payment hook names a license by its full key in the body.
  const generic = JSON.stringify({ type: "payment.succeeded", metadata: { license_key: proKey } });
  expect((await svc.request("POST", "/api/webhook/payment", { rawBody: generic, headers: { "content-type": "application/json", "x-webhook-signature": hmacHex(GENERIC_SECRET, generic) } })).status).toBe(200);

  // The usage batcher writes off the request path: flush it before reading the database.
  await svc.services.usageRecorder.flush();
  ids.outbox = Number(((await conn.execute("select max(id) as id from mail_outbox")) as Array<{ id: unknown }>)[0]?.id ?? 0);
  dump = await dumpDatabase(svc.services.db);
}, SLOW);

afterAll(async () => {
  await svc?.close();
  await up?.stop();
});

describe("the database holds no secret in clear", () => {
  test("a dump of every column of every row shows no license key, session, token, password, provider key or webhook secret", () => {
    const findings: string[] = [];
    for (const cell of dump) for (const label of leaks(cell.text)) findings.push(`${cell.table}.${cell.column} (row ${cell.row + 1}): ${label}`);
    expect(findings).toEqual([]);
  });

  test("the dump is real: it holds the keys' digests, prefixes and sealed copies, the tokens' digests and the keys' last four", async () => {
    const text = (table: string, column: string) => dump.filter((c) => c.table === table && c.column === column).map((c) => c.text);
    const digests = text("licenses", "key_digest");
    const sealed = text("licenses", "key_sealed");
    const prefixes = text("licenses", "key_prefix");
    expect(digests.length).toBe(licenseKeys.length);
    for (const key of licenseKeys) {
      expect(digests).toContain(await licenseKeyDigest(key));
      expect(prefixes).toContain(key.slice(0, 12));
    }
    expect(sealed.every((s) => /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s))).toBe(true);
    const tokenDigests = text("admin_api_tokens", "token_digest");
    for (const token of [uiToken, apiToken, readToken]) expect(tokenDigests).toContain(sha256Hex(token));
    const sessionIds = text("admin_sessions", "id");
    expect(sessionIds).toContain(await sessionIdOf(sessionTokens[sessionTokens.length - 1]));
    expect(text("provider_keys", "last4").sort()).toEqual([VENDOR_OPENAI, VENDOR_ANTHROPIC, VENDOR_DEEPSEEK_API, BYOK_KEY].map((k) => k.slice(-4)).sort());
    expect(text("admin_users", "password_hash").every((h) => h.startsWith("$argon2id$"))).toBe(true);
    expect(text("webhook_endpoints", "secret_sealed").every((s) => s.startsWith("v1."))).toBe(true);
    // What the session produced is there: usage events, deliveries, processed payment events, mail.
    for (const table of ["usage_events", "webhook_deliveries", "processed_webhook_events", "mail_outbox", "audit_log"]) {
      expect({ table, rows: dump.some((c) => c.table === table) }).toEqual({ table, rows: true });
    }
  });
});

describe("answers show no secret outside the screens meant to show one", () => {
  /** Which secrets a route may show on purpose: the full key of the license it is about. */
  function allowedOn(path: string): Secret[] {
    const license = /^\/(?:admin|api\/admin)\/licenses\/(\d+)(\/key)?$/.exec(path);
    // The admin's license page shows and copies the key (README: "create, show and copy key"); the admin
    // API's /key route reveals it, audited; the outbox shows a stored delivery mail, which carries the key.
    if (license && (path.startsWith("/admin/") || license[2])) return allSecrets().filter((s) => s.label.startsWith("license key"));
    if (/^\/admin\/outbox\/\d+$/.test(path)) return allSecrets().filter((s) => s.label.startsWith("license key"));
    return [];
  }

  function pick(name: string, pattern: string): number {
    if (/customer/.test(pattern)) return ids.customer;
    if (/licenses/.test(pattern)) return pattern.includes("sites") ? ids.license : ids.license;
    if (/webhooks/.test(pattern)) return ids.webhook;
    if (/outbox/.test(pattern)) return ids.outbox;
    if (/plans/.test(pattern)) return ids.plan;
    if (/tokens/.test(pattern)) return ids.token;
    return name === "provider" ? 1 : 1;
  }

  test("every admin page and fragment the router lists (signed in, plain and htmx)", async () => {
    const findings: string[] = [];
    const routes = protectedAdminRoutes(svc.app).filter((r) => r.method === "GET" && r.path.startsWith("/admin"));
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const path = concretePath(route.path, (name, pattern) => (name === "provider" ? "openai" : pick(name, pattern)));
      const allowed = new Set(allowedOn(path).map((s) => s.label));
      for (const hx of [false, true]) {
        const res = await admin.get(path, { hx });
        const body = await res.text();
        expect({ path, hx, status: res.status < 500 }).toEqual({ path, hx, status: true });
        for (const label of leaks(body)) if (!allowed.has(label)) findings.push(`GET ${path}${hx ? " (htmx)" : ""}: ${label}`);
      }
    }
    expect(findings).toEqual([]);
  }, SLOW);

  test("the license page shows its own key and no other secret; the outbox shows a delivery mail's key", async () => {
    const page = await (await admin.get(`/admin/licenses/${ids.license}`)).text();
    expect(leaks(page)).toEqual(["license key #1"]);
    // The Paddle purchase's delivery mail is stored sealed and opened for the admin who reads the outbox.
    const mail = await (await admin.get(`/admin/outbox/${ids.outbox}`)).text();
    expect(leaks(mail)).toEqual([`license key #${licenseKeys.length}`]);
  }, SLOW);

  test("every admin API GET route (read token) answers without a secret, except the audited /key route", async () => {
    const findings: string[] = [];
    const routes = svc.app.routes.filter((r) => r.method.toUpperCase() === "GET" && r.path.startsWith("/api/admin"));
    expect(routes.length).toBeGreaterThan(8);
    for (const route of routes) {
      const path = concretePath(route.path, (name, pattern) => (name === "host" ? "shop.example.com" : name === "provider" ? "openai" : pick(name, pattern)));
      const res = await svc.request("GET", path, { headers: bearer(readToken) });
      const body = await res.text();
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      const allowed = new Set(allowedOn(path).map((s) => s.label));
      for (const label of leaks(body)) if (!allowed.has(label)) findings.push(`GET ${path}: ${label}`);
    }
    expect(findings).toEqual([]);
    const key = await json(await svc.request("GET", `/api/admin/licenses/${ids.license}/key`, { headers: bearer(readToken) }));
    expect(key.license_key).toBe(licenseKeys[0]);
  }, SLOW);

  test("every plugin API GET answers without the license key or any provider key", async () => {
    const [proKey] = licenseKeys;
    const starterKey = licenseKeys[1];
    const findings: string[] = [];
    for (const path of ["/", "/api/health", "/api/usage", "/api/usage/current", "/api/usage/history?days=30", "/api/limits/check", "/api/keys", "/v1/models"]) {
      for (const key of [proKey, starterKey]) {
        const res = await svc.request("GET", path, { key, headers: path.startsWith("/v1/") ? bearer(key) : {} });
        expect({ path, status: res.status < 500 }).toEqual({ path, status: true });
        for (const label of leaks(await res.text())) findings.push(`GET ${path}: ${label}`);
      }
    }
    for (const path of ["/api/validate", "/api/activate"]) {
      const res = await svc.request("POST", path, { key: proKey, body: { site_url: "https://shop.example.com" } });
      for (const label of leaks(await res.text())) findings.push(`POST ${path}: ${label}`);
    }
    expect(findings).toEqual([]);
  }, SLOW);

  test("error answers to requests that carry a secret never echo it", async () => {
    const [proKey] = licenseKeys;
    const starterKey = licenseKeys[1];
    const suspended = licenseKeys[2];
    await svc.setStatus(suspended, "suspend");
    const findings: string[] = [];
    const check = async (what: string, res: Response, expected: number) => {
      const body = await res.text();
      if (res.status !== expected) findings.push(`${what}: status ${res.status}, expected ${expected}`);
      for (const label of leaks(body)) findings.push(`${what}: ${label}`);
    };
    const longKey = `${BYOK_KEY}${"x".repeat(600)}`;
    await check("suspended key on validate", await svc.request("POST", "/api/validate", { key: suspended }), 401);
    await check("malformed key on validate", await svc.request("POST", "/api/validate", { key: `${proKey}0` }), 401);
    await check("key as a Bearer token with a model not allowed", await svc.request("POST", "/v1/chat/completions", { headers: bearer(proKey), body: { model: "gpt-not-allowed", messages: HELLO } }), 400);
    await check("key as a Bearer token with malformed JSON", await svc.request("POST", "/v1/chat/completions", { headers: { ...bearer(proKey), "content-type": "application/json" }, rawBody: `{"model":` }), 400);
    await check("own key too long", await svc.request("PUT", "/api/keys/openai", { key: starterKey, body: { api_key: longKey } }), 422);
    await check("own key for an unknown provider", await svc.request("PUT", "/api/keys/nope", { key: starterKey, body: { api_key: BYOK_KEY } }), 400);
    await check("own key of the wrong type", await svc.request("PUT", "/api/keys/openai", { key: starterKey, body: { api_key: [BYOK_KEY] } }), 422);
    await check("vendor key of the wrong type", await svc.request("PUT", "/api/admin/provider-keys/openai", { body: { api_key: [VENDOR_OPENAI] }, headers: bearer(apiToken) }), 422);
    await check("a token name of the wrong type", await svc.request("POST", "/api/admin/tokens", { body: { name: [NEW_PASSWORD], scope: "read" }, headers: bearer(apiToken) }), 422);
    await check("vendor key too long", await svc.request("PUT", "/api/admin/provider-keys/openai", { body: { api_key: `${VENDOR_OPENAI}${"y".repeat(600)}` }, headers: bearer(apiToken) }), 422);
    await check("vendor key for an unknown provider", await svc.request("PUT", "/api/admin/provider-keys/nope", { body: { api_key: VENDOR_OPENAI }, headers: bearer(apiToken) }), 404);
    await check("vendor key with a read token", await svc.request("PUT", "/api/admin/provider-keys/openai", { body: { api_key: VENDOR_OPENAI }, headers: bearer(readToken) }), 403);
    // Another last hex digit: "0" alone left the token unchanged whenever it already ended in 0 (1 run in 16).
    const changed = `${apiToken.slice(0, -1)}${apiToken.endsWith("0") ? "1" : "0"}`;
    expect(changed).not.toBe(apiToken);
    await check("a token with one character changed", await svc.request("GET", "/api/admin/licenses", { headers: bearer(changed) }), 401);
    await check("a license key as an admin token", await svc.request("GET", "/api/admin/licenses", { headers: bearer(proKey) }), 401);
    await check("a wrong password with a secret-looking e-mail", await svc.request("POST", "/admin/login", { rawBody: new URLSearchParams({ email: "secrets.admin@example.com", password: SECOND_ADMIN_PASSWORD }).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } }), 401);
    await check("a wrong current password", await admin.post("/admin/account/password", { current_password: SECOND_ADMIN_PASSWORD, new_password: ADMIN_PASSWORD }), 422);
    await check("a new admin whose e-mail exists", await admin.post("/admin/account/admins", { email: "second.admin@example.com", name: "x", password: NEW_PASSWORD }), 422);
    await check("a vendor key posted to an unknown provider page", await admin.post("/admin/providers/nope/key", { api_key: VENDOR_ANTHROPIC }), 404);
    await check("a vendor key without CSRF", await admin.post("/admin/providers/openai/key", { api_key: VENDOR_ANTHROPIC }, { csrf: false }), 403);
    const generic = JSON.stringify({ type: "payment.failed", metadata: { license_key: proKey } });
    await check("the generic hook with a bad signature", await svc.request("POST", "/api/webhook/payment", { rawBody: generic, headers: { "content-type": "application/json", "x-webhook-signature": hmacHex("wrong", generic) } }), 401);
    const unknown = JSON.stringify({ type: "payment.failed", metadata: { license_key: "CHA-00000000-00000000-00000000-00000000" } });
    await check("the generic hook for an unknown key", await svc.request("POST", "/api/webhook/payment", { rawBody: unknown, headers: { "content-type": "application/json", "x-webhook-signature": hmacHex(GENERIC_SECRET, unknown) } }), 404);
    const paddleRaw = JSON.stringify({ event_id: "evt_bad", event_type: "customer.created", data: {} });
    await check("Paddle with a bad signature", await svc.request("POST", "/api/webhooks/paddle", { rawBody: paddleRaw, headers: { "content-type": "application/json", "paddle-signature": `ts=1;h1=${hmacHex("wrong", paddleRaw)}` } }), 401);
    // The provider refuses the customer's key and echoes it in its error text: the proxy passes on neither.
    up.script({ status: 401, errorBody: { error: { message: `Incorrect API key provided: ${BYOK_KEY}`, type: "invalid_request_error", code: "invalid_api_key" } } });
    await check("a provider error echoing the customer's key", await svc.request("POST", "/api/chat", { key: starterKey, body: { messages: HELLO } }), 502);
    up.script({ status: 401, errorBody: `Incorrect API key provided: ${VENDOR_OPENAI}` });
    await check("a provider error echoing the vendor's key", await svc.request("POST", "/v1/chat/completions", { headers: bearer(proKey), body: { model: "gpt-4o-mini", messages: HELLO } }), 502);
    up.script({ status: 401, errorBody: `Incorrect API key provided: ${VENDOR_OPENAI}` });
    await check("a connection test the provider refuses with the key in its text", await admin.post("/admin/providers/openai/test", {}), 200);
    expect(findings).toEqual([]);
  }, SLOW);
});

describe("sealed mail bodies", () => {
  test("the SMTP sender opens a sealed delivery mail and sends the full key; an outbox without the keyring refuses to", async () => {
    const received: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          received.push(Buffer.concat(chunks).toString("utf8").replace(/=\r?\n/g, ""));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
    const port = (smtp as unknown as { server: { address(): AddressInfo } }).server.address().port;
    const sealing = new DbOutbox(svc.services.db, { smtpConfigured: true, keyring: svc.services.keyring });
    const text = `Hello,\nyour key is ${licenseKeys[0]}\n`;
    expect(await sealing.enqueue({ dedupeKey: "secrets:sealed:1", kind: "license_delivered", to: "x@example.com", subject: "Key", text, html: `<p>${licenseKeys[0]}</p>` }, svc.clock.now())).toBe(true);
    const rows = (await svc.services.db.orm.em.getConnection().execute("select id, text_body, html_body from mail_outbox where dedupe_key = ?", ["secrets:sealed:1"])) as Array<Record<string, string>>;
    expect(leaks(`${rows[0].text_body} ${rows[0].html_body}`)).toEqual([]);
    await expect(new DbOutbox(svc.services.db).get(Number(rows[0].id))).rejects.toThrow("no keyring");
    const sender = startMailSender({ db: svc.services.db, keyring: svc.services.keyring, smtpUrl: `smtp://127.0.0.1:${port}`, mailFrom: "noreply@example.com", clock: svc.clock, intervalMs: 0 });
    try {
      expect(await sender.runOnce()).toBe(1);
    } finally {
      await sender.stop();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
    expect(received).toHaveLength(1);
    expect(received[0]).toContain(licenseKeys[0]);
  });

  test("keys rotate re-seals the mail bodies under the new key, and they still open", async () => {
    const next = new Uint8Array(Buffer.alloc(32, 9));
    const keyring = await createKeyring({ current: next, previous: [new Uint8Array(Buffer.from(TEST_ENCRYPTION_KEY, "base64"))] });
    const stores = mailBodyStores(svc.services.db);
    const sealedBodies = (await Promise.all(stores.map((s) => s.count()))).reduce((a, b) => a + b, 0);
    expect(sealedBodies).toBeGreaterThanOrEqual(4); // the Paddle delivery mail and the one above, text and HTML
    expect(await rotateSecrets({ keyring, stores })).toEqual({ scanned: sealedBodies, rotated: sealedBodies, conflicts: 0 });
    const onlyNew = await createKeyring({ current: next, previous: [] });
    const message = await new DbOutbox(svc.services.db, { keyring: onlyNew }).get(ids.outbox);
    expect(message?.text).toContain(licenseKeys[licenseKeys.length - 1]);
  });
});
