// SQL injection: classic payloads in every filter, search, sort and paging parameter of the admin API and the
// admin pages, in every text field of the create and update bodies, and in what plugins send (site URLs, the
// license key header, provider and model names, messages). Nothing answers 5xx; answers are 4xx or the right
// 2xx result (a search finds exactly the rows that contain the payload as text); unknown sort columns are
// refused; afterwards every table still exists and no row went missing. Runs on SQLite and MariaDB alike.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { withoutNul } from "../../src/adapters/db/bun_sqlite_dialect.ts";
import { MARIADB_SESSION_SETUP, ormOptions } from "../../src/adapters/db/orm.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";
import { envFor, HELLO } from "../support/chat.ts";
import { TEST_DIALECT } from "../support/db.ts";
import { rowCounts, tableNames } from "../support/db_dump.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const SLOW = 240_000;
const LONG = "x".repeat(5000);
const LITERAL = "' OR '1'='1";

/** Classic injection strings, wildcards, escapes, NUL, a very long string and unicode. */
const PAYLOADS = [
  LITERAL,
  '"; DROP TABLE licenses; --',
  "%' --",
  "\\",
  "\\'; DROP TABLE customers; --",
  "1 UNION SELECT id, password_hash, email FROM admin_users --",
  "') OR 1=1 --",
  "1; DELETE FROM customers",
  "%",
  "_",
  "`licenses`",
  "a\u0000b",
  "\u0000",
  LONG,
  "ünïcødé 漢字 🔑 \u202egnp.exe",
];

/** Payloads a header value can carry (printable ASCII, not too long). */
const HEADER_PAYLOADS = PAYLOADS.filter((p) => /^[\x20-\x7e]*$/.test(p) && p.length < 1000);

/** Payloads whose search results are compared row for row (collation-neutral: plain ASCII, no NUL). */
const ASCII_PAYLOADS = PAYLOADS.filter((p) => /^[\x20-\x7e]+$/.test(p));

let up: FakeUpstream;
let svc: TestService;
let admin: AdminSessionClient;
let writeToken = "";
let licenseKey = "";
let licenseId = 0;
let customerId = 0;
let tablesBefore: string[] = [];
let countsBefore: Record<string, number> = {};
let ipCounter = 0;

/** A fresh client address per plugin call, so the invalid-key throttle never answers for the payload. */
function nextIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 8) & 255}.${ipCounter & 255}.7`;
}

function q(value: string): string {
  return encodeURIComponent(value);
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return svc.request(method, path, { body, headers: { authorization: `Bearer ${writeToken}` } });
}

/** Collects answers that are 5xx or have a status outside `allowed`. */
class Problems {
  readonly list: string[] = [];
  async expect(what: string, res: Response, allowed: number[]): Promise<string> {
    const body = await res.text();
    if (res.status >= 500 || !allowed.includes(res.status)) this.list.push(`${what} → ${res.status} ${body.slice(0, 160)}`);
    return body;
  }
}

function label(payload: string): string {
  return JSON.stringify(payload.length > 40 ? `${payload.slice(0, 20)}…(${payload.length})` : payload);
}

/** Every customer through the API (a few pages at most). */
async function allCustomers(): Promise<Array<{ id: number; email: string; name: string }>> {
  const out: Array<{ id: number; email: string; name: string }> = [];
  for (let page = 1; ; page++) {
    const res = await (await api("GET", `/api/admin/customers?per_page=100&page=${page}`)).json();
    out.push(...res.items);
    if (out.length >= res.total) return out;
  }
}

/** Every license summary through the API. */
async function allLicenses(): Promise<Array<{ id: number; key_prefix: string; customer_email: string | null }>> {
  const out: Array<{ id: number; key_prefix: string; customer_email: string | null }> = [];
  for (let page = 1; ; page++) {
    const res = await (await api("GET", `/api/admin/licenses?per_page=100&page=${page}`)).json();
    out.push(...res.items);
    if (out.length >= res.total) return out;
  }
}

beforeAll(async () => {
  up = await startFakeUpstream();
  svc = await startTestService(envFor(up));
  admin = await signedInAdmin(svc);
  const tokenPage = await (await admin.post("/admin/account/tokens", { name: "injection", scope: "write" })).text();
  writeToken = /chtl_[0-9a-f]{40}/.exec(tokenPage)![0];
  // The agency plan without windows, so the many chat calls below are never rate limited.
  expect((await api("PATCH", "/api/admin/plans/3", { limits: { monthly_requests: 0, requests_per_minute: 0, requests_per_hour: 0, monthly_budget_eur: 0 } })).status).toBe(200);
  const issued = await svc.issue({ email: "alice@example.com", plan: "agency" });
  licenseKey = issued.key;
  licenseId = issued.licenseId;
  customerId = issued.customerId;
  await svc.issue({ email: "bob_smith@example.com", plan: "pro" });
  await svc.issue({ email: "carol.100%@example.com", plan: "starter" });
  // A customer whose name is itself an injection string: a search for it must find it and only it.
  expect((await api("POST", "/api/admin/customers", { email: "literal@example.com", name: LITERAL })).status).toBe(201);
  expect((await svc.request("POST", "/api/chat", { key: licenseKey, body: { messages: HELLO } })).status).toBe(200);
  await svc.services.usageRecorder.flush();
  tablesBefore = await tableNames(svc.services.db);
  countsBefore = await rowCounts(svc.services.db);
  expect(tablesBefore).toContain("licenses");
  expect(tablesBefore).toContain("customers");
}, SLOW);

afterAll(async () => {
  await svc?.close();
  await up?.stop();
});

describe("filters, searches, sorting and paging", () => {
  test("admin API searches find exactly the rows that contain the payload as text", async () => {
    const problems = new Problems();
    const customers = await allCustomers();
    const licenses = await allLicenses();
    for (const payload of PAYLOADS) {
      const tooLong = payload.trim().length > 200;
      const c = await api("GET", `/api/admin/customers?q=${q(payload)}&per_page=100`);
      const cBody = await problems.expect(`customers q=${label(payload)}`, c, tooLong ? [422] : [200]);
      const l = await api("GET", `/api/admin/licenses?q=${q(payload)}&per_page=100`);
      const lBody = await problems.expect(`licenses q=${label(payload)}`, l, tooLong ? [422] : [200]);
      if (tooLong || !ASCII_PAYLOADS.includes(payload)) continue;
      const needle = payload.trim().toLowerCase();
      const wantCustomers = customers.filter((x) => x.email.toLowerCase().includes(needle) || x.name.toLowerCase().includes(needle)).map((x) => x.id).sort();
      const gotCustomers = (JSON.parse(cBody).items as Array<{ id: number }>).map((x) => x.id).sort();
      expect({ payload, customers: gotCustomers }).toEqual({ payload, customers: wantCustomers });
      const wantLicenses = licenses.filter((x) => x.key_prefix.toLowerCase().includes(needle) || (x.customer_email ?? "").includes(needle)).map((x) => x.id).sort();
      const gotLicenses = (JSON.parse(lBody).items as Array<{ id: number }>).map((x) => x.id).sort();
      expect({ payload, licenses: gotLicenses }).toEqual({ payload, licenses: wantLicenses });
    }
    expect(problems.list).toEqual([]);
    // The injection string as a customer's name is found as text, and matches nothing else.
    const literal = await (await api("GET", `/api/admin/customers?q=${q(LITERAL)}`)).json();
    expect(literal.items.map((x: { email: string }) => x.email)).toEqual(["literal@example.com"]);
    // "%" and "_" are not wildcards.
    expect((await (await api("GET", `/api/admin/customers?q=${q("%")}`)).json()).items.map((x: { email: string }) => x.email)).toEqual(["carol.100%@example.com"]);
    expect((await (await api("GET", `/api/admin/customers?q=${q("_")}`)).json()).items.map((x: { email: string }) => x.email)).toEqual(["bob_smith@example.com"]);
  }, SLOW);

  test("every other admin API filter, sort, order and page parameter answers 4xx or the right result, never 5xx", async () => {
    const problems = new Problems();
    const audit = (await (await api("GET", "/api/admin/audit?per_page=100")).json()).items as Array<{ actor: { id: string | null; label: string | null } }>;
    for (const payload of PAYLOADS) {
      const p = q(payload);
      const short = payload.length <= 32;
      for (const list of ["customers", "licenses", "tokens"]) {
        await problems.expect(`${list} sort=${label(payload)}`, await api("GET", `/api/admin/${list}?sort=${p}`), [422]);
        await problems.expect(`${list} order=${label(payload)}`, await api("GET", `/api/admin/${list}?order=${p}`), [422]);
      }
      for (const list of ["customers", "licenses", "plans", "prices", "tokens", "provider-keys", "audit"]) {
        await problems.expect(`${list} page=${label(payload)}`, await api("GET", `/api/admin/${list}?page=${p}`), [422]);
        await problems.expect(`${list} per_page=${label(payload)}`, await api("GET", `/api/admin/${list}?per_page=${p}`), [422]);
      }
      await problems.expect(`licenses status=${label(payload)}`, await api("GET", `/api/admin/licenses?status=${p}`), [422]);
      await problems.expect(`licenses plan=${label(payload)}`, await api("GET", `/api/admin/licenses?plan=${p}`), [422]);
      await problems.expect(`tokens scope=${label(payload)}`, await api("GET", `/api/admin/tokens?scope=${p}`), [422]);
      await problems.expect(`tokens active=${label(payload)}`, await api("GET", `/api/admin/tokens?active=${p}`), [422]);
      await problems.expect(`prices provider=${label(payload)}`, await api("GET", `/api/admin/prices?provider=${p}`), [422]);
      const prices = await problems.expect(`prices model=${label(payload)}`, await api("GET", `/api/admin/prices?model=${p}`), payload.length > 100 ? [422] : [200]);
      if (payload.length <= 100) expect({ payload, total: JSON.parse(prices).total }).toEqual({ payload, total: 0 });
      for (const name of ["action", "actor", "target_type"]) {
        const max = name === "action" ? 64 : name === "actor" ? 254 : 32;
        const body = await problems.expect(`audit ${name}=${label(payload)}`, await api("GET", `/api/admin/audit?${name}=${p}`), payload.length > max ? [422] : [200]);
        if (payload.length > max || !ASCII_PAYLOADS.includes(payload)) continue;
        // action and target type match exactly (no entry has such a name); actor matches as text.
        const needle = payload.toLowerCase();
        const want = name === "actor" ? audit.filter((e) => `${e.actor.label ?? ""}`.toLowerCase().includes(needle) || `${e.actor.id ?? ""}`.toLowerCase().includes(needle)).length : 0;
        expect({ payload, name, total: JSON.parse(body).total }).toEqual({ payload, name, total: want });
      }
      for (const name of ["from", "to"]) {
        await problems.expect(`audit ${name}=${label(payload)}`, await api("GET", `/api/admin/audit?${name}=${p}`), [422]);
        for (const path of ["/api/admin/usage", `/api/admin/licenses/${licenseId}/usage`, `/api/admin/customers/${customerId}/usage`]) {
          await problems.expect(`${path} ${name}=${label(payload)}`, await api("GET", `${path}?${name}=${p}`), [422]);
        }
      }
      for (const path of ["/api/admin/usage", `/api/admin/licenses/${licenseId}/usage`, `/api/admin/customers/${customerId}/usage`]) {
        await problems.expect(`${path} group=${label(payload)}`, await api("GET", `${path}?group=${p}`), [422]);
        const body = await problems.expect(`${path} provider=${label(payload)}`, await api("GET", `${path}?provider=${p}`), short ? [200] : [422]);
        if (short && payload.trim() !== "") expect({ payload, path, requests: JSON.parse(body).totals.requests }).toEqual({ payload, path, requests: 0 });
      }
      // Path parameters.
      for (const path of [`/api/admin/customers/${p}`, `/api/admin/licenses/${p}`, `/api/admin/plans/${p}`, `/api/admin/licenses/${p}/key`, `/api/admin/customers/${p}/usage`]) {
        await problems.expect(`GET ${label(path)}`, await api("GET", path), [404, 422]);
      }
      await problems.expect(`provider-keys/${label(payload)}`, await api("DELETE", `/api/admin/provider-keys/${p}`), [404, 422]);
      await problems.expect(`release site ${label(payload)}`, await api("DELETE", `/api/admin/licenses/${licenseId}/sites/${p}`), [404, 422]);
    }
    expect(problems.list).toEqual([]);
  }, SLOW);

  test("admin pages' search and filter forms answer 200 or 422 and list only matching rows; unknown sort values are ignored", async () => {
    const problems = new Problems();
    const customers = await allCustomers();
    for (const payload of PAYLOADS) {
      const p = q(payload);
      const customersPage = await problems.expect(`/admin/customers?q=${label(payload)}`, await admin.get(`/admin/customers?q=${p}`, { hx: true }), [200]);
      if (ASCII_PAYLOADS.includes(payload)) {
        const needle = payload.trim().slice(0, 200).toLowerCase();
        const want = customers.filter((x) => x.email.toLowerCase().includes(needle) || x.name.toLowerCase().includes(needle)).length;
        expect({ payload: label(payload), shown: Number(/(\d+) customer\(s\)/.exec(customersPage)?.[1]) }).toEqual({ payload: label(payload), shown: want });
      }
      await problems.expect(`/admin/licenses?q&status&plan&page=${label(payload)}`, await admin.get(`/admin/licenses?q=${p}&status=${p}&plan=${p}&page=${p}`, { hx: true }), [200]);
      const filtered = await problems.expect(`/admin/licenses?status&plan=${label(payload)}`, await admin.get(`/admin/licenses?status=${p}&plan=${p}`, { hx: true }), [200]);
      // An unknown status or plan is no filter at all: every license is listed.
      expect({ payload: label(payload), shown: Number(/(\d+) license\(s\)/.exec(filtered)?.[1]) }).toEqual({ payload: label(payload), shown: 3 });
      for (const name of ["from", "to", "group", "top"]) {
        await problems.expect(`/admin/analytics?${name}=${label(payload)}`, await admin.get(`/admin/analytics?${name}=${p}`), [200, 422]);
        await problems.expect(`/admin/analytics.csv?${name}=${label(payload)}`, await admin.get(`/admin/analytics.csv?${name}=${p}`), [200, 422]);
      }
      for (const name of ["action", "actor", "target", "from", "to", "page"]) {
        await problems.expect(`/admin/audit?${name}=${label(payload)}`, await admin.get(`/admin/audit?${name}=${p}`, { hx: true }), [200, 422]);
      }
      for (const path of [
        `/admin/outbox?status=${p}&page=${p}`,
        `/admin/payments?page=${p}`,
        `/admin/webhooks?done=${p}`,
        `/admin/plans?updated=${p}`,
        `/admin/providers?done=${p}`,
        `/admin/account?revoked=${p}`,
        `/admin/customers?done=${p}&page=${p}`,
        `/admin/licenses/new?email=${p}`,
        `/admin/customers/${p}`,
        `/admin/licenses/${p}`,
        `/admin/plans/${p}`,
        `/admin/webhooks/${p}`,
        `/admin/outbox/${p}`,
      ]) {
        await problems.expect(`GET ${label(path)}`, await admin.get(path), [200, 404]);
      }
      const plain = await (await admin.get("/admin/customers", { hx: true })).text();
      const sorted = await problems.expect(`/admin/customers?sort=${label(payload)}`, await admin.get(`/admin/customers?sort=${p}&order=${p}`, { hx: true }), [200]);
      expect(sorted).toBe(plain);
    }
    expect(problems.list).toEqual([]);
  }, SLOW);

  test("after all those probes every table still exists and no table gained or lost a row", async () => {
    expect(await tableNames(svc.services.db)).toEqual(tablesBefore);
    expect(await rowCounts(svc.services.db)).toEqual(countsBefore);
  });
});

describe("plugin API input", () => {
  test("site URLs, the license key header, providers, models and usage filters answer 4xx, never 5xx", async () => {
    const problems = new Problems();
    const before = await rowCounts(svc.services.db);
    for (const payload of PAYLOADS) {
      const p = q(payload);
      for (const path of ["/api/validate", "/api/activate", "/api/deactivate"]) {
        await problems.expect(`${path} site_url=${label(payload)}`, await svc.request("POST", path, { key: licenseKey, body: { site_url: payload }, ip: nextIp() }), path === "/api/validate" ? [200, 403, 422] : [403, 404, 422]);
      }
      await problems.expect(`chat model=${label(payload)}`, await svc.request("POST", "/api/chat", { key: licenseKey, body: { messages: HELLO, model: payload }, ip: nextIp() }), [400, 422]);
      await problems.expect(`chat provider=${label(payload)}`, await svc.request("POST", "/api/chat", { key: licenseKey, body: { messages: HELLO, api_provider: payload }, ip: nextIp() }), [400, 422]);
      await problems.expect(`chat role=${label(payload)}`, await svc.request("POST", "/api/chat", { key: licenseKey, body: { messages: [{ role: payload, content: "hi" }] }, ip: nextIp() }), [400, 422]);
      await problems.expect(`v1 model=${label(payload)}`, await svc.request("POST", "/v1/chat/completions", { headers: { authorization: `Bearer ${licenseKey}` }, body: { model: payload, messages: HELLO }, ip: nextIp() }), [400, 404, 422]);
      await problems.expect(`history days=${label(payload)}`, await svc.request("GET", `/api/usage/history?days=${p}`, { key: licenseKey, ip: nextIp() }), [400, 422]);
      await problems.expect(`history provider=${label(payload)}`, await svc.request("GET", `/api/usage/history?provider=${p}`, { key: licenseKey, ip: nextIp() }), [200, 400, 422]);
      await problems.expect(`keys/${label(payload)}`, await svc.request("PUT", `/api/keys/${p}`, { key: licenseKey, body: { api_key: "sk-test-0000" }, ip: nextIp() }), [400, 403, 404, 422]);
      await problems.expect(`keys/${label(payload)} delete`, await svc.request("DELETE", `/api/keys/${p}`, { key: licenseKey, ip: nextIp() }), [400, 404, 422]);
    }
    for (const payload of HEADER_PAYLOADS) {
      for (const path of ["/api/validate", "/api/usage"]) {
        await problems.expect(`${path} X-License-Key=${label(payload)}`, await svc.request(path === "/api/validate" ? "POST" : "GET", path, { key: payload, ip: nextIp() }), [401]);
      }
      await problems.expect(`v1 Bearer ${label(payload)}`, await svc.request("POST", "/v1/chat/completions", { headers: { authorization: `Bearer ${payload}` }, body: { messages: HELLO }, ip: nextIp() }), [401]);
    }
    expect(problems.list).toEqual([]);
    // Refused plugin calls wrote nothing but throttle counters for the unknown keys.
    const after = await rowCounts(svc.services.db);
    expect({ ...after, throttle_buckets: 0 }).toEqual({ ...before, throttle_buckets: 0 });
  }, SLOW);

  test("messages carrying payloads are forwarded as text and answered 200", async () => {
    const problems = new Problems();
    up.reset();
    for (const payload of PAYLOADS) {
      await problems.expect(`chat content=${label(payload)}`, await svc.request("POST", "/api/chat", { key: licenseKey, body: { messages: [{ role: "user", content: payload }] }, ip: nextIp() }), [200]);
    }
    expect(problems.list).toEqual([]);
    const forwarded = up.requests.map((r) => r.body?.messages?.[0]?.content);
    expect(forwarded).toEqual(PAYLOADS);
  }, SLOW);
});

describe("create and update bodies", () => {
  test("customer fields store payloads as text (or refuse them with 4xx), through the admin API, the pages and the old dashboard routes", async () => {
    const problems = new Problems();
    let n = 0;
    for (const payload of PAYLOADS) {
      n += 1;
      const email = `inj${n}@example.com`;
      const res = await api("POST", "/api/admin/customers", { email, name: payload, company: payload, notes: payload });
      const body = await problems.expect(`create customer ${label(payload)}`, res, payload.length > 200 ? [422] : [201]);
      if (res.status === 201) {
        const created = JSON.parse(body);
        const shown = await (await api("GET", `/api/admin/customers/${created.id}`)).json();
        expect({ payload: label(payload), name: shown.name, company: shown.company, notes: shown.notes }).toEqual({
          payload: label(payload),
          name: payload.trim() || email.split("@")[0],
          company: payload.trim() || null,
          notes: payload.trim() || null,
        });
        await problems.expect(`patch customer ${label(payload)}`, await api("PATCH", `/api/admin/customers/${created.id}`, { notes: `${payload}!` }), [200]);
      }
      await problems.expect(`create customer email ${label(payload)}`, await api("POST", "/api/admin/customers", { email: payload }), [409, 422]);
      await problems.expect(`create customer email ${label(payload)}@`, await api("POST", "/api/admin/customers", { email: `${payload}@example.com` }), [201, 409, 422]);
      await problems.expect(`page create customer ${label(payload)}`, await admin.post("/admin/customers", { email: `page${n}@example.com`, name: payload, company: payload.slice(0, 200), notes: payload }), [303, 422]);
      await problems.expect(`page edit customer ${label(payload)}`, await admin.post(`/admin/customers/${customerId}`, { email: "alice@example.com", name: payload, company: "", notes: payload }), [303, 422]);
      await problems.expect(`compat create customer ${label(payload)}`, await admin.json("POST", "/api/customer", { email: `compat${n}@example.com`, name: payload, notes: payload }), [201, 422]);
      await problems.expect(`compat update customer ${label(payload)}`, await admin.json("PUT", `/api/customer/${customerId}`, { company: payload }), [200, 422]);
      await problems.expect(`compat get customer ${label(payload)}`, await admin.json("GET", `/api/customer/${q(payload)}`), [404]);
    }
    expect(problems.list).toEqual([]);
  }, SLOW);

  test("license, plan, price, token and webhook bodies store payloads as text or refuse them with 4xx", async () => {
    const problems = new Problems();
    let n = 0;
    for (const payload of PAYLOADS) {
      n += 1;
      await problems.expect(`issue plan=${label(payload)}`, await api("POST", "/api/admin/licenses", { email: `lic${n}@example.com`, plan: payload }), [422]);
      await problems.expect(`issue domain=${label(payload)}`, await api("POST", "/api/admin/licenses", { email: `lic${n}@example.com`, plan: "pro", domain: payload }), [201, 422]);
      const withMeta = await api("POST", "/api/admin/licenses", { email: `meta${n}@example.com`, plan: "pro", metadata: { [payload.slice(0, 100)]: payload } });
      const metaBody = await problems.expect(`issue metadata ${label(payload)}`, withMeta, [201]);
      if (withMeta.status === 201) {
        const shown = await (await api("GET", `/api/admin/licenses/${JSON.parse(metaBody).license.id}`)).json();
        expect({ payload: label(payload), metadata: shown.metadata }).toEqual({ payload: label(payload), metadata: { [payload.slice(0, 100)]: payload } });
      }
      await problems.expect(`plan change ${label(payload)}`, await api("POST", `/api/admin/licenses/${licenseId}/plan`, { plan: payload }), [404, 422]);
      await problems.expect(`extend ${label(payload)}`, await api("POST", `/api/admin/licenses/${licenseId}/extend`, { months: payload }), [422]);
      await problems.expect(`compat create_license plan=${label(payload)}`, await admin.json("POST", "/api/create_license", { email: `cl${n}@example.com`, plan: payload, domain: payload }), [422]);
      await problems.expect(`page new license ${label(payload)}`, await admin.post("/admin/licenses", { email: `pl${n}@example.com`, plan: payload, term: payload, domain: payload }), [422]);
      await problems.expect(`page plan change ${label(payload)}`, await admin.post(`/admin/licenses/${licenseId}/plan`, { plan: payload }), [422]);
      await problems.expect(`page release ${label(payload)}`, await admin.post(`/admin/licenses/${licenseId}/sites/release`, { host: payload }), [200, 422]);
      await problems.expect(`page status ${label(payload)}`, await admin.post(`/admin/licenses/${licenseId}/status`, { action: payload }), [422]);
      await problems.expect(`plan display_name ${label(payload)}`, await api("PATCH", "/api/admin/plans/2", { display_name: payload }), [200, 422]);
      await problems.expect(`plan features ${label(payload)}`, await api("PATCH", "/api/admin/plans/2", { features: [payload] }), [200, 422]);
      await problems.expect(`plan models ${label(payload)}`, await api("PATCH", "/api/admin/plans/2", { allowed_models: { anthropic: [payload] }, default_models: { anthropic: payload } }), [200, 422]);
      await problems.expect(`plan provider ${label(payload)}`, await api("PATCH", "/api/admin/plans/2", { default_provider: payload }), [422]);
      await problems.expect(`price model ${label(payload)}`, await api("POST", "/api/admin/prices", { provider: "openai", model: payload, input_eur_per_mtok: 1, output_eur_per_mtok: 2, effective_from: `2030-01-${String((n % 28) + 1).padStart(2, "0")}` }), [201, 409, 422]);
      await problems.expect(`price effective_from ${label(payload)}`, await api("POST", "/api/admin/prices", { provider: "openai", model: "gpt-4o-mini", input_eur_per_mtok: 1, output_eur_per_mtok: 2, effective_from: payload }), [422]);
      await problems.expect(`token name ${label(payload)}`, await api("POST", "/api/admin/tokens", { name: payload, scope: "read" }), [201, 422]);
      await problems.expect(`token scope ${label(payload)}`, await api("POST", "/api/admin/tokens", { name: "x", scope: payload }), [422]);
      await problems.expect(`page token ${label(payload)}`, await admin.post("/admin/account/tokens", { name: payload, scope: payload }), [422]);
      await problems.expect(`page admin ${label(payload)}`, await admin.post("/admin/account/admins", { email: payload, name: payload, password: payload }), [422]);
      await problems.expect(`webhook url ${label(payload)}`, await admin.post("/admin/webhooks", { url: payload, events: ["license.created"], description: payload }), [422]);
      await problems.expect(`webhook description ${label(payload)}`, await admin.post("/admin/webhooks", { url: `https://hooks.example.com/${q(payload).slice(0, 100)}`, events: ["license.created"], description: payload }), [201, 422]);
      await problems.expect(`webhook event ${label(payload)}`, await admin.post("/admin/webhooks", { url: "https://hooks.example.com/x", events: [payload] }), [422]);
      await problems.expect(`page plan ${label(payload)}`, await admin.post("/admin/plans/2", { display_name: payload, price_eur: payload, features: payload, default_provider: payload }), [303, 422]);
      await problems.expect(`provider key ${label(payload)}`, await admin.post(`/admin/providers/${q(payload)}/key`, { api_key: payload }), [404]);
      await problems.expect(`csv import ${label(payload)}`, await admin.post("/admin/bulk/import", { csv: `email,plan,months,lifetime,domain\n${payload},${payload},${payload},${payload},${payload}\n`, dry_run: "1" }), [422]);
    }
    expect(problems.list).toEqual([]);
  }, SLOW);

  test("afterwards every table still exists, nothing was deleted, and a search for the payloads finds only them", async () => {
    expect(await tableNames(svc.services.db)).toEqual(tablesBefore);
    const counts = await rowCounts(svc.services.db);
    for (const table of ["customers", "licenses", "plans", "admin_users", "admin_api_tokens", "model_prices", "webhook_endpoints", "usage_events", "audit_log"]) {
      expect({ table, rows: counts[table] > 0 }).toEqual({ table, rows: true });
    }
    expect(counts.plans).toBe(4);
    // The seeded customers and their licenses are all still there and unchanged in number.
    const emails = (await allCustomers()).map((c) => c.email);
    for (const email of ["alice@example.com", "bob_smith@example.com", "carol.100%@example.com", "literal@example.com"]) expect(emails).toContain(email);
    const literal = await (await api("GET", `/api/admin/customers?q=${q(LITERAL)}&per_page=100`)).json();
    expect(literal.total).toBeGreaterThan(0);
    expect(literal.total).toBeLessThan(emails.length);
    for (const c of literal.items as Array<{ name: string; email: string }>) expect(`${c.name} ${c.email}`.toLowerCase()).toContain(LITERAL.toLowerCase());
    // The license key still authenticates: the licenses table and its digest index survived.
    expect((await svc.request("POST", "/api/validate", { key: licenseKey, ip: nextIp() })).status).toBe(200);
  });
});

describe("the literals the ORM inlines into SQL", () => {
  // The ORM writes values into the SQL text as quoted literals (on both dialects), so what makes a literal
  // end early is an injection or a crash: a NUL byte on SQLite, backslash escapes read literally on MariaDB.
  test("a session cannot misread them: NUL is spelled out on SQLite, NO_BACKSLASH_ESCAPES is switched off on MariaDB", async () => {
    if (TEST_DIALECT === "sqlite") {
      const db = new Database(":memory:");
      const raw = "select 'a\u0000b' as v";
      expect(() => db.prepare(raw).all()).toThrow(); // the tokenizer stops at NUL, mid-literal
      expect((db.prepare(withoutNul(raw)).all() as Array<{ v: string }>)[0].v).toBe("a\u0000b");
      db.close();
      return;
    }
    const target = svc.config.database as { host: string; port: number; user: string; password: string; database: string };
    const auth = target.password ? `${encodeURIComponent(target.user)}:${encodeURIComponent(target.password)}` : encodeURIComponent(target.user);
    const sql = new SQL(`mysql://${auth}@${target.host}:${target.port}/${target.database}`, { max: 1 });
    try {
      await sql.unsafe("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION'");
      // Under that mode a backslash-escaped quote ends the literal: the classic injection works.
      const broken = (await sql.unsafe("select count(*) as n from customers where email = 'x\\' or 1=1 -- '")) as Array<{ n: unknown }>;
      expect(Number(broken[0].n)).toBeGreaterThan(0);
      await sql.unsafe(MARIADB_SESSION_SETUP);
      const [mode] = (await sql.unsafe("select @@SESSION.sql_mode as m")) as Array<{ m: string }>;
      expect(mode.m.split(",")).toEqual(["STRICT_TRANS_TABLES", "NO_ENGINE_SUBSTITUTION"]);
      const safe = (await sql.unsafe("select count(*) as n from customers where email = 'x\\' or 1=1 -- '")) as Array<{ n: unknown }>;
      expect(Number(safe[0].n)).toBe(0);
    } finally {
      await sql.close();
    }
    // The ORM runs that statement on every connection it opens.
    const ran: string[] = [];
    const options = (await ormOptions(svc.config.database as never)) as { onCreateConnection?: (c: unknown) => Promise<void> };
    await options.onCreateConnection?.({ executeQuery: async (q: { sql: string }) => void ran.push(q.sql) });
    expect(ran).toEqual([MARIADB_SESSION_SETUP]);
    const [session] = (await svc.services.db.orm.em.getConnection().execute("select @@SESSION.sql_mode as m")) as Array<{ m: string }>;
    expect(session.m.split(",")).not.toContain("NO_BACKSLASH_ESCAPES");
  });
});
