// Two service processes (`bun src/app/main.ts serve`) on one database: quota and rate-limit admission is
// shared, so together they admit exactly what the plan allows (SQLite file, or the throwaway MariaDB
// database when TEST_DATABASE_URL is set).
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { createSandbox, randomKey, runJson, startServe, TEST_DIALECT, withDb, type Sandbox, type ServeProcess } from "./process_support.ts";

type Created = { license_key: string };
type Answer = { status: number; body: any; retryAfter: string | null; instance: number };

/** Waits for the next UTC minute when fewer than ~10 s are left in this one, so a burst stays in one minute. */
async function sameMinuteWindow(): Promise<void> {
  const now = new Date();
  if (now.getUTCSeconds() >= 50) await Bun.sleep(60_000 - (now.getUTCSeconds() * 1000 + now.getUTCMilliseconds()) + 50);
}

function minuteOf(date: Date): string {
  return date.toISOString().slice(0, 16);
}

describe(`two service instances on one ${TEST_DIALECT} database`, () => {
  let fake: FakeUpstream;
  let sandbox: Sandbox;
  const instances: ServeProcess[] = [];
  let proKey = "";
  let cappedKey = "";
  let roomyKey = "";

  beforeAll(async () => {
    fake = await startFakeUpstream();
    sandbox = await createSandbox();
    const env = sandbox.env({
      ENCRYPTION_KEY: randomKey(),
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      OPENAI_API_KEY: "sk-vendor-openai-multi-0123456789",
      PROVIDER_MAX_RETRIES: "0",
    });
    // The CLI creates the schema and the plans; the plan edit happens before any instance caches plans.
    proKey = (await runJson<Created>(["license", "create", "--email", "minute@example.com", "--plan", "pro"], env)).license_key;
    cappedKey = (await runJson<Created>(["license", "create", "--email", "monthly@example.com", "--plan", "agency"], env)).license_key;
    roomyKey = (await runJson<Created>(["license", "create", "--email", "roomy@example.com", "--plan", "founders"], env)).license_key;
    await withDb(sandbox, async (db) => {
      const connection = db.orm.em.getConnection();
      await connection.execute("update plans set monthly_requests = 7, requests_per_minute = 1000, requests_per_hour = 10000 where name = 'agency'", [], "run");
      await connection.execute("update plans set monthly_requests = 100000, requests_per_minute = 1000, requests_per_hour = 10000 where name = 'founders'", [], "run");
    });
    instances.push(await startServe(env));
    instances.push(await startServe(env));
  });

  afterAll(async () => {
    for (const instance of instances) await instance.stop();
    await fake?.stop();
    await sandbox?.remove();
  });

  beforeEach(() => {
    fake?.reset();
  });

  /** Fires `n` chat calls at once, alternating between the two instances. */
  async function burst(key: string, n: number): Promise<Answer[]> {
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const instance = i % instances.length;
        const response = await fetch(`${instances[instance].url}/api/chat`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-license-key": key },
          body: JSON.stringify({ messages: [{ role: "user", content: `call ${i}` }] }),
        });
        return { status: response.status, body: await response.json(), retryAfter: response.headers.get("retry-after"), instance };
      }),
    );
  }

  function statuses(answers: Answer[]): Record<number, number> {
    const counts: Record<number, number> = {};
    for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
    return counts;
  }

  test("the two instances serve the same licenses from one database", async () => {
    for (const instance of instances) {
      const response = await fetch(`${instance.url}/api/validate`, { method: "POST", headers: { "x-license-key": proKey } });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ valid: true, plan: "pro", limits: { requests_per_minute: 10, monthly_requests: 1000 } });
    }
    expect(instances[0].url).not.toBe(instances[1].url);
  });

  test("30 concurrent chat calls split across both instances within one minute admit exactly the pro plan's 10 per minute", async () => {
    await sameMinuteWindow();
    const started = new Date();
    const answers = await burst(proKey, 30);
    const ended = new Date();
    expect(minuteOf(started)).toBe(minuteOf(ended)); // the premise: one UTC minute

    expect(statuses(answers)).toEqual({ 200: 10, 429: 20 });
    for (const a of answers.filter((a) => a.status === 200)) {
      expect(a.body).toMatchObject({ success: true, provider: "openai", model: "gpt-4o-mini" });
    }
    for (const a of answers.filter((a) => a.status === 429)) {
      expect(a.body).toMatchObject({ error: "Rate limit exceeded: too many requests per minute", code: "rate_limit_minute", limit: 10 });
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
    }
    // Refused calls never reached the provider.
    expect(fake.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(10);
  }, 90_000);

  test("50 concurrent chat calls split across both instances against 7 monthly requests left admit exactly 7", async () => {
    const answers = await burst(cappedKey, 50);
    expect(statuses(answers)).toEqual({ 200: 7, 429: 43 });
    for (const a of answers.filter((a) => a.status === 429)) {
      expect(a.body).toMatchObject({ error: "Monthly request limit exceeded", code: "monthly_limit", limit: 7 });
      expect(typeof a.body.reset_time).toBe("string");
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
    }
    expect(fake.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(7);

    // Both instances now see the month as used up, and count exactly the 7 answered calls.
    for (const instance of instances) {
      const again = await fetch(`${instance.url}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-license-key": cappedKey },
        body: JSON.stringify({ messages: [{ role: "user", content: "one more" }] }),
      });
      expect(again.status).toBe(429);
      expect((await again.json()).code).toBe("monthly_limit");
    }
    let requests = -1;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const current = await fetch(`${instances[1].url}/api/usage/current`, { headers: { "x-license-key": cappedKey } });
      requests = (await current.json()).current_usage.current_month.requests;
      if (requests >= 7) break;
      await Bun.sleep(100);
    }
    expect(requests).toBe(7);
  });

  test("40 concurrent chat calls split across both instances within every limit are all answered 200 and all billed", async () => {
    const answers = await burst(roomyKey, 40);
    expect(statuses(answers)).toEqual({ 200: 40 });
    expect(fake.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(40);

    let month = { requests: -1, tokens: -1 };
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const current = await fetch(`${instances[0].url}/api/usage/current`, { headers: { "x-license-key": roomyKey } });
      month = (await current.json()).current_usage.current_month;
      if (month.requests >= 40) break;
      await Bun.sleep(100);
    }
    expect(month).toMatchObject({ requests: 40, tokens: 40 * 19 });
    const limits = await fetch(`${instances[1].url}/api/limits/check`, { headers: { "x-license-key": roomyKey } });
    expect((await limits.json()).limits_status.monthly_requests.current).toBe(40);
  });
});
