// Benchmark of the AI proxy's overhead: the same chat completion sent straight to the fake upstream and
// through the service (/api/chat and /v1/chat/completions), each process on its own, over real HTTP.
// Reports measured throughput, latency percentiles and the service's own X-Proxy-Overhead-Ms.
// Usage: npm run bench:chat [-- --requests 2000 --concurrency 16]
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { requests: { type: "string", default: "2000" }, concurrency: { type: "string", default: "16" } },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const root = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "chatello-chat-bench-"));
const upstreamPort = 20000 + Math.floor(Math.random() * 10000);
const port = upstreamPort + 10000;
const upstream = `http://127.0.0.1:${upstreamPort}`;
const env = {
  ...process.env,
  PORT: String(port),
  HOST: "127.0.0.1",
  DATA_DIR: dir,
  DATABASE_URL: `sqlite:${join(dir, "chatello.db")}`,
  LOG_LEVEL: "warn",
  OPENAI_BASE_URL: `${upstream}/v1`,
  OPENAI_API_KEY: "sk-bench-vendor-key",
};

async function waitFor(url: string) {
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then((r) => r.status < 500, () => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

const fake = Bun.spawn([process.execPath, "tests/support/fake_upstream.ts", "--port", String(upstreamPort)], { cwd: root, stdout: "ignore", stderr: "inherit" });
let server: ReturnType<typeof Bun.spawn> | null = null;
try {
  // A license on a plan without rate limits, so the benchmark measures the proxy, not the limiter.
  const created = Bun.spawnSync([process.execPath, "src/app/main.ts", "license", "create", "--email", "bench@example.com", "--plan", "agency"], { cwd: root, env });
  const key = JSON.parse(created.stdout.toString()).license_key as string;
  const db = new Database(join(dir, "chatello.db"));
  db.run("update plans set monthly_requests = 0, requests_per_minute = 0, requests_per_hour = 0, monthly_budget_eur = 0 where name = 'agency'");
  db.close();
  server = Bun.spawn([process.execPath, "src/app/main.ts", "serve"], { cwd: root, env, stdout: "ignore", stderr: "inherit" });
  await waitFor(`${upstream}/v1/models`);
  await waitFor(`http://127.0.0.1:${port}/api/health`);

  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello, benchmark" }] });
  async function scenario(name: string, url: string, headers: Record<string, string>, payload = body) {
    const latencies: number[] = [];
    const overheads: number[] = [];
    let next = 0;
    let failures = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          const t0 = performance.now();
          const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: payload });
          await res.arrayBuffer();
          latencies.push(performance.now() - t0);
          const overhead = res.headers.get("x-proxy-overhead-ms");
          if (overhead != null) overheads.push(Number(overhead));
          if (res.status !== 200) failures += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const pct = (list: number[], p: number) => (list.length ? [...list].sort((a, b) => a - b)[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] : NaN);
    console.log(
      `${name.padEnd(30)} ${(latencies.length / seconds).toFixed(0).padStart(6)} req/s  p50 ${pct(latencies, 50).toFixed(2)} ms  p95 ${pct(latencies, 95).toFixed(2)} ms  p99 ${pct(latencies, 99).toFixed(2)} ms` +
        (overheads.length ? `  X-Proxy-Overhead-Ms p50 ${pct(overheads, 50)} p95 ${pct(overheads, 95)}` : "") +
        `  non-200 ${failures}`,
    );
  }
  console.log(`Chatello proxy benchmark: ${total} requests per scenario, concurrency ${concurrency}, SQLite, fake upstream answering at once`);
  await scenario("warm-up (proxy)", `http://127.0.0.1:${port}/api/chat`, { "x-license-key": key });
  await scenario("upstream direct", `${upstream}/v1/chat/completions`, { authorization: "Bearer sk-bench-vendor-key" });
  await scenario("proxy /api/chat", `http://127.0.0.1:${port}/api/chat`, { "x-license-key": key });
  await scenario("proxy /v1/chat/completions", `http://127.0.0.1:${port}/v1/chat/completions`, { authorization: `Bearer ${key}` });
} finally {
  server?.kill();
  fake.kill();
  await Promise.all([server?.exited, fake.exited]);
  rmSync(dir, { recursive: true, force: true });
}
