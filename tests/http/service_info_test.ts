// GET / and GET /api/health: what the plugin and monitoring see, and how health reports a dead database.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, TEST_ENCRYPTION_KEY, type TestService } from "../support/app.ts";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const STACK_FRAME = /(^|\n)\s*at\s+\S+.*(\(|:\d+:\d+)|\bat\s+\S+\s+\([^)]*:\d+:\d+\)/;

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

/** Every number anywhere in a JSON value (health must not leak counts). */
function numbersIn(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (value && typeof value === "object") return Object.values(value).flatMap(numbersIn);
  return [];
}

describe("GET / and GET /api/health", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close();
  });

  test("GET / names the service and its version, links to /swagger and /api/health and lists the public endpoints", async () => {
    const res = await svc.request("GET", "/");
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.name).toBe("Chatello");
    expect(typeof body.version).toBe("string");
    expect(body.version.length).toBeGreaterThan(0);
    const links = Object.values(body).filter((v) => typeof v === "string");
    expect(links).toContain("/swagger");
    expect(links).toContain("/api/health");
    expect(Array.isArray(body.endpoints)).toBe(true);
    const endpoints: string[] = body.endpoints;
    for (const path of ["/api/health", "/api/validate", "/api/activate", "/api/deactivate", "/api/usage"]) {
      expect(endpoints.some((e) => typeof e === "string" && e.includes(path))).toBe(true);
    }
  });

  test("GET / needs no license key and reveals no secret", async () => {
    const res = await svc.request("GET", "/");
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain(TEST_ENCRYPTION_KEY);
  });

  test("GET /api/health answers 200 healthy with the version, an ISO UTC timestamp and database ok", async () => {
    const res = await svc.request("GET", "/api/health");
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.status).toBe("healthy");
    expect(body.checks).toEqual({ database: "ok" });
    expect(body.timestamp).toMatch(ISO_UTC);
    expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
    const root = await jsonOf(await svc.request("GET", "/"));
    expect(body.version).toBe(root.version);
  });

  test("GET /api/health carries exactly status, version, timestamp and checks, with no counts or configuration", async () => {
    const res = await svc.request("GET", "/api/health");
    const text = await res.text();
    const body = JSON.parse(text);
    expect(Object.keys(body).sort()).toEqual(["checks", "status", "timestamp", "version"]);
    expect(Object.keys(body.checks)).toEqual(["database"]);
    expect(numbersIn(body)).toEqual([]);
    expect(text).not.toContain(TEST_ENCRYPTION_KEY);
  });
});

describe("GET /api/health when the database does not answer", () => {
  let svc: TestService;
  let connection: { execute: (...args: unknown[]) => Promise<unknown> };
  let originalExecute: (...args: unknown[]) => Promise<unknown>;

  beforeAll(async () => {
    svc = await startTestService();
    connection = svc.services.db.orm.em.getConnection() as never;
    originalExecute = connection.execute;
  });
  afterAll(async () => {
    connection.execute = originalExecute;
    await svc.close();
  });

  /** Closes the database; MikroORM reconnects lazily after close, so the connection is also made to refuse. */
  async function databaseGone(failure: () => Promise<unknown>): Promise<void> {
    await svc.services.db.close();
    connection.execute = failure;
  }

  test("a database that refuses connections makes health answer 503 unhealthy with database unreachable", async () => {
    await databaseGone(async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:3306");
    });
    const res = await svc.request("GET", "/api/health");
    expect(res.status).toBe(503);
    const body = await jsonOf(res);
    expect(Object.keys(body).sort()).toEqual(["checks", "status", "timestamp", "version"]);
    expect(body.status).toBe("unhealthy");
    expect(body.checks).toEqual({ database: "unreachable" });
    expect(body.timestamp).toMatch(ISO_UTC);
    expect(typeof body.version).toBe("string");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("a database that hangs makes health answer 503 within a few seconds instead of hanging too", async () => {
    await databaseGone(() => new Promise(() => {}));
    const started = performance.now();
    const res = await svc.request("GET", "/api/health");
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(res.status).toBe(503);
    const body = await jsonOf(res);
    expect(body.status).toBe("unhealthy");
    expect(body.checks).toEqual({ database: "unreachable" });
  }, 15_000);

  test("a plugin route failing on the database answers 500 JSON with no stack trace and no database error text", async () => {
    await databaseGone(async () => {
      const error = new Error("connect ECONNREFUSED 127.0.0.1:3306 secret-db-host");
      error.stack = `Error: connect ECONNREFUSED\n    at Connection.query (/srv/chatello/node_modules/driver.js:10:5)`;
      throw error;
    });
    const res = await svc.request("POST", "/api/validate", { key: "CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4" });
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const text = await res.text();
    const body = JSON.parse(text);
    expect(typeof body.error).toBe("string");
    expect(typeof body.code).toBe("string");
    expect(text).not.toMatch(STACK_FRAME);
    expect(text).not.toContain("ECONNREFUSED");
    expect(text).not.toContain("secret-db-host");
    expect(text).not.toContain("node_modules");
  });
});
