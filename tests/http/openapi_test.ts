// The OpenAPI document at /swagger/json: a valid OpenAPI 3 document, complete (every JSON route, with its
// method), every operation summarised, tagged and with response schemas, and the plugin API's examples
// shaped like the contract's answers (and like the live answers); and the Swagger UI page that shows it.
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";

const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"] as const;

/** Routes the document leaves out on purpose: the htmx admin pages and their assets, the docs themselves. */
function undocumented(path: string, method: string): boolean {
  return (
    method === "OPTIONS" ||
    path === "/admin" ||
    path.startsWith("/admin/") ||
    path === "/swagger" ||
    path.startsWith("/swagger/") ||
    path === "/favicon.ico"
  );
}

/** `:param` → `{param}` as OpenAPI spells path parameters. */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
}

type Operation = { summary?: string; tags?: string[]; security?: unknown[]; responses?: Record<string, any>; [k: string]: unknown };

function operationsOf(doc: any): Array<{ path: string; method: string; op: Operation }> {
  const out: Array<{ path: string; method: string; op: Operation }> = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const method of METHODS) if (item?.[method]) out.push({ path, method, op: item[method] });
  }
  return out;
}

/** The key structure of a JSON value: objects by their keys (recursively), everything else by its JSON type. */
function shapeOf(value: unknown): unknown {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") {
    return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]));
  }
  return typeof value;
}

/** The contract's 200 of POST /api/validate (CONTRACT.md), with `domain` as a string and the added fields. */
const CONTRACT_VALIDATE_200 = {
  valid: true,
  status: "active",
  plan: "pro",
  plan_display_name: "Pro - AI Included",
  domain: "shop.example.com",
  expires_at: null,
  is_lifetime: false,
  ai_included: true,
  features: ["ai_included", "3_sites"],
  usage: { requests_used: 12, requests_limit: 1000, tokens_used: 3456, cost_eur: 0.0123 },
  limits: { monthly_requests: 1000, requests_per_minute: 10, requests_per_hour: 200, monthly_budget_eur: 4.0, max_sites: 3 },
  sites: { active: 1, limit: 3 },
};

describe("the OpenAPI document", () => {
  let svc: TestService;
  let doc: any;

  beforeAll(async () => {
    svc = await startTestService();
    const res = await svc.request("GET", "/swagger/json");
    expect(res.status).toBe(200);
    doc = await res.json();
  }, 60_000);
  afterAll(async () => {
    await svc.close();
  });

  test("is a valid OpenAPI 3 document", async () => {
    expect(String(doc.openapi)).toMatch(/^3\./);
    await SwaggerParser.validate(structuredClone(doc));
  });

  test("documents every registered route with its method", () => {
    const missing: string[] = [];
    for (const route of svc.app.routes) {
      const method = route.method.toUpperCase();
      if (undocumented(route.path, method)) continue;
      const item = doc.paths?.[openApiPath(route.path)];
      if (!item?.[method.toLowerCase()]) missing.push(`${method} ${route.path}`);
    }
    expect(missing).toEqual([]);
  });

  test("documents nothing that is not a route, and none of the admin pages", () => {
    const registered = new Set(svc.app.routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`));
    const extra = operationsOf(doc)
      .map(({ path, method }) => `${method} ${path}`)
      .filter((key) => !registered.has(key));
    expect(extra).toEqual([]);
    expect(Object.keys(doc.paths).filter((p) => p === "/admin" || p.startsWith("/admin/") || p.startsWith("/swagger"))).toEqual([]);
  });

  test("every operation has a summary, known tags, and a schema for a 2xx and for every status it declares", () => {
    const knownTags = new Set((doc.tags ?? []).map((t: { name: string }) => t.name));
    const problems: string[] = [];
    for (const { path, method, op } of operationsOf(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (typeof op.summary !== "string" || op.summary.trim() === "") problems.push(`${where}: no summary`);
      if (!Array.isArray(op.tags) || op.tags.length === 0) problems.push(`${where}: no tags`);
      for (const tag of op.tags ?? []) if (!knownTags.has(tag)) problems.push(`${where}: unknown tag ${tag}`);
      const responses = op.responses ?? {};
      const statuses = Object.keys(responses);
      if (!statuses.some((s) => /^2\d\d$/.test(s))) problems.push(`${where}: no 2xx response`);
      for (const status of statuses) {
        const content = responses[status]?.content ?? {};
        const schemas = Object.values<any>(content).filter((media) => media?.schema && typeof media.schema === "object");
        if (schemas.length === 0) problems.push(`${where}: ${status} has no schema`);
      }
      // An operation that needs credentials says what happens without them.
      if (Array.isArray(op.security) && op.security.length > 0 && !responses["401"]) problems.push(`${where}: secured but no 401`);
    }
    expect(problems).toEqual([]);
  });

  test("every documented request body has a JSON schema (the app's own body parser hides them from the generator)", () => {
    const empty = operationsOf(doc)
      .filter(({ op }) => op.requestBody && !(op.requestBody as any).content?.["application/json"]?.schema)
      .map(({ path, method }) => `${method.toUpperCase()} ${path}`);
    expect(empty).toEqual([]);
    const validate = doc.paths["/api/validate"].post.requestBody;
    expect(validate.required).toBe(false); // the body is optional there
    expect(validate.content["application/json"].schema.properties).toHaveProperty("site_url");
    expect(doc.paths["/api/activate"].post.requestBody.required).toBe(true);
    expect(doc.paths["/api/create_license"].post.requestBody.content["application/json"].schema.properties).toHaveProperty("email");
  });

  test("error responses of the contract's routes use the shared error body (error and code)", () => {
    // The contract gives these their own bodies: health's report when unhealthy, the limits report when the budget blocks.
    const ownBodies = new Set(["GET /api/health 503", "GET /api/limits/check 402"]);
    const problems: string[] = [];
    for (const { path, method, op } of operationsOf(doc)) {
      if (path.startsWith("/v1/")) continue; // OpenAI's envelope there
      for (const [status, response] of Object.entries<any>(op.responses ?? {})) {
        if (!/^[45]\d\d$/.test(status) || ownBodies.has(`${method.toUpperCase()} ${path} ${status}`)) continue;
        const schema = response.content?.["application/json"]?.schema;
        const variants: any[] = schema?.anyOf ?? [schema];
        const ok = variants.some((v) => v?.properties?.error?.type === "string" && v?.properties?.code?.type === "string");
        if (!ok) problems.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("every operation that uses the database documents its 503 when the database does not answer, with Retry-After", () => {
    const withoutDatabase = new Set(["GET /", "GET /metrics", "GET /api/health"]);
    const problems: string[] = [];
    for (const { path, method, op } of operationsOf(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const response = op.responses?.["503"];
      if (withoutDatabase.has(where)) continue;
      const examples: any[] = response?.content?.["application/json"]?.schema?.examples ?? [];
      const codes = examples.map((e) => (path.startsWith("/v1/") ? e?.error?.code : e?.code));
      if (!codes.includes("service_unavailable") || !/database does not answer/.test(response?.description ?? "") || response?.headers?.["Retry-After"]?.schema?.type !== "integer") {
        problems.push(where);
      }
    }
    expect(problems).toEqual([]);
    // A route's own 503 keeps its example next to the database's.
    const chat503 = doc.paths["/api/chat"].post.responses["503"];
    expect(chat503.content["application/json"].schema.examples.map((e: any) => e.code)).toEqual(["provider_not_configured", "service_unavailable"]);
    expect(doc.paths["/api/webhooks/paddle"].post.responses["503"].description).toStartWith("PADDLE_WEBHOOK_SECRET is not set; or: ");
  });

  test("the plugin API declares its security: licenseKey, and on /v1 also the bearer scheme", () => {
    const schemes = doc.components?.securitySchemes ?? {};
    expect(schemes.licenseKey).toMatchObject({ type: "apiKey", in: "header", name: "X-License-Key" });
    expect(schemes.licenseBearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/api/validate"].post.security).toEqual([{ licenseKey: [] }]);
    expect(doc.paths["/api/usage"].get.security).toEqual([{ licenseKey: [] }]);
    expect(doc.paths["/v1/chat/completions"].post.security).toEqual([{ licenseKey: [] }, { licenseBearer: [] }]);
    expect(doc.paths["/api/health"].get.security).toEqual([]);
  });

  test("streaming chat answers are documented as text/event-stream besides JSON", () => {
    for (const [path, method] of [["/api/chat", "post"], ["/v1/chat/completions", "post"]] as const) {
      const content = doc.paths[path][method].responses["200"].content;
      expect(Object.keys(content).sort()).toEqual(["application/json", "text/event-stream"]);
    }
  });

  test("POST /api/validate: the 200 example has the contract's shape and the live answer's keys", async () => {
    const schema = doc.paths["/api/validate"].post.responses["200"].content["application/json"].schema;
    const example = schema.examples[0];
    // Every key of the contract's example, with the same structure and JSON types.
    const contractShape = shapeOf(CONTRACT_VALIDATE_200) as Record<string, unknown>;
    const exampleShape = shapeOf(example) as Record<string, unknown>;
    for (const [key, shape] of Object.entries(contractShape)) expect([key, exampleShape[key]]).toEqual([key, shape]);
    expect(example).toMatchObject(CONTRACT_VALIDATE_200);

    // And exactly the keys the service really answers (with a site_url, so site and site_active are there).
    const { key } = await svc.issue({ plan: "pro" });
    await svc.request("POST", "/api/activate", { key, body: { site_url: "https://shop.example.com" } });
    const res = await svc.request("POST", "/api/validate", { key, body: { site_url: "https://shop.example.com" } });
    expect(res.status).toBe(200);
    const live = await res.json();
    expect(Object.keys(example).sort()).toEqual(Object.keys(live).sort());
    for (const nested of ["usage", "limits", "sites"]) expect(Object.keys(example[nested]).sort()).toEqual(Object.keys(live[nested]).sort());
  });

  test("POST /api/validate: the 401 examples are the contract's, and the live 401 equals the first", async () => {
    const schema = doc.paths["/api/validate"].post.responses["401"].content["application/json"].schema;
    expect(schema.properties.error.type).toBe("string");
    expect(schema.properties.code.type).toBe("string");
    const examples: Array<Record<string, unknown>> = schema.examples;
    expect(examples).toContainEqual({ error: "License key required", code: "license_missing" });
    expect(examples.map((e) => e.code).sort()).toEqual(["license_expired", "license_inactive", "license_invalid", "license_missing"]);
    for (const e of examples) if (e.code !== "license_missing") expect(e.error).toBe(e.code === "license_expired" ? "License expired" : "Invalid or inactive license");

    const res = await svc.request("POST", "/api/validate", {});
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(examples.find((e) => e.code === "license_missing")!);
  });

  test("the old dashboard's routes are documented under Admin (compatibility) with the admin session", () => {
    for (const [path, method] of [
      ["/api/customer/{id}", "get"],
      ["/api/customer/{id}", "put"],
      ["/api/customer/{id}", "delete"],
      ["/api/customer", "post"],
      ["/api/create_license", "post"],
    ] as const) {
      const op = doc.paths[path][method];
      expect(op.tags).toEqual(["Admin (compatibility)"]);
      expect(JSON.stringify(op.security)).toContain("adminSession");
    }
    const created = doc.paths["/api/create_license"].post.responses["200"].content["application/json"].schema;
    expect(Object.keys(created.properties).sort()).toEqual(["customer_id", "expires_at", "license_key", "message", "success"]);
  });

  test("the Swagger UI page has a CSP without inline script and with frame-ancestors 'none', nosniff, and no inline script or handler to break", async () => {
    const res = await svc.request("GET", "/swagger");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const csp = new Map(
      (res.headers.get("content-security-policy") ?? "")
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map((d) => [d[0], d.slice(1)] as const),
    );
    const scriptSrc = csp.get("script-src") ?? csp.get("default-src") ?? ["*"];
    expect(scriptSrc.filter((s) => /^'unsafe-|^\*$|^https?:$|^data:$/.test(s))).toEqual([]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("object-src")).toEqual(["'none'"]);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const page = await res.text();
    expect([...page.matchAll(/<script\b([^>]*)>/gi)].filter((m) => !/\ssrc=/i.test(m[1]))).toEqual([]);
    expect(page.match(/<[^>]+\son[a-z]+\s*=/gi)).toBeNull();
    // Everything the page loads is the service's own, served with its type.
    const refs = [...page.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref).toStartWith("/swagger/assets/");
      const asset = await svc.request("GET", ref);
      expect({ ref, status: asset.status, type: asset.headers.get("content-type") ?? "" }).toEqual({ ref, status: 200, type: expect.stringMatching(ref.endsWith(".css") ? /^text\/css/ : /^text\/javascript/) });
      const body = await asset.text();
      // The start-up script asks for the document where it is.
      const url = /SwaggerUIBundle\(\{[^}]*\burl:\s*"([^"]+)"/.exec(body)?.[1];
      if (ref.endsWith(".js") && body.length < 10_000) expect(url).toBeTruthy();
      if (url) expect((await svc.request("GET", new URL(url, "http://localhost/swagger").pathname)).status).toBe(200);
    }
  });
});
