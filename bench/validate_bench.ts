// Benchmark of the plugin API's hot path: POST /api/validate over real HTTP against the service started
// as its own process (`bun src/app/main.ts serve`) on a fresh embedded SQLite database, or on MariaDB when
// BENCH_DATABASE_URL is set. Reports measured throughput and latency percentiles; nothing is asserted.
// Usage: npm run bench [-- --requests 5000 --concurrency 32]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { requests: { type: "string", default: "5000" }, concurrency: { type: "string", default: "32" } },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const root = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "chatello-bench-"));
const port = 20000 + Math.floor(Math.random() * 20000);
const env = {
  ...process.env,
  PORT: String(port),
  HOST: "127.0.0.1",
  DATA_DIR: dir,
  DATABASE_URL: process.env.BENCH_DATABASE_URL ?? `sqlite:${join(dir, "chatello.db")}`,
  LOG_LEVEL: "warn",
};

function run(args: string[]) {
  return Bun.spawnSync([process.execPath, "src/app/main.ts", ...args], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
}

const server = Bun.spawn([process.execPath, "src/app/main.ts", "serve"], { cwd: root, env, stdout: "ignore", stderr: "inherit" });
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    if (i > 100) throw new Error("service did not start");
    if (await fetch(`${base}/api/health`).then((r) => r.ok, () => false)) break;
    await Bun.sleep(100);
  }
  const created = run(["license", "create", "--email", "bench@example.com", "--plan", "pro", "--domain", "shop.example.com"]);
  const key = JSON.parse(created.stdout.toString()).license_key as string;

  async function scenario(name: string, init: RequestInit, path = "/api/validate") {
    const latencies: number[] = [];
    let next = 0;
    let failures = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          const t0 = performance.now();
          const res = await fetch(base + path, init);
          await res.arrayBuffer();
          latencies.push(performance.now() - t0);
          if (res.status >= 500) failures += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(2);
    console.log(
      `${name.padEnd(34)} ${String(latencies.length).padStart(6)} req  ${(latencies.length / seconds).toFixed(0).padStart(6)} req/s  ` +
        `p50 ${pct(50)} ms  p95 ${pct(95)} ms  p99 ${pct(99)} ms  5xx ${failures}`,
    );
  }

  const headers = { "content-type": "application/json", "x-license-key": key };
  console.log(`Chatello validation benchmark: ${total} requests per scenario, concurrency ${concurrency}, database ${env.DATABASE_URL.split(":")[0]}`);
  await scenario("warm-up", { method: "POST", headers });
  await scenario("validate (no site)", { method: "POST", headers });
  await scenario("validate (activated site)", { method: "POST", headers, body: JSON.stringify({ site_url: "https://shop.example.com" }) });
  await scenario("health", { method: "GET" }, "/api/health");
} finally {
  server.kill();
  await server.exited;
  rmSync(dir, { recursive: true, force: true });
}
