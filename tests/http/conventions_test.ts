// Conventions of every JSON route: request ids, JSON errors for 400/404/405/413, CORS for the plugin API
// only, and no stack traces.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";

const ONE_MIB = 1024 * 1024;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const STACK_FRAME = /(^|\n)\s*at\s+\S+.*(\(|:\d+:\d+)|\bat\s+\S+\s+\([^)]*:\d+:\d+\)/;
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "Content-Type, X-License-Key, Authorization",
};

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

function expectPluginCors(res: Response): void {
  for (const [name, value] of Object.entries(CORS)) expect(res.headers.get(name)).toBe(value);
}

function corsHeaderNames(res: Response): string[] {
  return [...res.headers.keys()].filter((name) => name.toLowerCase().startsWith("access-control-"));
}

/** A JSON body of exactly `bytes` bytes that validates with `site_url`. */
function jsonBodyOfSize(bytes: number): string {
  const empty = JSON.stringify({ site_url: "shop.com", pad: "" });
  return JSON.stringify({ site_url: "shop.com", pad: "x".repeat(bytes - empty.length) });
}

/** A request body delivered in chunks with no Content-Length, as a chunked upload arrives. */
function streamOf(text: string, chunkBytes = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

describe("conventions of every response", () => {
  let svc: TestService;
  let key: string;
  beforeAll(async () => {
    svc = await startTestService();
    ({ key } = await svc.issue({}));
  });
  afterAll(async () => {
    await svc.close();
  });

  function post(path: string, init: { body: BodyInit; headers?: Record<string, string>; streamed?: boolean }): Promise<Response> {
    return svc.app.handle(
      new Request(`http://localhost${path}`, {
        method: "POST",
        body: init.body,
        headers: { "content-type": "application/json", ...(init.headers ?? {}) },
        ...(init.streamed ? { duplex: "half" } : {}),
      } as RequestInit),
    );
  }

  /** One request of each kind of answer the plugin API gives. */
  function everyKindOfAnswer(): Array<[string, () => Promise<Response>]> {
    const big = jsonBodyOfSize(ONE_MIB + 1);
    return [
      ["200 GET /", () => svc.request("GET", "/")],
      ["200 GET /api/health", () => svc.request("GET", "/api/health")],
      ["200 POST /api/validate", () => svc.request("POST", "/api/validate", { key })],
      ["401 POST /api/validate", () => svc.request("POST", "/api/validate")],
      ["400 POST /api/validate", () => svc.request("POST", "/api/validate", { key, rawBody: "{", headers: { "content-type": "application/json" } })],
      ["422 POST /api/activate", () => svc.request("POST", "/api/activate", { key, body: {} })],
      ["404 GET /api/nope", () => svc.request("GET", "/api/nope")],
      ["405 GET /api/validate", () => svc.request("GET", "/api/validate")],
      ["413 POST /api/validate", () => post("/api/validate", { body: big, headers: { "x-license-key": key, "content-length": String(big.length) } })],
      ["204 OPTIONS /api/validate", () => svc.request("OPTIONS", "/api/validate", { headers: { origin: "https://shop.com", "access-control-request-method": "POST" } })],
    ];
  }

  test("every response carries an X-Request-Id, whatever its status", async () => {
    for (const [label, send] of everyKindOfAnswer()) {
      const res = await send();
      expect({ label, status: res.status }).toEqual({ label, status: Number(label.slice(0, 3)) });
      const id = res.headers.get("x-request-id");
      expect({ label, id: typeof id === "string" && id.length > 0 }).toEqual({ label, id: true });
      await res.arrayBuffer();
    }
    // Admin paths are not the plugin API's, but they carry a request id all the same.
    expect((await svc.request("GET", "/admin")).headers.get("x-request-id")).toBeTruthy();
    expect((await svc.request("GET", "/api/admin/x")).headers.get("x-request-id")).toBeTruthy();
  });

  test("each response gets its own request id when the caller sends none", async () => {
    const a = (await svc.request("GET", "/")).headers.get("x-request-id");
    const b = (await svc.request("GET", "/")).headers.get("x-request-id");
    expect(a).not.toBe(b);
  });

  test("a plain X-Request-Id from the caller is echoed, on success and on errors", async () => {
    for (const id of ["req-42", "a1b2c3d4.e5:f6_G7", "x".repeat(64)]) {
      expect((await svc.request("GET", "/", { headers: { "x-request-id": id } })).headers.get("x-request-id")).toBe(id);
      expect((await svc.request("POST", "/api/validate", { headers: { "x-request-id": id } })).headers.get("x-request-id")).toBe(id);
    }
  });

  test.each([
    ["with spaces", "abc 123"],
    ["with a tab", "abc\t123"],
    ["longer than 64 characters", "x".repeat(65)],
    ["with markup", "<script>alert(1)</script>"],
    ["with shell characters", "id;rm -rf /"],
    ["with a forged log field", 'ok" level="error'],
  ])("an X-Request-Id %s is replaced by a safe one", async (_label, id) => {
    const res = await svc.request("GET", "/api/health", { headers: { "x-request-id": id } });
    const given = res.headers.get("x-request-id") ?? "";
    expect(given).not.toBe(id);
    expect(given).toMatch(SAFE_REQUEST_ID);
  });

  test.each([
    ["GET", "/api/nope"],
    ["POST", "/nope"],
    ["GET", "/api/validate/extra"],
    ["GET", "/wp-login.php"],
  ])("an unknown route %s %s answers 404 JSON not_found", async (method, path) => {
    const res = await svc.request(method, path);
    expect(res.status).toBe(404);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toBe("not_found");
  });

  test.each([
    ["GET", "/api/validate", "POST"],
    ["DELETE", "/api/activate", "POST"],
    ["PUT", "/api/deactivate", "POST"],
    ["POST", "/api/health", "GET"],
    ["DELETE", "/api/usage", "GET"],
  ])("a wrong method %s %s answers 405 JSON with an Allow header naming %s", async (method, path, allowed) => {
    const res = await svc.request(method, path, { key });
    expect(res.status).toBe(405);
    const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim());
    expect(allow).toContain(allowed);
    expect(allow).not.toContain(method);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toMatch(/^[a-z0-9_]+$/);
  });

  test("a body over 1 MiB with Content-Length answers 413 JSON", async () => {
    const big = jsonBodyOfSize(ONE_MIB + 1);
    const res = await post("/api/validate", { body: big, headers: { "x-license-key": key, "content-length": String(big.length) } });
    expect(res.status).toBe(413);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toMatch(/^[a-z0-9_]+$/);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("a streamed body over 1 MiB without Content-Length answers 413 JSON", async () => {
    const res = await post("/api/validate", { body: streamOf(jsonBodyOfSize(2 * ONE_MIB)), headers: { "x-license-key": key }, streamed: true });
    expect(res.status).toBe(413);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toMatch(/^[a-z0-9_]+$/);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("a streamed body one byte over 1 MiB answers 413 JSON", async () => {
    const res = await post("/api/activate", { body: streamOf(jsonBodyOfSize(ONE_MIB + 1)), headers: { "x-license-key": key }, streamed: true });
    expect(res.status).toBe(413);
    expect(typeof (await jsonOf(res)).code).toBe("string");
  });

  test("a body of exactly 1 MiB is accepted, with or without Content-Length", async () => {
    const exact = jsonBodyOfSize(ONE_MIB);
    expect(new TextEncoder().encode(exact).length).toBe(ONE_MIB);
    const declared = await post("/api/validate", { body: exact, headers: { "x-license-key": key, "content-length": String(ONE_MIB) } });
    expect(declared.status).toBe(200);
    expect((await jsonOf(declared)).valid).toBe(true);
    const streamed = await post("/api/validate", { body: streamOf(exact), headers: { "x-license-key": key }, streamed: true });
    expect(streamed.status).toBe(200);
    expect((await jsonOf(streamed)).valid).toBe(true);
  });

  test.each([["{"], ["{site_url: 'shop.com'}"], ['{"site_url": "shop.com",}'], ["not json at all"]])(
    "malformed JSON %p answers 400 invalid_json",
    async (raw) => {
      const res = await svc.request("POST", "/api/validate", { key, rawBody: raw, headers: { "content-type": "application/json" } });
      expect(res.status).toBe(400);
      expect(await jsonOf(res)).toEqual({ error: "JSON data required", code: "invalid_json" });
    },
  );

  test.each([
    ["GET", "/"],
    ["GET", "/api/health"],
    ["POST", "/api/validate"],
    ["POST", "/api/activate"],
    ["POST", "/api/deactivate"],
    ["GET", "/api/usage"],
  ])("the plugin route %s %s answers any origin with the contract's CORS headers", async (method, path) => {
    const withKey = await svc.request(method, path, { key, body: method === "POST" ? { site_url: "cors.example.com" } : undefined, headers: { origin: "https://shop.example.com" } });
    expectPluginCors(withKey);
    // Refusals must be readable by the browser too.
    const withoutKey = await svc.request(method, path, { headers: { origin: "https://other.example" } });
    expectPluginCors(withoutKey);
  });

  test.each([["/"], ["/api/health"], ["/api/validate"], ["/api/activate"], ["/api/deactivate"], ["/api/usage"], ["/api/chat"], ["/v1/chat/completions"]])(
    "an OPTIONS preflight on %s answers 204 with the CORS headers and no body",
    async (path) => {
      const res = await svc.request("OPTIONS", path, {
        headers: {
          origin: "https://shop.example.com",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-license-key",
        },
      });
      expect(res.status).toBe(204);
      expectPluginCors(res);
      expect(res.headers.get("x-request-id")).toBeTruthy();
      expect(await res.text()).toBe("");
    },
  );

  test.each([
    ["GET", "/admin"],
    ["GET", "/admin/licenses"],
    ["POST", "/admin/login"],
    ["OPTIONS", "/admin"],
    ["GET", "/api/admin/x"],
    ["POST", "/api/admin/licenses"],
    ["OPTIONS", "/api/admin/x"],
  ])("the admin path %s %s sends no Access-Control headers at all", async (method, path) => {
    const res = await svc.request(method, path, {
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(corsHeaderNames(res)).toEqual([]);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("no response carries a stack trace, an HTML page or a file path", async () => {
    const answers: Array<[string, () => Promise<Response>]> = [
      ...everyKindOfAnswer(),
      ["422 validate wrong type", () => svc.request("POST", "/api/validate", { key, body: { site_url: 42 } })],
      ["422 validate bad url", () => svc.request("POST", "/api/validate", { key, body: { site_url: "not a url" } })],
      ["422 activate bad url", () => svc.request("POST", "/api/activate", { key, body: { site_url: "javascript:alert(1)" } })],
      ["400 deactivate", () => svc.request("POST", "/api/deactivate", { key, rawBody: "{]", headers: { "content-type": "application/json" } })],
      ["401 malformed key", () => svc.request("POST", "/api/validate", { key: "CHA-TEST-1234", ip: "198.51.100.77" })],
      ["405 DELETE", () => svc.request("DELETE", "/api/activate", { key })],
      ["streamed 2 MiB", () => post("/api/validate", { body: streamOf(jsonBodyOfSize(2 * ONE_MIB)), headers: { "x-license-key": key }, streamed: true })],
    ];
    for (const [label, send] of answers) {
      const res = await send();
      const text = await res.text();
      const found = { label, stack: STACK_FRAME.test(text), html: /<html|<!doctype/i.test(text), path: /node_modules|\/src\/|\.ts:\d+/.test(text) };
      expect(found).toEqual({ label, stack: false, html: false, path: false });
      if (res.status !== 204) expect(res.headers.get("content-type") ?? "").toContain("application/json");
    }
  });
});
