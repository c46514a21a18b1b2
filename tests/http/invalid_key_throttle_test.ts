// Clients that keep sending bad license keys are refused for a while, per address, and cannot choose
// another address with a forged X-Forwarded-For.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app/http/app.ts";
import { clientIp, type ProxyTrust } from "../../src/app/http/client_ip.ts";
import { createLogger } from "../../src/app/logger.ts";
import { startTestService, type TestService } from "../support/app.ts";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const GUESSER = "198.51.100.7";
const NEIGHBOUR = "198.51.100.8";

async function jsonOf(res: Response): Promise<any> {
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  return res.json();
}

/** A different bad key each time: malformed ones and well-formed keys that belong to no license. */
function badKey(i: number): string {
  return i % 2 === 0 ? `CHA-TEST-${i}` : `CHA-${String(i).padStart(8, "0")}-00000000-00000000-0000000F`;
}

describe("throttling of invalid license keys", () => {
  let svc: TestService;
  let goodKey: string;
  let retryAfterSeconds = 0;

  beforeAll(async () => {
    svc = await startTestService();
    ({ key: goodKey } = await svc.issue({}));
  }, 60_000);
  afterAll(async () => {
    await svc.close();
  });

  const validate = (key: string, ip: string) => svc.request("POST", "/api/validate", { key, ip });

  test("twenty invalid keys from one address answer 401 and the twenty-first 429 too_many_invalid_keys", async () => {
    for (let i = 0; i < 20; i++) {
      const res = await validate(badKey(i), GUESSER);
      expect(res.status).toBe(401);
      expect((await jsonOf(res)).code).toBe("license_invalid");
    }
    const now = svc.clock.now().getTime();
    const res = await validate(badKey(20), GUESSER);
    expect(res.status).toBe(429);
    const body = await jsonOf(res);
    expect(typeof body.error).toBe("string");
    expect(body.code).toBe("too_many_invalid_keys");
    expect(body.reset_time).toMatch(ISO_UTC);
    const resetAt = Date.parse(body.reset_time);
    expect(resetAt).toBeGreaterThan(now);
    const retryAfter = res.headers.get("retry-after") ?? "";
    expect(retryAfter).toMatch(/^\d+$/);
    retryAfterSeconds = Number(retryAfter);
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(Math.abs(retryAfterSeconds * 1000 - (resetAt - now))).toBeLessThanOrEqual(1000);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  test("the throttled address keeps getting 429 for further bad keys, on every licensed route", async () => {
    for (const [method, path] of [
      ["POST", "/api/validate"],
      ["POST", "/api/activate"],
      ["GET", "/api/usage"],
    ]) {
      const res = await svc.request(method, path, { key: badKey(99), ip: GUESSER, body: method === "POST" ? { site_url: "x.com" } : undefined });
      expect(res.status).toBe(429);
      expect((await jsonOf(res)).code).toBe("too_many_invalid_keys");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
  });

  test("another address is unaffected: a bad key answers 401 and a good key 200", async () => {
    const bad = await validate(badKey(1), NEIGHBOUR);
    expect(bad.status).toBe(401);
    expect((await jsonOf(bad)).code).toBe("license_invalid");
    expect((await validate(goodKey, NEIGHBOUR)).status).toBe(200);
  });

  test("after the window the address is heard again: a bad key answers 401 and a good key 200", async () => {
    expect(retryAfterSeconds).toBeGreaterThan(0);
    svc.clock.advance(retryAfterSeconds * 1000 + 1000);
    const bad = await validate(badKey(3), GUESSER);
    expect(bad.status).toBe(401);
    expect((await jsonOf(bad)).code).toBe("license_invalid");
    const good = await validate(goodKey, GUESSER);
    expect(good.status).toBe(200);
    expect((await jsonOf(good)).valid).toBe(true);
  });
});

describe("the throttled address is the real one, over a real socket", () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService();
  }, 60_000);
  afterAll(async () => {
    await svc.close();
  });

  /** The app as main.ts wires it (client address from the socket and the proxy trust), listening on 127.0.0.1. */
  function serve(trust: ProxyTrust) {
    const app = createApp({
      ...svc.services,
      logger: createLogger("silent", () => {}),
      publicUrl: svc.config.publicUrl,
      trustProxy: trust.enabled,
      metricsToken: svc.config.metricsToken,
      metricsAllow: svc.config.metricsAllow,
      version: "test",
      clientIpOf: (request, server) => clientIp(request, server?.requestIP(request)?.address, trust),
    });
    app.listen({ port: 0, hostname: "127.0.0.1" });
    const url = `http://127.0.0.1:${app.server!.port}`;
    return {
      validate: (forwardedFor: string) =>
        fetch(`${url}/api/validate`, { method: "POST", headers: { "x-license-key": "CHA-00000000-00000000-00000000-0000000E", "x-forwarded-for": forwardedFor } }),
      stop: () => app.stop(true),
    };
  }

  test("without a trusted proxy, a new X-Forwarded-For on every guess does not escape the limit", async () => {
    const server = serve({ enabled: false, hops: 0 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        const res = await server.validate(`10.0.${i}.1`);
        await res.text();
        statuses.push(res.status);
      }
      expect(statuses).toEqual([...Array(20).fill(401), 429]);
    } finally {
      await server.stop();
    }
  });

  test("behind one trusted proxy, what the client prepends is ignored: the address the proxy saw is throttled", async () => {
    const server = serve({ enabled: true, hops: 1 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        const res = await server.validate(`10.1.${i}.1, 198.51.100.77`);
        await res.text();
        statuses.push(res.status);
      }
      expect(statuses).toEqual([...Array(20).fill(401), 429]);
      expect(Number((await server.validate("198.51.100.77")).headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // Another client behind the same proxy is heard.
      const other = await server.validate("10.1.0.1, 198.51.100.78");
      expect(other.status).toBe(401);
    } finally {
      await server.stop();
    }
  });
});
