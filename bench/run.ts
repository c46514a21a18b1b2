// The benchmark of issue 7 (item 6): the service next to its floors, measured in the same run and
// interleaved, because absolute numbers drift on a shared machine. Every server runs in its own process;
// autocannon drives throughput, the harness's own HTTP/1.1 client times latency at one connection.
// Prints a markdown table on stdout (progress on stderr) and writes bench/RESULTS.md and bench/results.json.
// Usage: npm run bench [-- --quick | --duration S --rounds N --only validate,chat,admission --no-mariadb ...]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Target } from "./_client.ts";
import { fire, measureLatency, measureThroughput, sendOnce, type LatencyRun, type ThroughputRun } from "./_load.ts";
import { freePort, progress, RssSampler, rssMiB, startChild, stopChild, waitUntilUp, type Child } from "./_procs.ts";
import { CHAT_PATHS, evaluateTargets, PASS_THROUGH, renderMarkdown, type Admission, type Added, type Figure, type Memory, type Results } from "./_report.ts";
import { buildBinary, createMariaDb, okUsageEvents, startService, type MariaDbTarget, type Service } from "./_setup.ts";
import { median } from "./_stats.ts";

const USAGE = `Usage: npm run bench [-- options]
  --quick               1 round of 1 s per measurement, small admission check; prints only (no files)
  --duration S          seconds per measurement (default 4)
  --rounds N            interleaved rounds (default 3)
  --connections N       connections for throughput and admission (default 64)
  --only LIST           comma-separated subset of validate,chat,admission (prints only unless --save)
  --no-mariadb          skip the MariaDB rows
  --admission-limit N   monthly request limit of the admission check (default 300; fires 3 × N)
  --log-level LEVEL     the service's LOG_LEVEL (default info, as in production)
  --save / --no-save    write bench/RESULTS.md and bench/results.json (default: only for a full run)
Environment: BENCH_MARIADB_URL=mariadb://user:pass@host:port (default mariadb://root@127.0.0.1:3306): the
server on which a throwaway chatello_bench_<random> database is created and dropped again.`;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    rounds: { type: "string" },
    connections: { type: "string", default: "64" },
    only: { type: "string" },
    "no-mariadb": { type: "boolean", default: false },
    "admission-limit": { type: "string" },
    "log-level": { type: "string", default: "info" },
    save: { type: "boolean" },
    "no-save": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${value}\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const SCENARIOS = ["validate", "chat", "admission"] as const;
type Scenario = (typeof SCENARIOS)[number];
const only = flags.only ? flags.only.split(",").map((s) => s.trim()) : [...SCENARIOS];
for (const s of only) {
  if (!SCENARIOS.includes(s as Scenario)) {
    console.error(`--only: unknown scenario ${s}\n\n${USAGE}`);
    process.exit(2);
  }
}
const runs = (s: Scenario) => only.includes(s);
const durationS = positive("duration", flags.duration, flags.quick ? 1 : 4);
const rounds = Math.round(positive("rounds", flags.rounds, flags.quick ? 1 : 3));
const connections = Math.round(positive("connections", flags.connections, 64));
const admissionLimit = Math.round(positive("admission-limit", flags["admission-limit"], flags.quick ? 100 : 300));
const partial = [flags.quick ? "--quick" : "", flags.only ? `--only ${flags.only}` : "", flags["no-mariadb"] ? "--no-mariadb" : ""].filter(Boolean).join(" ");
const save = flags["no-save"] ? false : (flags.save ?? partial === "");
const warmupS = Math.min(0.5, durationS / 2);

/** The HTTP floor issue 7 quotes for the machine class its absolute targets were set on (requests/s). */
const ISSUE_HTTP_FLOOR = 115_000;
/** Pause between the fake upstream's stream events (the first comes at once). */
const STREAM_CHUNK_DELAY_MS = 1;
const root = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "chatello-bench-"));
const started = performance.now();
const loadAverageAtStart = loadavg().map((l) => l.toFixed(2)).join(" ");
const notes: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      progress(`cleanup: ${(error as Error).message}`);
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    progress(`${signal}: stopping the servers and dropping the throwaway database`);
    void cleanUp().then(() => process.exit(130));
  });
}

/** A sysfs or procfs file's text, or null where this kernel has none. */
function readSys(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * How an idle CPU waits: its cpuidle driver, the guest halt polling of a KVM guest (which only the haltpoll
 * driver does), and the CPU latency bound anybody holds (/dev/cpu_dma_latency, µs). A vCPU that halts when idle
 * is slower to resume and finds its caches cold, which slows every exchange that waits in between; latency
 * figures depend on it. Without a cpuidle driver ("none") the kernel halts an idle CPU at once and no latency
 * bound changes that; with haltpoll, a bound of 0 µs makes idle vCPUs poll.
 */
function cpuIdle(): { description: string; haltsAtOnce: boolean } {
  const bound = latencyBound();
  const driver = readSys("/sys/devices/system/cpu/cpuidle/current_driver") ?? "none";
  const haltPoll = driver === "haltpoll" ? readSys("/sys/module/haltpoll/parameters/guest_halt_poll_ns") : null;
  const held = bound !== null && bound < 2_000_000_000;
  const haltsAtOnce = driver === "none" || (driver === "haltpoll" && haltPoll === "0" && bound !== 0);
  const description = [
    driver === "none" ? "no cpuidle driver (idle vCPUs halt at once)" : `driver ${driver}`,
    haltPoll === null ? null : `guest halt polling ${haltPoll} ns`,
    bound === null ? null : held ? `CPU latency bound ${bound} µs held` : "no CPU latency bound held",
  ]
    .filter(Boolean)
    .join(", ");
  return { description, haltsAtOnce };
}

/** The CPU latency bound in force (µs; 2,000,000,000 means none), or null when it cannot be read. */
function latencyBound(): number | null {
  try {
    const raw = readFileSync("/dev/cpu_dma_latency");
    return raw.length >= 4 ? raw.readInt32LE(0) : null;
  } catch {
    return null; // Not readable (not root, or no such device).
  }
}

function machine(mariadb: string | null, idle: string): Record<string, string | number | null> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const nproc = Bun.spawnSync(["nproc"]).stdout.toString().trim();
  const autocannon = JSON.parse(readFileSync(join(root, "node_modules/autocannon/package.json"), "utf8")).version;
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown",
    cores: Number(nproc) || cpus().length,
    ramGB: Math.round((Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) * 1024) / 1e8) / 10,
    kernel: release(),
    cpuIdle: idle,
    bun: Bun.version,
    mariadb,
    autocannon,
    loadAverage: loadAverageAtStart,
    loadAverageAtEnd: loadavg().map((l) => l.toFixed(2)).join(" "),
  };
}

/** One measured target: how to reach it, and its runs per round. */
interface Measured {
  id: string;
  label: string;
  target: Target;
  throughput: ThroughputRun[];
  latency: LatencyRun[];
}

function measured(id: string, label: string, target: Target): Measured {
  return { id, label, target, throughput: [], latency: [] };
}

function figureOf(m: Measured): Figure {
  const med = (values: Array<number | null>) => {
    const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
    return finite.length === 0 ? null : median(finite);
  };
  const non200 =
    m.latency.reduce((sum, l) => sum + l.non200, 0) +
    m.throughput.reduce((sum, t) => sum + Object.entries(t.statuses).reduce((s, [code, n]) => s + (code === "200" ? 0 : n), 0), 0);
  return {
    rps: med(m.throughput.map((t) => t.ok200PerSecond)),
    p50: med(m.latency.map((l) => l.p50)),
    p99: med(m.latency.map((l) => l.p99)),
    ttfbP50: med(m.latency.map((l) => l.ttfbP50)),
    ttfbP99: med(m.latency.map((l) => l.ttfbP99)),
    overheadP50: med(m.latency.map((l) => l.overheadP50)),
    overheadP99: med(m.latency.map((l) => l.overheadP99)),
    non200,
    errors: m.throughput.reduce((sum, t) => sum + t.errors + t.timeouts, 0),
  };
}

/** Median over rounds of f(round) for the rounds where both sides were measured. */
function perRound(count: number, f: (round: number) => number | null): number | null {
  const values: number[] = [];
  for (let r = 0; r < count; r++) {
    const v = f(r);
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  return values.length === 0 ? null : median(values);
}

async function throughputOf(m: Measured, round: number): Promise<void> {
  const run = await measureThroughput(m.target, connections, durationS);
  m.throughput[round] = run;
  const other = Object.entries(run.statuses).filter(([code]) => code !== "200");
  progress(
    `  ${m.label}: ${Math.round(run.ok200PerSecond).toLocaleString("en-US")} 200/s at ${connections} connections` +
      (other.length || run.errors ? ` (other answers ${JSON.stringify(Object.fromEntries(other))}, errors ${run.errors})` : ""),
  );
  await Bun.sleep(100);
}

async function latencyOf(m: Measured, round: number, stream = false): Promise<void> {
  const run = await measureLatency(m.target, durationS * 1000);
  m.latency[round] = run;
  const f = (n: number) => n.toFixed(3);
  progress(
    `  ${m.label}: 1 connection ${stream ? `first event p50 ${f(run.ttfbP50)} p99 ${f(run.ttfbP99)} ms, whole ` : ""}p50 ${f(run.p50)} p99 ${f(run.p99)} ms` +
      ` over ${run.requests} requests${run.non200 ? `, ${run.non200} non-200` : ""}`,
  );
  await Bun.sleep(100);
}

async function main(): Promise<Results> {
  progress(`work directory ${work}; ${rounds} round(s) × ${durationS} s per measurement; scenarios ${only.join(", ")}`);
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const children: Child[] = [];
  const drops: Array<() => Promise<void>> = [];
  // Servers first (the service drains and flushes on SIGTERM), then the throwaway database they used.
  cleanups.push(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    for (const drop of drops) await drop();
  });
  const child = async (name: string, args: string[], probe: string, env?: Record<string, string>) => {
    const port = freePort();
    const started = startChild({ name, args: [...args, "--port", String(port)], port, cwd: root, logDir: work, env });
    children.push(started);
    await waitUntilUp(started, probe);
    return started;
  };

  // The fake upstream (for the proxy and the admission check), then the services on their databases.
  const upstream = runs("chat") || runs("admission")
    ? await child("fake upstream", ["bench/_upstream.ts", "--chunk-delay-ms", String(STREAM_CHUNK_DELAY_MS)], "/v1/models")
    : null;
  let mariadb: MariaDbTarget | null = null;
  if (!flags["no-mariadb"] && (runs("validate") || runs("admission"))) {
    const created = await createMariaDb(process.env.BENCH_MARIADB_URL);
    if ("skipped" in created) {
      notes.push(`MariaDB rows skipped: ${created.skipped}.`);
      progress(`MariaDB skipped: ${created.skipped}`);
    } else {
      mariadb = created;
      drops.push(() => created.drop());
      progress(`throwaway MariaDB database ${created.label}`);
    }
  }
  const services: Service[] = [];
  const binary = buildBinary(root, join(work, "chatello"));
  const serviceOn = async (label: Service["label"], databaseUrl: string, dataDir: string) => {
    const service = await startService({
      label,
      binary,
      dataDir,
      logDir: work,
      databaseUrl,
      port: freePort(),
      upstreamUrl: upstream?.url ?? "http://127.0.0.1:9",
      logLevel: flags["log-level"]!,
      admissionLimit,
    });
    children.push(service.child);
    services.push(service);
    return service;
  };
  const sqliteDir = join(work, "sqlite");
  const sqlitePath = join(sqliteDir, "chatello.db");
  const sqlite = await serviceOn("SQLite", `sqlite:${sqlitePath}`, sqliteDir);
  const maria = mariadb ? await serviceOn("MariaDB", mariadb.url, join(work, "mariadb")) : null;

  // The floors, on the same databases the services created.
  const validateTargets: Measured[] = [];
  if (runs("validate")) {
    const bodyFile = join(work, "validate_answer.json");
    writeFileSync(bodyFile, sqlite.validateBody);
    const request = (url: string, key: string): Target => ({ url: `${url}/api/validate`, method: "POST", headers: { "x-license-key": key } });
    progress("starting the floors");
    const http = await child("HTTP floor", ["bench/floors/http_floor.ts", "--body-file", bodyFile], "/");
    const sqliteFloor = await child("SQLite floor", ["bench/floors/sqlite_floor.ts", "--db", sqlitePath], "/");
    validateTargets.push(
      measured("http_floor", "HTTP floor", request(http.url, sqlite.licenses.validate)),
      measured("sqlite_floor", "SQLite floor", request(sqliteFloor.url, sqlite.licenses.validate)),
      measured("service_sqlite", "service on SQLite", request(sqlite.child.url, sqlite.licenses.validate)),
    );
    if (maria && mariadb) {
      // The URL goes through the environment: it may hold a password, which a command line would show to `ps`.
      const mariaFloor = await child("MariaDB floor", ["bench/floors/mariadb_floor.ts"], "/", { FLOOR_DATABASE_URL: mariadb.url });
      validateTargets.push(
        measured("mariadb_floor", "MariaDB floor", request(mariaFloor.url, maria.licenses.validate)),
        measured("service_mariadb", "service on MariaDB", request(maria.child.url, maria.licenses.validate)),
      );
    }
    // Every floor must give the service's answer, or it is not a floor for it.
    for (const m of validateTargets) {
      const answer = await sendOnce(m.target);
      const expected = m.id.includes("mariadb") ? maria!.validateBody : sqlite.validateBody;
      if (answer.status !== 200) throw new Error(`${m.label} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      if (m.id.endsWith("floor") && answer.body !== expected) {
        throw new Error(`${m.label} does not answer the service's JSON:\n  floor   ${answer.body}\n  service ${expected}`);
      }
    }
  }

  const chatTargets: Measured[] = [];
  if (runs("chat") && upstream) {
    const messages = [{ role: "user", content: "Hello, benchmark" }];
    const json = (extra: Record<string, unknown>) => JSON.stringify({ model: "gpt-4o-mini", messages, ...extra });
    const direct = (extra: Record<string, unknown>): Target => ({
      url: `${upstream.url}/v1/chat/completions`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench-fake-upstream" },
      body: json(extra),
    });
    const apiChat = (extra: Record<string, unknown>): Target => ({
      url: `${sqlite.child.url}/api/chat`,
      method: "POST",
      headers: { "content-type": "application/json", "x-license-key": sqlite.licenses.chat },
      body: json({ api_provider: "openai", ...extra }),
    });
    const v1 = (extra: Record<string, unknown>): Target => ({
      url: `${sqlite.child.url}/v1/chat/completions`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${sqlite.licenses.chat}` },
      body: json(extra),
    });
    // The pass-through floor: what a bare Bun proxy adds on this machine, next to what the service adds.
    const proxyFloor = await child("pass-through floor", ["bench/floors/proxy_floor.ts", "--upstream", upstream.url], "/");
    const passThrough = (extra: Record<string, unknown>): Target => ({ ...direct(extra), url: `${proxyFloor.url}/v1/chat/completions` });
    // Direct streaming asks for the usage chunk too, as the proxy does upstream.
    const streamDirect = { stream: true, stream_options: { include_usage: true } };
    chatTargets.push(
      measured("direct_json", "fake upstream direct (JSON)", direct({})),
      measured("passthrough_json", "pass-through floor (JSON)", passThrough({})),
      measured("api_chat_json", "/api/chat (JSON)", apiChat({})),
      measured("v1_json", "/v1/chat/completions (JSON)", v1({})),
      measured("direct_stream", "fake upstream direct (stream)", direct(streamDirect)),
      measured("passthrough_stream", "pass-through floor (stream)", passThrough(streamDirect)),
      measured("api_chat_stream", "/api/chat (stream)", apiChat({ stream: true })),
      measured("v1_stream", "/v1/chat/completions (stream)", v1({ stream: true })),
    );
    for (const m of chatTargets) {
      const answer = await sendOnce(m.target);
      if (answer.status !== 200) throw new Error(`${m.label} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    }
  }

  // Memory at idle: after start-up and setup, once the service has settled.
  await Bun.sleep(2000);
  const memory: Record<string, Memory> = {};
  const toMB = (mib: number | null) => (mib === null ? null : (mib * 1024 * 1024) / 1e6);
  for (const s of services) memory[s.label] = { idleMB: toMB(rssMiB(s.child.pid)), peakMB: null, afterMB: null };
  const sampler = new RssSampler(services.map((s) => s.child.pid));
  sampler.start();

  const everything = [...validateTargets, ...chatTargets];
  const expectedS = everything.length * (warmupS + rounds * 2 * (durationS + 0.25)) + (runs("admission") ? 15 : 0);
  progress(`measuring ${everything.length} targets; about ${Math.ceil(expectedS / 60)} more minute(s)`);
  if (everything.length > 0) {
    progress(`warm-up: ${warmupS} s per target at ${connections} connections`);
    for (const m of everything) await measureThroughput(m.target, connections, warmupS);
  }
  for (let round = 0; round < rounds; round++) {
    if (validateTargets.length > 0) {
      progress(`round ${round + 1}/${rounds}: /api/validate`);
      for (const m of validateTargets) await throughputOf(m, round);
      for (const m of validateTargets) await latencyOf(m, round);
    }
    if (chatTargets.length > 0) {
      progress(`round ${round + 1}/${rounds}: proxy`);
      for (const m of chatTargets) await throughputOf(m, round);
      for (const m of chatTargets) await latencyOf(m, round, m.id.endsWith("stream"));
    }
  }

  const admission: Admission[] = [];
  if (runs("admission")) {
    for (const s of services) {
      progress(`admission on ${s.label}: ${3 * admissionLimit} requests at ${connections} connections, limit ${admissionLimit}`);
      const target: Target = {
        url: `${s.child.url}/api/chat`,
        method: "POST",
        headers: { "content-type": "application/json", "x-license-key": s.licenses.admission },
        body: JSON.stringify({ model: "gpt-4o-mini", api_provider: "openai", messages: [{ role: "user", content: "Hello, admission" }] }),
      };
      const run = await fire(target, connections, 3 * admissionLimit);
      const ok = run.statuses["200"] ?? 0;
      const tooMany = run.statuses["429"] ?? 0;
      const other = Object.entries(run.statuses).reduce((sum, [code, n]) => sum + (code === "200" || code === "429" ? 0 : n), 0);
      // Usage is written behind the answers: wait until the count reaches the admitted figure (or stops moving).
      let events = -1;
      for (let i = 0, last = -2; i < 50; i++) {
        events = await okUsageEvents(s.databaseUrl, s.licenses.admission);
        if (events >= ok || events === last) break;
        last = events;
        await Bun.sleep(200);
      }
      const exact = ok === admissionLimit && tooMany === 3 * admissionLimit - admissionLimit && other === 0 && run.errors === 0 && events === ok;
      admission.push({ database: s.label, limit: admissionLimit, fired: 3 * admissionLimit, ok, tooMany, other, errors: run.errors + run.timeouts, usageEvents: events, exact });
      progress(`  ${ok} × 200, ${tooMany} × 429, ${other} other, ${run.errors} errors; ${events} usage events: ${exact ? "exact" : "NOT exact"}`);
    }
  }
  sampler.stop();
  await Bun.sleep(1000);
  for (const s of services) {
    memory[s.label].peakMB = toMB(sampler.peaks.get(s.child.pid) ?? null);
    memory[s.label].afterMB = toMB(rssMiB(s.child.pid));
  }

  // Summaries: medians over rounds; ratios and differences per round first, then their median.
  const validate: Record<string, Figure> = {};
  for (const m of validateTargets) validate[m.id] = figureOf(m);
  const byId = (list: Measured[], id: string) => list.find((m) => m.id === id);
  const rps = (m: Measured | undefined, r: number) => m?.throughput[r]?.ok200PerSecond ?? null;
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const validateRatios: Results["validateRatios"] = {};
  for (const m of validateTargets) {
    const db = m.id.includes("mariadb") ? "mariadb" : "sqlite";
    const floor = m.id.startsWith("service_") ? byId(validateTargets, `${db}_floor`) : undefined;
    validateRatios[m.id] = {
      ofDbFloor: floor ? perRound(rounds, (r) => ratio(rps(m, r), rps(floor, r))) : null,
      ofHttpFloor: perRound(rounds, (r) => ratio(rps(m, r), rps(byId(validateTargets, "http_floor"), r))),
    };
  }
  const chat: Record<string, Figure> = {};
  for (const m of chatTargets) chat[m.id] = figureOf(m);
  const chatAdded: Record<string, Added> = {};
  for (const mode of ["json", "stream"]) {
    const direct = byId(chatTargets, `direct_${mode}`);
    for (const path of [PASS_THROUGH, ...CHAT_PATHS]) {
      const m = byId(chatTargets, `${path.id}_${mode}`);
      if (!m || !direct) continue;
      // For streams the added latency is that of the first event, what a chat user waits for.
      const p50 = (x: Measured, r: number) => (mode === "json" ? x.latency[r]?.p50 : x.latency[r]?.ttfbP50) ?? null;
      const p99 = (x: Measured, r: number) => (mode === "json" ? x.latency[r]?.p99 : x.latency[r]?.ttfbP99) ?? null;
      const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
      chatAdded[m.id] = {
        p50: perRound(rounds, (r) => diff(p50(m, r), p50(direct, r))),
        p99: perRound(rounds, (r) => diff(p99(m, r), p99(direct, r))),
        ofDirect: perRound(rounds, (r) => ratio(rps(m, r), rps(direct, r))),
      };
    }
  }
  for (const f of [...Object.entries(validate), ...Object.entries(chat)]) {
    if (f[1].non200 > 0 || f[1].errors > 0) notes.push(`${f[0]}: ${f[1].non200} answers other than 200 and ${f[1].errors} connection errors over the run.`);
  }
  const httpFloor = validate.http_floor?.rps ?? null;
  if (httpFloor !== null) {
    notes.push(
      `This run's HTTP floor is ${Math.round(httpFloor).toLocaleString("en-US")} requests/s, ${Math.round((httpFloor / ISSUE_HTTP_FLOOR) * 100)} % of the ` +
        `${ISSUE_HTTP_FLOOR.toLocaleString("en-US")}/s issue 7 quotes for this machine class; its absolute targets (5,000 chat answers/s) were set against that figure.`,
    );
  }
  const { description: idle, haltsAtOnce } = cpuIdle();
  if (haltsAtOnce) {
    notes.push(
      "On this machine an idle vCPU halts at once (CPU idle: " + idle + "), so every wait in a request (for the upstream, for the next stream event) " +
        "lets the next code start slowly and cold; the 1-client latency figures, floors included, carry that. docs/deployment.md (Latency on " +
        "virtual machines) says what changes it, and shows a side run with the haltpoll driver and a CPU latency bound held at 0 µs.",
    );
  }
  notes.push(
    "The load generator shares the machine's cores with the servers it measures, so every throughput figure is also bounded by " +
      "autocannon's own CPU use; compare each figure with its floor from the same run, not with figures from other machines.",
  );

  const partialResults = {
    machine: machine(mariadb?.version ?? null, idle),
    settings: {
      durationSeconds: durationS,
      rounds,
      connections,
      logLevel: flags["log-level"]!,
      admissionLimit,
      streamChunkDelayMs: STREAM_CHUNK_DELAY_MS,
      scenarios: only,
      partial,
    },
    notes,
    validate,
    validateRatios,
    chat,
    chatAdded,
    memory,
    admission,
    rounds: Array.from({ length: rounds }, (_, r) => ({
      round: r + 1,
      runs: Object.fromEntries(everything.map((m) => [m.id, { throughput: m.throughput[r] ?? null, latency: m.latency[r] ?? null }])),
    })),
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  return { ...partialResults, targets: evaluateTargets(partialResults) };
}

let exitCode = 0;
try {
  const results = await main();
  const markdown = renderMarkdown(results);
  console.log(markdown);
  if (save) {
    writeFileSync(join(import.meta.dir, "RESULTS.md"), markdown);
    writeFileSync(join(import.meta.dir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    progress("wrote bench/RESULTS.md and bench/results.json");
  } else {
    progress("partial or quick run: bench/RESULTS.md and bench/results.json left as they were (--save writes them)");
  }
} catch (error) {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
  progress(`done in ${Math.round((performance.now() - started) / 1000)} s`);
}
process.exit(exitCode);
