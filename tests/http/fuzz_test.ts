// Fuzzing the HTTP surface: every route the router knows (public, plugin, admin pages, admin API), fed
// generated malformed, oversized, wrongly typed and hostile bodies, headers, path parameters and query
// strings, with valid credentials most of the time so the handlers themselves are reached. A client's
// mistake never gets a 5xx, every answer comes within a bounded time, JSON routes answer the contract's
// error shape, nothing pollutes Object.prototype, and the service stays healthy afterwards.
// FUZZ_RUNS (cases per route) and FUZZ_SEED make a run longer or reproducible.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { requiresAdmin } from "../../src/app/http/admin/admin_guard.ts";
import { isAdminApiPath } from "../../src/app/http/admin_api_guard.ts";
import { MAX_BODY_BYTES, MAX_JSON_DEPTH, nestedDeeperThan } from "../../src/app/http/app.ts";
import { requiresLicense } from "../../src/app/http/license_guard.ts";
import { createApiToken } from "../../src/domain/admin/mod.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { registerSecret, startTestService, type TestService } from "../support/app.ts";
import { envFor } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 24);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** Longest any single answer may take (chat calls included: the fake upstream answers at once). */
const ANSWER_WITHIN_MS = 2000;
const PADDLE_SECRET = "pdl_ntfset_fuzz_secret_0123456789abcdef";
const PAYMENT_SECRET = "fuzz-payment-webhook-secret-0123456789";
const METRICS_TOKEN = "fuzz-metrics-token-0123456789abcdef";
const OWN_ORIGIN = "http://localhost";
const POLLUTION_KEYS = ["polluted", "isAdmin", "fuzzed"];

type Family = "public" | "plugin" | "admin_page" | "admin_api";

/** One route of the router with what the fuzzer knows about its input. */
interface Route {
  method: string;
  path: string;
  family: Family;
  params: string[];
  bodyFields: string[];
  queryFields: string[];
  bodySchema?: unknown;
}

/** Credentials valid at the time a route's cases run. */
interface Creds {
  licenseKey: string;
  admin: AdminSessionClient;
  writeToken: string;
  readToken: string;
}

type Credential = "valid" | "missing" | "garbage" | "huge" | "duplicate" | "variant" | "weaker";

type BodyCase =
  | { kind: "none" }
  | { kind: "json"; value: unknown }
  | { kind: "text"; text: string }
  | { kind: "form"; pairs: Array<[string, string]>; csrf: boolean }
  | { kind: "multipart"; pairs: Array<[string, string]>; file: string | null; csrf: boolean }
  | { kind: "bytes"; bytes: number[] }
  | { kind: "oversize"; chunked: boolean };

/** One generated request against one route. */
interface Case {
  method: string | null;
  params: string[];
  query: Array<[string, string]>;
  rawQuery: string | null;
  credential: Credential;
  contentType: string | null | "auto";
  headers: Array<[string, string]>;
  body: BodyCase;
  sign: boolean;
  /** Chooses among the variants of a credential. */
  pick: number;
}

// ------------------------------------------------------------------ generators

const HOSTILE_TEXT = [
  "", " ", "\t", "null", "undefined", "NaN", "-NaN", "Infinity", "-Infinity", "-1", "0", "-0", "1e9", "1e309", "-1e309",
  "9007199254740993", "-9999999999999999999", "18446744073709551616", "0x1F", "1.5", "1,5", "true", "[]", "{}", "[object Object]",
  "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "' OR 1=1 --", "\"; DROP TABLE licenses; --",
  "<script>alert(1)</script>", "{{{x}}}", "{{> layout}}", "${7*7}", "../../etc/passwd", "..%2F..%2Fetc", "%00", "%", "%ZZ",
  "a\u0000b", "\u0000", "\uD800", "\uDFFF\uD800", "\uFFFE", "\u202Eevil", "😀".repeat(40), "é", "Ω≈ç√∫", "ｆｕｌｌ",
  "x".repeat(5000), "9999-12-31", "10000-01-01", "2026-02-30", "2026-13-01", "0000-01-01", "1969-12-31", "2026-02-29",
  "2026-03-15T12:00:00Z", "2026-03-15T25:61:61Z", "CHA-00000000-00000000-00000000-00000000", "cha-1f3a9c0b-77d2e4a1-0b9c8d7e-a1b2c3d4",
  "sk-" + "a".repeat(60), "openai", "anthropic", "deepseek", "OPENAI", "gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "pro",
  "starter", "agency", "founders", "active", "suspended", "cancelled", "expired", "asc", "desc", "day", "week", "read", "write",
  "https://shop.example.com", "http://localhost", "javascript:alert(1)", "shop.example.com", "staging.shop.com", "127.0.0.1",
  "[::1]", "a@b.c", "not-an-email", "x@" + "y".repeat(300) + ".com", "admin@example.com", "1", "2", "3", "100", "101", "1000000",
];

const FIELD_NAMES = [
  "messages", "api_provider", "provider", "model", "temperature", "max_tokens", "max_completion_tokens", "stream", "stream_options",
  "site_url", "api_key", "email", "customer_email", "name", "company", "notes", "plan", "plan_id", "duration_months", "months", "days",
  "domain", "expires_at", "lifetime", "status", "action", "scope", "password", "current_password", "new_password", "confirm",
  "url", "events", "secret", "display_name", "description", "price_eur", "monthly_requests", "requests_per_minute",
  "requests_per_hour", "monthly_budget_eur", "max_sites", "ai_included", "features", "allowed_models", "default_models",
  "default_provider", "fallback_provider", "lifetime_cap", "active", "input_eur_per_mtok", "output_eur_per_mtok",
  "cached_input_eur_per_mtok", "effective_from", "host", "csv", "dry_run", "type", "metadata", "license_key", "event_id",
  "event_type", "data", "next", "__proto__", "constructor", "prototype",
];

const QUERY_NAMES = [
  "page", "per_page", "sort", "order", "q", "status", "plan", "from", "to", "days", "provider", "model", "group", "action",
  "actor", "target", "target_type", "customer_id", "license_id", "next", "hx", "__proto__", "constructor[prototype][polluted]",
  "__proto__[isAdmin]", "a[b][c]",
];

/** Values that look right for some field, so cases also get past the first check and into deeper code. */
const PLAUSIBLE: unknown[] = [
  [{ role: "user", content: "Hello?" }],
  [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }],
  [{ role: "user", content: ["not", "a", "string"] }],
  [{ role: "tool", content: "x" }],
  [{ role: "user", content: "x".repeat(20_000) }],
  ["openai"], { openai: ["gpt-4o-mini"] }, { openai: "gpt-4o-mini" }, ["ai_included", "3_sites"], ["license.created", "nope"],
  { include_usage: "yes" }, { license_key: "CHA-00000000-00000000-00000000-00000000" }, { customer: { email: "a@b.c" } },
];

const text = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
);

const fieldName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELD_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });

const { value: jsonValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: text },
    { weight: 2, arbitrary: fc.constantFrom(0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE) },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom(...PLAUSIBLE) },
    { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(fieldName, tie("value"), { maxKeys: 4 }) },
  ),
}));

/** Nested `depth` levels deep: arrays, or objects under a field the route reads. */
function deepNesting(depth: number, field: string, asObject: boolean): string {
  const inner = asObject ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}` : `${"[".repeat(depth)}1${"]".repeat(depth)}`;
  return `{${JSON.stringify(field)}:${inner}}`;
}

const BROKEN_JSON = [
  "{", "}", "[", "{\"a\":}", "{'a':1}", "{\"a\":1,}", "nul", "NaN", "undefined", "\"unterminated", "{\"a\":1}{\"b\":2}", "\uFEFF{}",
  "null", "[]", "123", "\"text\"", "true", "-", "{\"__proto__\":{\"polluted\":1}}", "{\"constructor\":{\"prototype\":{\"polluted\":1}}}",
  "{\"__proto__\":{\"isAdmin\":true},\"email\":\"a@b.c\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\u0000\"}", "{\"a\":1e999999}",
  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"messages\":null}", "\u0000\u0000\u0000", " ".repeat(1000),
];

/** Plausible values by field name, so a case often passes validation and reaches the code behind it. */
const HINTS: Record<string, fc.Arbitrary<unknown>> = {
  email: fc.constantFrom("fuzz@example.com", "Fuzz.Two@Example.COM", "new-customer@example.org"),
  customer_email: fc.constantFrom("fuzz@example.com", "other@example.org"),
  name: fc.constantFrom("Fuzz Name", "Ünïcödé Ltd", "x"),
  company: fc.constantFrom("Fuzz GmbH", ""),
  notes: fc.constantFrom("a note", "<b>bold</b>"),
  plan: fc.constantFrom("pro", "agency", "starter", "founders", "PRO"),
  plan_id: fc.constantFrom(1, 2, "3", "pro"),
  months: fc.constantFrom(1, 12, "3", "24", "lifetime"),
  duration_months: fc.constantFrom(1, 12, "6", 0),
  term: fc.constantFrom("1", "12", "lifetime"),
  lifetime: fc.boolean(),
  domain: fc.constantFrom("shop.example.com", "https://www.shop.example.com/path", null),
  site_url: fc.constantFrom("https://shop.example.com", "http://localhost:8080", "staging.shop.example.com", "https://a.example", "https://b.example"),
  host: fc.constantFrom("shop.example.com", "a.example"),
  action: fc.constantFrom("suspend", "reactivate", "cancel"),
  api_key: fc.constantFrom("sk-fuzz-0123456789abcdef0123456789", "sk-ant-fuzz-0123456789abcdef"),
  scope: fc.constantFrom("read", "write"),
  url: fc.constantFrom("https://hooks.example.com/chatello", "http://127.0.0.1:9/hook", "ftp://x"),
  events: fc.constantFrom("license.created", ["license.created", "payment.failed"], "*"),
  description: fc.constantFrom("fuzz hook", ""),
  confirm: fc.constantFrom("yes", "DELETE", "on", "openai"),
  display_name: fc.constantFrom("Pro - AI Included", "Renamed"),
  price_eur: fc.constantFrom("7.99", 7.99, "0", "-1"),
  monthly_requests: fc.constantFrom("1000", 0, "-1"),
  requests_per_minute: fc.constantFrom("10", 0),
  requests_per_hour: fc.constantFrom("200", 0),
  monthly_budget_eur: fc.constantFrom("4.00", 0),
  max_sites: fc.constantFrom("3", -1, "0"),
  max_tokens: fc.constantFrom(1, 50, 1000, "100"),
  ai_included: fc.constantFrom("on", true),
  features: fc.constantFrom("ai_included", ["ai_included", "3_sites"]),
  default_provider: fc.constantFrom("openai", "anthropic"),
  fallback_provider: fc.constantFrom("anthropic", ""),
  lifetime_cap: fc.constantFrom("500", null),
  messages: fc.constantFrom(...PLAUSIBLE.slice(0, 5)),
  api_provider: fc.constantFrom("openai", "anthropic", "deepseek"),
  provider: fc.constantFrom("openai", "anthropic", "deepseek"),
  model: fc.constantFrom("gpt-4o-mini", "claude-3-5-haiku-latest", "deepseek-chat", "anthropic/claude-3-5-haiku-latest"),
  temperature: fc.constantFrom(0, 0.7, 2),
  stream: fc.boolean(),
  stream_options: fc.constantFrom({ include_usage: true }, { include_usage: false }),
  csv: fc.constantFrom("email,plan\nfuzz-import@example.com,pro\n", "email,plan,months\nbad,nope,x\n", "=HYPERLINK(\"x\"),pro\n"),
  dry_run: fc.constantFrom("1", ""),
  next: fc.constantFrom("/admin", "//evil.example", "https://evil.example/", "/admin/../../x"),
  input_eur_per_mtok: fc.constantFrom(0.15, 0),
  output_eur_per_mtok: fc.constantFrom(0.6, 1),
  cached_input_eur_per_mtok: fc.constantFrom(0.075),
};
const HINTED = Object.keys(HINTS);

/** A hinted value most of the time, a hostile one otherwise. */
function valueFor(name: string, asText: boolean): fc.Arbitrary<unknown> {
  const hinted = HINTS[name] ?? text;
  const plausible = asText ? hinted.map((v) => (typeof v === "string" ? v : Array.isArray(v) ? String(v[0] ?? "") : JSON.stringify(v))) : hinted;
  return fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 1, arbitrary: asText ? text : jsonValue });
}

/** Values that satisfy a route's body schema most of the time, wrongly typed or hostile otherwise. */
function fromSchema(schema: unknown, name: string, depth = 0): fc.Arbitrary<unknown> {
  const s = schema as Record<string, any> | undefined;
  let valid: fc.Arbitrary<unknown>;
  if (!s || typeof s !== "object" || depth > 4) valid = HINTS[name] ?? jsonValue;
  else if (s.const !== undefined) valid = fc.constant(s.const);
  else if (Array.isArray(s.anyOf)) valid = fc.oneof(...s.anyOf.map((part: unknown) => fromSchema(part, name, depth + 1)));
  else if (s.type === "object" && s.properties) {
    const keys = Object.keys(s.properties);
    const required = new Set<string>(s.required ?? []);
    valid = fc.record(Object.fromEntries(keys.map((k) => [k, fromSchema(s.properties[k], k, depth + 1)])), { requiredKeys: keys.filter((k) => required.has(k)) });
  } else if (s.type === "string") valid = HINTS[name] ?? (s.pattern ? fc.stringMatching(new RegExp(s.pattern)) : fc.string({ maxLength: 30 }));
  else if (s.type === "number" || s.type === "integer") valid = fc.integer({ min: Math.ceil(s.minimum ?? -5), max: Math.floor(Math.min(s.maximum ?? 1000, 1000)) });
  else if (s.type === "boolean") valid = fc.boolean();
  else if (s.type === "null") valid = fc.constant(null);
  else if (s.type === "array") valid = fc.array(fromSchema(s.items, name, depth + 1), { maxLength: 3 });
  else valid = HINTS[name] ?? jsonValue;
  return fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: jsonValue });
}

/** Valid chat bodies (a consistent provider and model), with one field at a time made hostile. */
const CHAT_TEMPLATE = fc
  .record({
    base: fc.constantFrom(
      { api_provider: "openai", model: "gpt-4o-mini" },
      { api_provider: "anthropic", model: "claude-3-5-haiku-latest" },
      { provider: "deepseek", model: "deepseek-chat" },
      { model: "anthropic/claude-3-5-haiku-latest" },
      {},
    ),
    messages: fc.constantFrom(...PLAUSIBLE.slice(0, 2)),
    stream: fc.boolean(),
    max_tokens: fc.integer({ min: 1, max: 5000 }),
    hostile: fc.option(fc.tuple(fc.constantFrom("messages", "model", "api_provider", "temperature", "max_tokens", "stream", "stream_options", "tools", "n"), jsonValue)),
  })
  .map(({ base, messages, stream, max_tokens, hostile }) => ({ ...base, messages, stream, max_tokens, ...(hostile ? { [hostile[0]]: hostile[1] } : {}) }));

/** A record of plausible fields (each present or not), as JSON values or as form text. */
function plausibleRecord(asText: boolean): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(Object.fromEntries(HINTED.map((name) => [name, valueFor(name, asText)])), { requiredKeys: [] });
}

function bodyFor(route: Route, formFirst: boolean): fc.Arbitrary<BodyCase> {
  const fields = [...new Set([...route.bodyFields, ...route.bodyFields, ...FIELD_NAMES])];
  const knownField = route.bodyFields.length > 0 ? fc.constantFrom(...route.bodyFields) : fieldName;
  const pairs = fc.array(fc.tuple(fc.oneof(knownField, fc.constantFrom(...fields), fc.constantFrom("__proto__[polluted]", "constructor[prototype][isAdmin]", "a[b][c]", "")), text), { maxLength: 8 });
  const plausiblePairs = fc
    .tuple(plausibleRecord(true), pairs)
    .map(([record, extra]) => [...Object.entries(record).map(([k, v]) => [k, String(v)] as [string, string]), ...extra.slice(0, 2)]);
  const json = fc.oneof(
    { weight: route.bodySchema ? 6 : 0, arbitrary: fromSchema(route.bodySchema, "body") },
    { weight: /\/chat(\/completions)?$/.test(route.path) ? 8 : 0, arbitrary: CHAT_TEMPLATE },
    { weight: 4, arbitrary: plausibleRecord(false) },
    { weight: 3, arbitrary: fc.dictionary(fc.oneof(knownField, fieldName), jsonValue, { maxKeys: 6 }) },
    { weight: 1, arbitrary: jsonValue },
  );
  const raw = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...BROKEN_JSON) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(50, 5000, 100_000), knownField, fc.boolean()).map(([d, f, o]) => deepNesting(d, f, o)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
    { weight: 1, arbitrary: pairs.map((p) => p.map(([k, v]) => `${k}=${v}`).join("&")) },
  );
  const formPairs = fc.oneof({ weight: 3, arbitrary: plausiblePairs }, { weight: 2, arbitrary: pairs });
  const options: Array<{ weight: number; arbitrary: fc.Arbitrary<BodyCase> }> = [
    { weight: formFirst ? 2 : 10, arbitrary: json.map((value) => ({ kind: "json", value }) as const) },
    { weight: 3, arbitrary: raw.map((t) => ({ kind: "text", text: t }) as const) },
    { weight: formFirst ? 10 : 1, arbitrary: fc.record({ pairs: formPairs, csrf: fc.boolean() }).map(({ pairs: p, csrf }) => ({ kind: "form", pairs: p, csrf: csrf || formFirst }) as const) },
    {
      weight: formFirst ? 2 : 1,
      arbitrary: fc
        .record({ pairs: formPairs, file: fc.option(fc.oneof(text, fc.constantFrom("email,plan\na@b.c,pro\n", "=cmd|' /C calc'!A0,pro", "\"unclosed,pro\n", "a,b,c\n".repeat(3000)))), csrf: fc.boolean() })
        .map(({ pairs: p, file, csrf }) => ({ kind: "multipart", pairs: p, file, csrf: csrf || formFirst }) as const),
    },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }).map((bytes) => ({ kind: "bytes", bytes }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: "none" } as const) },
  ];
  return fc.oneof(...options);
}

const CONTENT_TYPES = [
  "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json; charset=utf-16", "text/plain",
  "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=nope", "application/xml",
  "text/html", "application/octet-stream", "application/vnd.api+json", "garbage", ";;;", "application/json, text/plain",
];

function paramValue(name: string, ids: string[]): fc.Arbitrary<string> {
  const known =
    name === "provider" ? fc.constantFrom("openai", "anthropic", "deepseek", "OpenAI", "mistral")
    : name === "name" ? fc.constantFrom("htmx.min.js", "admin.css", "swagger-ui.css", "swagger-ui-bundle.js", "../package.json", "..%2F..%2Fpackage.json", ".env")
    : name === "host" ? fc.constantFrom("shop.example.com", "www.shop.example.com", "localhost", "[::1]")
    : fc.constantFrom(...ids);
  const hostile = fc.oneof(text, fc.constantFrom("0", "-1", "1.5", "1e3", "99999999999999999999", " 1", "1 ", "0x10", "01", "+1", "NaN"));
  return fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: hostile });
}

function caseFor(route: Route, ids: string[]): fc.Arbitrary<Case> {
  const formFirst = route.family === "admin_page" && !route.path.startsWith("/api/");
  const queryNames = [...new Set([...route.queryFields, ...QUERY_NAMES])];
  const queryName = route.queryFields.length > 0 ? fc.oneof(fc.constantFrom(...route.queryFields), fc.constantFrom(...queryNames)) : fc.constantFrom(...queryNames);
  const headerValue = text.map((v) => v.replace(/[^\x20-\x7e]/g, "?"));
  return fc.record({
    method: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") }),
    params: fc.tuple(...route.params.map((p) => paramValue(p, ids))).map((values) => values as string[]),
    query: fc.array(fc.tuple(queryName, text), { maxLength: 5 }),
    rawQuery: fc.option(fc.constantFrom("%", "%E0%A4%A", "a=%FF%FE", "&&&==&", "a=1&a=2&a=3", "page=1&page=2", "=", "?", "a=" + "b".repeat(8000), "%00=%00")),
    credential: fc.oneof({ weight: 9, arbitrary: fc.constant<Credential>("valid") }, { weight: 6, arbitrary: fc.constantFrom<Credential>("missing", "garbage", "huge", "duplicate", "variant", "weaker") }),
    contentType: fc.oneof({ weight: 6, arbitrary: fc.constant("auto" as const) }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
    headers: fc.array(
      fc.oneof(
        fc.tuple(fc.constant("origin"), fc.constantFrom(OWN_ORIGIN, "null", "https://evil.example", "garbage", "http://localhost:1")),
        fc.tuple(fc.constant("referer"), fc.constantFrom("http://localhost/admin", "https://evil.example/x", "::::", "")),
        fc.tuple(fc.constant("cookie"), fc.constantFrom("a=b", "=", ";;;", "chatello_admin=%", "chatello_admin=", `big=${"c".repeat(60_000)}`, Array.from({ length: 300 }, (_, i) => `k${i}=v`).join("; "))),
        fc.tuple(fc.constantFrom("x-forwarded-for", "x-real-ip", "forwarded"), fc.constantFrom("1.2.3.4", "garbage", "::1, 10.0.0.1", "999.999.999.999", "for=\"[::1]\"")),
        fc.tuple(fc.constantFrom("x-request-id", "hx-request", "hx-target", "hx-current-url", "hx-history-restore-request", "accept", "accept-language", "user-agent", "x-csrf-token", "paddle-signature", "x-webhook-signature"), headerValue),
        fc.tuple(fc.constant("content-length"), fc.constantFrom("0", "-1", "abc", "99999999999", String(MAX_BODY_BYTES + 1))),
        fc.tuple(fc.constantFrom("x-huge", "user-agent", "accept"), fc.constantFrom("h".repeat(16_000), "h".repeat(64_000))),
      ),
      { maxLength: 3 },
    ),
    body: bodyFor(route, formFirst),
    sign: fc.boolean(),
    pick: fc.nat(),
  });
}

// ------------------------------------------------------------------ sending

/** The examples every route gets on top of the random cases: the limits the contract names. */
function examplesFor(route: Route, ids: string[]): Case[] {
  const base: Case = {
    method: null,
    params: route.params.map((p) => (p === "provider" ? "openai" : p === "name" ? "htmx.min.js" : p === "host" ? "shop.example.com" : ids[0]!)),
    query: [],
    rawQuery: null,
    credential: "valid",
    contentType: "auto",
    headers: [],
    body: { kind: "none" },
    sign: true,
    pick: 0,
  };
  const out: Case[] = [
    { ...base, query: [["page", "-1"], ["per_page", "1e9"], ["sort", "unknown"], ["order", "sideways"]] },
    { ...base, query: [["from", "2026-02-30"], ["to", "9999-12-31"]] },
    { ...base, query: [["from", "0000-01-01"], ["to", "9999-12-31"]] },
    { ...base, query: [["to", "9999-12-31"]] },
    { ...base, query: [["days", "-1"], ["days", "1e9"], ["page", "0"], ["per_page", "0"]] },
    { ...base, rawQuery: "page=1&page=2&per_page=1&per_page=100&from=2026-01-01&from=x" },
    { ...base, headers: [["cookie", `big=${"c".repeat(60_000)}`], ["x-huge", "h".repeat(64_000)]] },
    { ...base, credential: "huge" },
    { ...base, credential: "duplicate" },
  ];
  if (route.method !== "GET") {
    out.push({ ...base, body: { kind: "oversize", chunked: false } });
    out.push({ ...base, body: { kind: "oversize", chunked: true } });
    out.push({ ...base, body: { kind: "text", text: deepNesting(100_000, route.bodyFields[0] ?? "a", false) } });
    out.push({ ...base, body: { kind: "json", value: Object.fromEntries([...route.bodyFields, "__proto__"].map((f) => [f, { __proto__: { polluted: 1 }, constructor: { prototype: { isAdmin: true } } }])) } });
    out.push({ ...base, body: { kind: "json", value: Object.fromEntries(route.bodyFields.map((f) => [f, [1, 2]])) } });
    out.push({ ...base, body: { kind: "form", pairs: [["__proto__[polluted]", "1"], ["constructor[prototype][isAdmin]", "1"]], csrf: true } });
  }
  return out;
}

function credentialHeaders(route: Route, c: Case, creds: Creds): Headers {
  const h = new Headers();
  const cred = c.credential;
  const huge = "A".repeat(20_000);
  if (route.family === "plugin") {
    const key = creds.licenseKey;
    if (cred === "valid") h.set("x-license-key", key);
    else if (cred === "garbage") h.set("x-license-key", "CHA-XYZ");
    else if (cred === "huge") h.set("x-license-key", `CHA-${huge}`);
    else if (cred === "duplicate") {
      h.append("x-license-key", key);
      h.append("x-license-key", key);
    } else if (cred === "variant") h.set("authorization", `Bearer ${key}`);
    else if (cred === "weaker") h.set("x-license-key", `  ${key.toLowerCase()}  `);
  } else if (route.family === "admin_api") {
    if (cred === "valid") h.set("authorization", `Bearer ${creds.writeToken}`);
    else if (cred === "garbage") h.set("authorization", "Bearer chtl_garbage");
    else if (cred === "huge") h.set("authorization", `Bearer ${huge}`);
    else if (cred === "duplicate") {
      h.append("authorization", `Bearer ${creds.writeToken}`);
      h.append("authorization", `Bearer ${creds.writeToken}`);
    } else if (cred === "variant") {
      const variants = ["Bearer", "Bearer ", "Basic YTpi", `bearer ${creds.writeToken}`, `Bearer  ${creds.writeToken}  x`, `Token ${creds.writeToken}`];
      h.set("authorization", variants[c.pick % variants.length]!);
    }
    else if (cred === "weaker") h.set("authorization", `Bearer ${creds.readToken}`);
  } else if (route.family === "admin_page") {
    const [name, value] = creds.admin.cookie.split("=") as [string, string];
    if (cred === "valid" || cred === "weaker") h.set("cookie", `${name}=${value}`);
    else if (cred === "garbage") h.set("cookie", `${name}=garbage`);
    else if (cred === "huge") h.set("cookie", `${name}=${huge}`);
    else if (cred === "duplicate") h.set("cookie", `${name}=garbage; ${name}=${value}`);
    else if (cred === "variant") h.set("cookie", `${name}=${value.toUpperCase()}`);
    // A session without the CSRF header: forms carry `_csrf` or not, by their own flag.
    if (cred !== "weaker" && cred !== "missing" && route.method !== "GET") h.set("x-csrf-token", creds.admin.csrf);
  } else if (route.path === "/metrics") {
    if (cred === "valid") h.set("authorization", `Bearer ${METRICS_TOKEN}`);
    else if (cred === "garbage" || cred === "huge") h.set("authorization", `Bearer ${cred === "huge" ? huge : "nope"}`);
  }
  return h;
}

function encodeBody(route: Route, c: Case, creds: Creds): { body: BodyInit | undefined; type: string | null; raw: string | null } {
  const b = c.body;
  const withCsrf = (pairs: Array<[string, string]>, csrf: boolean) => (csrf ? [...pairs, ["_csrf", creds.admin.csrf] as [string, string]] : pairs);
  switch (b.kind) {
    case "none":
      return { body: undefined, type: null, raw: null };
    case "json": {
      const raw = JSON.stringify(b.value) ?? "null";
      return { body: raw, type: "application/json", raw };
    }
    case "text":
      return { body: b.text, type: "application/json", raw: b.text };
    case "form": {
      const params = new URLSearchParams();
      for (const [k, v] of withCsrf(b.pairs, b.csrf)) params.append(k, v);
      const raw = params.toString();
      return { body: raw, type: "application/x-www-form-urlencoded", raw };
    }
    case "multipart": {
      const data = new FormData();
      for (const [k, v] of withCsrf(b.pairs, b.csrf)) data.append(k, v);
      if (b.file !== null) data.append("file", new Blob([b.file], { type: "text/csv" }), "import.csv");
      return { body: data, type: null, raw: null };
    }
    case "bytes":
      return { body: new Uint8Array(b.bytes), type: "application/json", raw: null };
    case "oversize": {
      const raw = JSON.stringify({ [route.bodyFields[0] ?? "pad"]: "x".repeat(MAX_BODY_BYTES) });
      if (!b.chunked) return { body: raw, type: "application/json", raw };
      const bytes = new TextEncoder().encode(raw);
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
          offset += 64 * 1024;
        },
      });
      return { body: stream, type: "application/json", raw: null };
    }
  }
}

/** Percent-encodes a path segment; a lone surrogate becomes its (invalid) UTF-8 bytes, as a raw client may send. */
function encodeSegment(value: string): string {
  return Array.from(value, (ch) => {
    const unit = ch.charCodeAt(0);
    if (ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      return [0xed, 0xa0 | ((unit >> 6) & 0x1f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join("");
    }
    return encodeURIComponent(ch);
  }).join("");
}

function urlOf(route: Route, c: Case): string {
  let i = 0;
  const path = route.path.replace(/:[A-Za-z_]+/g, () => encodeSegment(c.params[i++] ?? ""));
  const search = new URLSearchParams();
  for (const [k, v] of c.query) search.append(k, v);
  const query = [search.toString(), c.rawQuery ?? ""].filter((s) => s !== "").join("&");
  return `http://localhost${path}${query ? `?${query}` : ""}`;
}

/** A case as a request: method, path with query, headers and body. */
function requestOf(route: Route, c: Case, creds: Creds, clock: () => Date): { method: string; path: string; headers: Headers; body: BodyInit | undefined } {
  const method = c.method ?? route.method;
  const headers = credentialHeaders(route, c, creds);
  for (const [k, v] of c.headers) headers.append(k, v);
  const hasBody = method !== "GET" && method !== "HEAD";
  const { body, type, raw } = hasBody ? encodeBody(route, c, creds) : { body: undefined, type: null, raw: null };
  const contentType = c.contentType === "auto" ? type : c.contentType;
  if (contentType) headers.set("content-type", contentType);
  else if (c.contentType === null) headers.delete("content-type");
  // Half the webhook cases are signed, so hostile payloads reach the handlers behind the signature check.
  if (c.sign && raw !== null && route.path === "/api/webhooks/paddle") {
    const ts = Math.floor(clock().getTime() / 1000);
    headers.set("paddle-signature", `ts=${ts};h1=${createHmac("sha256", PADDLE_SECRET).update(`${ts}:${raw}`).digest("hex")}`);
  }
  if (c.sign && raw !== null && route.path === "/api/webhook/payment") {
    headers.set("x-webhook-signature", createHmac("sha256", PAYMENT_SECRET).update(raw).digest("hex"));
  }
  return { method, path: urlOf(route, c).slice("http://localhost".length), headers, body };
}

/** The guards' refusals: a case answered with one of these did not reach the route's handler. */
const GUARD_CODES = new Set([
  "license_missing", "license_invalid", "license_inactive", "license_expired", "too_many_invalid_keys", "token_missing",
  "token_invalid", "token_revoked", "token_read_only", "admin_session_required", "forbidden", "metrics_token_invalid",
  "metrics_token_required", "invalid_signature",
]);

const STACK_FRAME = /\bat\s+\S+\s+\([^)]*:\d+:\d+\)|\n\s+at\s+\S+:\d+:\d+/;

function isJsonRoute(path: string): boolean {
  return path === "/" || path.startsWith("/api/") || path.startsWith("/v1/") || path === "/swagger/json" || path === "/metrics";
}

/** Checks one answer; a string describes what is wrong with it. */
function problemOf(route: Route, c: Case, res: Response, text: string, ms: number): string | null {
  const method = c.method ?? route.method;
  if (res.status >= 500) return `answered ${res.status}: ${text.slice(0, 300)}`;
  if (ms > ANSWER_WITHIN_MS) return `took ${Math.round(ms)} ms`;
  if (STACK_FRAME.test(text)) return `leaked a stack trace: ${text.slice(0, 300)}`;
  if (res.status >= 400 && method !== "HEAD" && isJsonRoute(route.path)) {
    const type = res.headers.get("content-type") ?? "";
    if (!type.includes("application/json")) return `answered ${res.status} as ${type || "no content type"}, not JSON`;
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      return `answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`;
    }
    const envelope = route.path.startsWith("/v1/") ? body?.error : body;
    const message = route.path.startsWith("/v1/") ? envelope?.message : envelope?.error;
    if (typeof message !== "string" || typeof envelope?.code !== "string") return `answered ${res.status} without the contract's error shape: ${text.slice(0, 200)}`;
  }
  return null;
}

function reachedHandler(res: Response, text: string): boolean {
  if (res.status === 401) return false;
  if (res.status === 303 && (res.headers.get("location") ?? "").startsWith("/admin/login?next=")) return false;
  if (res.status === 403 && /CSRF|Cross-origin/.test(text)) return false;
  try {
    const body = JSON.parse(text);
    const code = typeof body?.code === "string" ? body.code : body?.error?.code;
    if (typeof code === "string" && GUARD_CODES.has(code)) return false;
  } catch {
    // not JSON: an HTML page or an asset
  }
  return true;
}

function describeCase(route: Route, c: Case): string {
  const body = c.body.kind === "oversize" ? "oversize" : JSON.stringify(c.body).slice(0, 300);
  return `${c.method ?? route.method} ${route.path} params=${JSON.stringify(c.params)} query=${JSON.stringify(c.query).slice(0, 200)} raw=${String(c.rawQuery).slice(0, 60)} cred=${c.credential} ct=${c.contentType} headers=${JSON.stringify(c.headers.map(([k, v]) => [k, v.slice(0, 40)]))} body=${body}`;
}

// ------------------------------------------------------------------ the suite

let up: FakeUpstream;
let svc: TestService;
let routes: Route[];
let creds: Creds;
let ipCounter = 0;
const ids: string[] = [];

function familyOf(path: string): Family {
  if (isAdminApiPath(path)) return "admin_api";
  if (requiresAdmin(path)) return "admin_page";
  if (requiresLicense(path)) return "plugin";
  return "public";
}

function propertyNames(schema: unknown): string[] {
  const s = schema as { properties?: Record<string, unknown>; anyOf?: unknown[] } | undefined;
  if (!s) return [];
  if (s.properties) return Object.keys(s.properties);
  return (s.anyOf ?? []).flatMap(propertyNames);
}

async function newToken(scope: "read" | "write"): Promise<string> {
  const s = svc.services;
  const { token } = await createApiToken({ tokens: s.tokens, random: s.random, clock: s.clock, audit: s.audit }, { name: `fuzz ${scope}`, scope, actor: CLI_ACTOR, createdBy: null });
  registerSecret(token, "admin API token");
  return token;
}

/** Makes sure every credential still works (a fuzzed case may sign out, revoke or delete what it used). */
async function freshCreds(family: Family): Promise<void> {
  if (family === "plugin") {
    svc.clock.advance(61_000); // a new minute: the rate limits admit calls again
    creds.licenseKey = (await svc.issue({ plan: "agency" })).key;
  }
  if (family === "admin_page" && (await creds.admin.get("/admin/account")).status !== 200) creds.admin = await signedInAdmin(svc);
  if (family === "admin_api") {
    const probe = (token: string) => svc.request("GET", "/api/admin/plans", { headers: { authorization: `Bearer ${token}` } });
    if ((await probe(creds.writeToken)).status !== 200) creds.writeToken = await newToken("write");
    if ((await probe(creds.readToken)).status !== 200) creds.readToken = await newToken("read");
  }
  // Ids that exist, so parameterised routes are reached with real rows as well as with nonsense.
  const conn = svc.services.db.orm.em.getConnection();
  const rows = (await conn.execute("select id from licenses union select id from customers union select id from plans union select id from admin_api_tokens union select id from webhook_endpoints union select id from mail_outbox order by 1 desc limit 8")) as Array<{ id: unknown }>;
  ids.splice(0, ids.length, ...rows.map((r) => String(r.id)), "1");
}

async function answer(route: Route, c: Case): Promise<{ res: Response; text: string; ms: number } | { timedOut: true }> {
  const { method, path, headers, body } = requestOf(route, c, creds, () => svc.clock.now());
  ipCounter += 1;
  // Each case comes from its own address, so the throttles of bad keys and sign-ins do not end the fuzzing.
  const ip = `198.18.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
  const started = performance.now();
  const work = (async () => {
    // svc.request sets the client address the app sees; bodies it cannot carry (bytes, multipart, a stream)
    // go straight to the app, from the address of the case before.
    let res: Response;
    if (body === undefined || typeof body === "string") res = await svc.request(method, path, { headers: Object.fromEntries(headers), rawBody: body, ip });
    else {
      const init: RequestInit & { duplex?: string } = { method, headers, body };
      if (body instanceof ReadableStream) init.duplex = "half";
      res = await svc.app.handle(new Request(`http://localhost${path}`, init));
    }
    const text = method === "HEAD" ? "" : await res.text();
    return { res, text, ms: performance.now() - started };
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ timedOut: true }>((resolve) => {
    timer = setTimeout(() => resolve({ timedOut: true }), ANSWER_WITHIN_MS * 2);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the family's routes through the fuzzer; answers every problem found (with its smallest case). */
async function fuzzFamily(family: Family): Promise<{ problems: string[]; unreached: string[]; cases: number }> {
  const problems: string[] = [];
  const unreached: string[] = [];
  let cases = 0;
  for (const route of routes.filter((r) => r.family === family)) {
    await freshCreds(family);
    let reached = 0;
    const statuses = new Map<number, number>();
    const result = await fc.check(
      fc.asyncProperty(caseFor(route, [...ids]), async (c) => {
        cases += 1;
        const got = await answer(route, c);
        if ("timedOut" in got) throw new Error(`no answer within ${ANSWER_WITHIN_MS * 2} ms`);
        if (reachedHandler(got.res, got.text)) reached += 1;
        statuses.set(got.res.status, (statuses.get(got.res.status) ?? 0) + 1);
        const problem = problemOf(route, c, got.res, got.text, got.ms);
        if (problem) throw new Error(problem);
      }),
      { numRuns: RUNS, seed: SEED, examples: examplesFor(route, [...ids]).map((e) => [e] as [Case]), endOnFailure: false, interruptAfterTimeLimit: 20_000 },
    );
    if (result.failed) {
      const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      problems.push(`${route.method} ${route.path}: ${error}\n    seed ${result.seed}, case ${result.counterexample ? describeCase(route, result.counterexample[0]) : "?"}`);
    }
    if (process.env.FUZZ_DEBUG) console.log(`${route.method} ${route.path}: reached ${reached}, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    // Valid credentials are the common case: a route whose handler no case reached was not really fuzzed.
    if (family !== "public" && reached === 0) unreached.push(`${route.method} ${route.path}`);
  }
  return { problems, unreached, cases };
}

beforeAll(async () => {
  up = await startFakeUpstream();
  const saved = { paddle: process.env.PADDLE_WEBHOOK_SECRET, payment: process.env.PAYMENT_WEBHOOK_SECRET };
  process.env.PADDLE_WEBHOOK_SECRET = PADDLE_SECRET;
  process.env.PAYMENT_WEBHOOK_SECRET = PAYMENT_SECRET;
  try {
    svc = await startTestService(envFor(up, { METRICS_TOKEN }));
  } finally {
    // The routes read the secrets once, when built; other test files keep their own.
    for (const [name, value] of [["PADDLE_WEBHOOK_SECRET", saved.paddle], ["PAYMENT_WEBHOOK_SECRET", saved.payment]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  registerSecret(METRICS_TOKEN, "metrics token");
  routes = svc.app.routes.map((r) => {
    const hooks = (r as { hooks?: Record<string, unknown> }).hooks ?? {};
    return {
      method: r.method.toUpperCase(),
      path: r.path,
      family: familyOf(r.path),
      params: [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!),
      bodyFields: propertyNames(hooks.body),
      bodySchema: hooks.body,
      queryFields: propertyNames(hooks.query),
    };
  });
  // Unknown paths are part of the public surface too: they must answer 404 JSON, never a 5xx.
  routes.push({ method: "POST", path: "/api/:name/:id", family: "public", params: ["name", "id"], bodyFields: [], queryFields: [] });
  creds = { licenseKey: (await svc.issue({ plan: "agency" })).key, admin: await signedInAdmin(svc), writeToken: await newToken("write"), readToken: await newToken("read") };
}, 30_000);

afterAll(async () => {
  await svc.close();
  await up.stop();
});

describe("fuzzing every route with hostile input", () => {
  test("the router's routes are all fuzzed, in the four families", () => {
    const families = new Set(routes.map((r) => r.family));
    expect([...families].sort()).toEqual(["admin_api", "admin_page", "plugin", "public"]);
    // Every route of the app is in the list (it is read from the router itself, so a new route is fuzzed too).
    expect(routes.length).toBe(svc.app.routes.length + 1);
    expect(routes.filter((r) => r.family === "admin_api").length).toBeGreaterThan(20);
    expect(routes.filter((r) => r.family === "admin_page").length).toBeGreaterThan(40);
  });

  // The plugin family runs before the admin ones: an admin case may remove a provider key, and a chat call
  // without one answers 503 provider_not_configured (a configuration state, not a client's mistake).
  for (const family of ["public", "plugin", "admin_api", "admin_page"] as const) {
    test(`${family} routes never answer 5xx, hang or break the error contract`, async () => {
      const { problems, unreached, cases } = await fuzzFamily(family);
      expect(problems).toEqual([]);
      expect(unreached).toEqual([]);
      expect(cases).toBeGreaterThanOrEqual(routes.filter((r) => r.family === family).length * RUNS);
    }, 180_000);
  }

  test("no case polluted Object.prototype", () => {
    for (const key of POLLUTION_KEYS) expect(Object.prototype).not.toHaveProperty(key);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("the nesting check counts only brackets outside strings, escaped quotes included", () => {
    expect(nestedDeeperThan("[[1]]", 2)).toBe(false);
    expect(nestedDeeperThan("[[[1]]]", 2)).toBe(true);
    expect(nestedDeeperThan('{"a":"[[[[{{{{"}', 1)).toBe(false);
    // An escaped backslash ends the string at the next quote: the brackets after it count.
    expect(nestedDeeperThan('{"a":"\\\\","b":[1]}', 1)).toBe(true);
    expect(nestedDeeperThan('{"a":"\\\"[[["}', 1)).toBe(false);
    expect(nestedDeeperThan('[{"a":"]]]"},[[1]]]', 2)).toBe(true);
    // Siblings do not add up: depth is how far they nest, not how many there are.
    expect(nestedDeeperThan("[[1],[2],[3],[4]]", 2)).toBe(false);
  });

  test("a JSON body nested deeper than the limit answers 400 invalid_json on every kind of route, not a stack overflow", async () => {
    const deep = (depth: number) => `{"site_url":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    const { key } = await svc.issue({ plan: "pro" });
    for (const depth of [MAX_JSON_DEPTH, 200_000]) {
      const res = await svc.request("POST", "/api/validate", { key, rawBody: deep(depth), headers: { "content-type": "application/json" }, ip: "192.0.2.3" });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe("invalid_json");
    }
    // One level less is still read (and refused for its type, as any wrongly typed field is).
    const shallow = await svc.request("POST", "/api/validate", { key, rawBody: deep(MAX_JSON_DEPTH - 1), headers: { "content-type": "application/json" }, ip: "192.0.2.3" });
    expect(shallow.status).toBe(422);
    const v1 = await svc.request("POST", "/v1/chat/completions", { rawBody: deep(200_000), headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, ip: "192.0.2.3" });
    expect(v1.status).toBe(400);
    expect((await v1.json()).error.code).toBe("invalid_json");
  });

  test("a /v1 request announcing more than 1 MiB is refused 413 in OpenAI's error envelope", async () => {
    const res = await svc.request("POST", "/v1/chat/completions", { rawBody: "{}", headers: { "content-type": "application/json", "content-length": String(MAX_BODY_BYTES + 1) }, ip: "192.0.2.3" });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatchObject({ code: "payload_too_large", type: expect.any(String), message: expect.any(String) });
  });

  test("the audit log filtered up to 9999-12-31, the last nameable day, lists everything in the API and the page", async () => {
    const token = await newToken("read");
    const get = async (query: string) => {
      const res = await svc.request("GET", `/api/admin/audit${query}`, { headers: { authorization: `Bearer ${token}` }, ip: "192.0.2.2" });
      expect(res.status).toBe(200);
      return (await res.json()).total as number;
    };
    const all = await get("");
    expect(all).toBeGreaterThan(0);
    expect(await get("?to=9999-12-31")).toBe(all);
    expect(await get("?from=2026-01-01&to=9999-12-31")).toBe(all);
    const admin = await signedInAdmin(svc);
    const page = await admin.get("/admin/audit?to=9999-12-31");
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain("Enter a date");
  });

  test("afterwards the service is healthy: health 200, a new license validates, admin pages and API answer", async () => {
    const health = await svc.request("GET", "/api/health", { ip: "192.0.2.1" });
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe("healthy");
    const { key } = await svc.issue({ plan: "pro" });
    const validate = await svc.request("POST", "/api/validate", { key, body: { site_url: "https://fresh.example.com" }, ip: "192.0.2.1" });
    expect(validate.status).toBe(200);
    expect((await validate.json()).valid).toBe(true);
    const admin = await signedInAdmin(svc);
    expect((await admin.get("/admin")).status).toBe(200);
    const token = await newToken("read");
    expect((await svc.request("GET", "/api/admin/licenses", { headers: { authorization: `Bearer ${token}` }, ip: "192.0.2.1" })).status).toBe(200);
    if (svc.config.database.kind === "sqlite") {
      const rows = (await svc.services.db.orm.em.getConnection().execute("pragma integrity_check")) as Array<Record<string, unknown>>;
      expect(Object.values(rows[0]!)[0]).toBe("ok");
    }
  });
});
