// GET /metrics: who may read it (METRICS_TOKEN, METRICS_ALLOW), and that the service's work moves the
// metrics it promises: requests by route pattern, the proxy's overhead, upstream latency and errors,
// refused admissions, tokens and cost, the usage-write queue and database errors.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startTestService, type TestService } from "../support/app.ts";
import { conn, envFor, HELLO, jsonOf, setCounter, T0 } from "../support/chat.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";

const TOKEN = "metrics-token-0123456789abcdef";
const OUTSIDE = "203.0.113.10";

type Sample = { name: string; labels: Record<string, string>; value: number };

/** The samples of a Prometheus text exposition. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with this name and at least these labels (0 when absent, as Prometheus reads it). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

async function scrape(svc: TestService): Promise<Sample[]> {
  const res = await svc.request("GET", "/metrics", { ip: "127.0.0.1" });
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

/** Scrapes until `done` holds: request metrics are taken after the answer has gone out. */
async function scrapeUntil(svc: TestService, done: (samples: Sample[]) => boolean, timeoutMs = 3000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await scrape(svc);
    if (done(samples) || Date.now() > deadline) return samples;
    await Bun.sleep(10);
  }
}

describe("who may read /metrics", () => {
  describe("with the defaults (no token, loopback only)", () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService();
    }, 30_000);
    afterAll(async () => {
      await svc.close();
    });

    test("a loopback caller gets the Prometheus text with the service's metric names", async () => {
      for (const ip of ["127.0.0.1", "::1"]) {
        const res = await svc.request("GET", "/metrics", { ip });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
        const text = await res.text();
        for (const name of [
          "http_requests_total",
          "http_request_duration_seconds",
          "chatello_proxy_overhead_seconds",
          "chatello_upstream_duration_seconds",
          "chatello_upstream_errors_total",
          "chatello_admissions_denied_total",
          "chatello_tokens_total",
          "chatello_cost_eur_total",
          "chatello_usage_queue_depth",
          "chatello_db_errors_total",
          "process_resident_memory_bytes",
          "process_cpu_seconds_total",
          "nodejs_eventloop_lag_seconds",
        ]) {
          expect(text).toContain(`# TYPE ${name} `);
        }
      }
    });

    test("any other address is refused with 403 in the contract's error shape", async () => {
      const res = await svc.request("GET", "/metrics", { ip: OUTSIDE });
      expect(res.status).toBe(403);
      expect(await jsonOf(res)).toEqual({ error: "Metrics are not available to this address (METRICS_ALLOW)", code: "forbidden" });
    });

    test("a request relayed by a proxy is not admitted by the proxy's loopback address", async () => {
      const res = await svc.request("GET", "/metrics", { ip: "127.0.0.1", headers: { "x-forwarded-for": "198.51.100.7" } });
      expect(res.status).toBe(403);
    });

    test("a bearer token is not a way in when none is configured", async () => {
      const res = await svc.request("GET", "/metrics", { ip: OUTSIDE, headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(403);
    });
  });

  describe("with METRICS_TOKEN and METRICS_ALLOW=10.0.0.0/8", () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ METRICS_TOKEN: TOKEN, METRICS_ALLOW: "10.0.0.0/8" });
    }, 30_000);
    afterAll(async () => {
      await svc.close();
    });

    test("a caller without a token outside the allowed range gets 401 with a bearer challenge", async () => {
      const res = await svc.request("GET", "/metrics", { ip: OUTSIDE });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="chatello-metrics"');
      expect(await jsonOf(res)).toEqual({ error: "Metrics token required (Authorization: Bearer <METRICS_TOKEN>)", code: "metrics_token_required" });
    });

    test("a wrong token gets 401, from anywhere, and the answer does not repeat it", async () => {
      for (const [ip, token] of [[OUTSIDE, `${TOKEN}x`], ["10.1.2.3", "metrics-token-0123456789abcdeX"], [OUTSIDE, "short"]]) {
        const res = await svc.request("GET", "/metrics", { ip, headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(401);
        const body = await res.text();
        expect(JSON.parse(body)).toEqual({ error: "Invalid metrics token", code: "metrics_token_invalid" });
        expect(body).not.toContain(token);
      }
    });

    test("the right token admits a caller from any address", async () => {
      const res = await svc.request("GET", "/metrics", { ip: OUTSIDE, headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      expect(await res.text()).toContain("# TYPE http_requests_total counter");
    });

    test("an address in the allowed range needs no token; loopback is no longer in the list", async () => {
      expect((await svc.request("GET", "/metrics", { ip: "10.200.0.1" })).status).toBe(200);
      expect((await svc.request("GET", "/metrics", { ip: "127.0.0.1" })).status).toBe(401);
      expect((await svc.request("GET", "/metrics", { ip: "11.0.0.1" })).status).toBe(401);
    });
  });
});

describe("what the metrics count", () => {
  let up: FakeUpstream;
  let svc: TestService;

  beforeAll(async () => {
    up = await startFakeUpstream();
    svc = await startTestService(envFor(up));
  }, 30_000);
  afterAll(async () => {
    await svc.close();
    await up.stop();
  });
  beforeEach(() => {
    up.reset();
    svc.clock.current = new Date(T0);
  });

  test("requests are counted by route pattern, method and status, never by raw path or query", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);
    const labels = { route: "/api/keys/:provider", method: "DELETE", status: "404" };
    const res = await svc.request("DELETE", "/api/keys/openai?note=abc", { key });
    expect(res.status).toBe(404);
    expect((await svc.request("GET", "/api/no-such-route/123")).status).toBe(404);
    const after = await scrapeUntil(svc, (s) => valueOf(s, "http_requests_total", { route: "unmatched", status: "404" }) > valueOf(before, "http_requests_total", { route: "unmatched", status: "404" }));
    expect(valueOf(after, "http_requests_total", labels) - valueOf(before, "http_requests_total", labels)).toBe(1);
    expect(valueOf(after, "http_request_duration_seconds_count", labels) - valueOf(before, "http_request_duration_seconds_count", labels)).toBe(1);
    expect(valueOf(after, "http_requests_total", { route: "unmatched", method: "GET", status: "404" }) - valueOf(before, "http_requests_total", { route: "unmatched", method: "GET", status: "404" })).toBe(1);
    const routes = new Set(after.filter((s) => s.name === "http_requests_total").map((s) => s.labels.route));
    expect([...routes].filter((route) => /openai|no-such-route|\?/.test(route))).toEqual([]);
  });

  test("a proxied chat call moves the overhead and upstream histograms and the token and cost counters", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);
    up.script({ usage: { prompt: 40, completion: 9, cached: 8 } });
    const res = await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    const overheadMs = Number(res.headers.get("x-proxy-overhead-ms"));
    const after = await scrape(svc);
    const diff = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(diff("chatello_proxy_overhead_seconds_count", { provider: "openai", endpoint: "chat" })).toBe(1);
    // The header and the histogram are one measure: the histogram's sum moved by the header's milliseconds.
    expect(Math.abs(diff("chatello_proxy_overhead_seconds_sum", { provider: "openai", endpoint: "chat" }) * 1000 - overheadMs)).toBeLessThanOrEqual(0.5);
    expect(diff("chatello_upstream_duration_seconds_count", { provider: "openai" })).toBe(1);
    expect(diff("chatello_upstream_duration_seconds_sum", { provider: "openai" })).toBeGreaterThan(0);
    const tokens = { provider: "openai", model: body.model };
    expect(diff("chatello_tokens_total", { ...tokens, kind: "prompt" })).toBe(40);
    expect(diff("chatello_tokens_total", { ...tokens, kind: "completion" })).toBe(9);
    expect(diff("chatello_tokens_total", { ...tokens, kind: "cached" })).toBe(8);
    expect(body.usage.cost_eur).toBeGreaterThan(0);
    expect(diff("chatello_cost_eur_total", tokens)).toBeCloseTo(body.usage.cost_eur, 9);
  });

  test("a streamed call on /v1 counts its overhead at once and its tokens when the stream has ended", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);
    up.script({ usage: { prompt: 21, completion: 5 } });
    const res = await svc.request("POST", "/v1/chat/completions", {
      key,
      body: { model: "gpt-4o-mini", messages: HELLO, stream: true, stream_options: { include_usage: true } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-proxy-overhead-ms")).toMatch(/^\d+$/);
    await res.text();
    const after = await scrapeUntil(svc, (s) => valueOf(s, "chatello_tokens_total", { kind: "completion", model: "gpt-4o-mini" }) > valueOf(before, "chatello_tokens_total", { kind: "completion", model: "gpt-4o-mini" }));
    const diff = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(diff("chatello_proxy_overhead_seconds_count", { provider: "openai", endpoint: "v1" })).toBe(1);
    expect(diff("chatello_upstream_duration_seconds_count", { provider: "openai" })).toBe(1);
    expect(diff("chatello_tokens_total", { provider: "openai", model: "gpt-4o-mini", kind: "prompt" })).toBe(21);
    expect(diff("chatello_tokens_total", { provider: "openai", model: "gpt-4o-mini", kind: "completion" })).toBe(5);
  });

  test("refused admissions are counted by reason and never reach the upstream", async () => {
    const full = await svc.issue({ plan: "pro" });
    await setCounter(svc, full.licenseId, "month", { requests: 1000 });
    const starter = await svc.issue({ plan: "starter" });
    const other = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);

    expect((await svc.request("POST", "/api/chat", { key: full.key, body: { messages: HELLO } })).status).toBe(429);
    expect((await svc.request("POST", "/api/chat", { key: starter.key, body: { messages: HELLO } })).status).toBe(403);
    expect((await svc.request("POST", "/api/chat", { key: other.key, body: { messages: HELLO, model: "gpt-4-32k" } })).status).toBe(400);
    // A malformed request is not an admission decision.
    expect((await svc.request("POST", "/api/chat", { key: other.key, body: { messages: [] } })).status).toBe(400);

    const after = await scrape(svc);
    const denied = (reason: string) => valueOf(after, "chatello_admissions_denied_total", { reason }) - valueOf(before, "chatello_admissions_denied_total", { reason });
    expect(denied("monthly_limit")).toBe(1);
    expect(denied("ai_not_included")).toBe(1);
    expect(denied("model_not_allowed")).toBe(1);
    expect(denied("messages_required")).toBe(0);
    expect(up.requests).toHaveLength(0);
  });

  test("a failing provider is counted as an upstream error by kind and is no admission refusal", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);
    up.script({ status: 500 });
    expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(502);
    const after = await scrape(svc);
    const diff = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(diff("chatello_upstream_errors_total", { provider: "openai", kind: "http" })).toBe(1);
    expect(diff("chatello_upstream_duration_seconds_count", { provider: "openai" })).toBe(1);
    expect(diff("chatello_admissions_denied_total")).toBe(0);
    expect(diff("chatello_proxy_overhead_seconds_count")).toBe(0);
  });

  test("usage events that cannot be written show in the queue depth and as database errors until they are", async () => {
    const { key } = await svc.issue({ plan: "pro" });
    const before = await scrape(svc);
    await conn(svc).execute("alter table usage_events rename to usage_events_away", [], "run");
    try {
      expect((await svc.request("POST", "/api/chat", { key, body: { messages: HELLO } })).status).toBe(200);
      const stuck = await scrapeUntil(svc, (s) => valueOf(s, "chatello_db_errors_total", { context: "writing usage events" }) > valueOf(before, "chatello_db_errors_total", { context: "writing usage events" }));
      expect(valueOf(stuck, "chatello_db_errors_total", { context: "writing usage events" })).toBeGreaterThan(valueOf(before, "chatello_db_errors_total", { context: "writing usage events" }));
      expect(valueOf(stuck, "chatello_usage_queue_depth")).toBe(svc.services.usageRecorder.pending);
      expect(valueOf(stuck, "chatello_usage_queue_depth")).toBeGreaterThanOrEqual(1);
    } finally {
      await conn(svc).execute("alter table usage_events_away rename to usage_events", [], "run");
    }
    await svc.services.usageRecorder.flush();
    expect(valueOf(await scrape(svc), "chatello_usage_queue_depth")).toBe(0);
  });

  test("a database error behind a 500 answer is counted", async () => {
    const before = await scrape(svc);
    await conn(svc).execute("alter table licenses rename to licenses_away", [], "run");
    try {
      const res = await svc.request("POST", "/api/validate", { key: "CHA-0A1B2C3D-4E5F6071-8293A4B5-C6D7E8F9" });
      expect(res.status).toBe(500);
      expect(await jsonOf(res)).toEqual({ error: "Internal server error", code: "internal_error" });
    } finally {
      await conn(svc).execute("alter table licenses_away rename to licenses", [], "run");
    }
    const after = await scrape(svc);
    expect(valueOf(after, "chatello_db_errors_total", { context: "http request" }) - valueOf(before, "chatello_db_errors_total", { context: "http request" })).toBe(1);
  });
});
