// Turns the measured figures into the targets' pass/fail and the markdown table of bench/RESULTS.md.

/** One target's figures, each the median over the rounds. */
export interface Figure {
  /** 200 answers per second at many connections. */
  rps: number | null;
  /** Latency at one connection (ms). */
  p50: number | null;
  p99: number | null;
  /** Time to the first body byte at one connection (ms): for a stream, its first event. */
  ttfbP50: number | null;
  ttfbP99: number | null;
  /** X-Proxy-Overhead-Ms reported by the service at one connection. */
  overheadP50: number | null;
  overheadP99: number | null;
  /** Answers that were not 200, and connection errors/timeouts, over all rounds. */
  non200: number;
  errors: number;
}

/** A proxied path compared with calling the fake upstream directly (medians of per-round differences). */
export interface Added {
  /** Service minus direct at one connection (ms); for streams, of the time to first event. */
  p50: number | null;
  p99: number | null;
  /** Service 200/s over direct 200/s at many connections. */
  ofDirect: number | null;
}

/** The admission check of one database. */
export interface Admission {
  database: string;
  limit: number;
  fired: number;
  ok: number;
  tooMany: number;
  other: number;
  errors: number;
  usageEvents: number;
  exact: boolean;
}

/** RSS of one service process, MB (10^6 bytes). */
export interface Memory {
  idleMB: number | null;
  peakMB: number | null;
  afterMB: number | null;
}

/** Everything one run produced (bench/results.json). */
export interface Results {
  machine: Record<string, string | number | null>;
  settings: Record<string, string | number | boolean | string[]>;
  notes: string[];
  validate: Record<string, Figure>;
  /** Per validate target: over its DB floor (services only) and over the HTTP floor (medians of per-round ratios). */
  validateRatios: Record<string, { ofDbFloor: number | null; ofHttpFloor: number | null }>;
  chat: Record<string, Figure>;
  chatAdded: Record<string, Added>;
  memory: Record<string, Memory>;
  admission: Admission[];
  targets: TargetResult[];
  rounds: unknown[];
  elapsedSeconds: number;
}

/** One target of issue 7 with what was measured for it. */
export interface TargetResult {
  target: string;
  measured: string;
  /** null when the figure was not measured in this run. */
  pass: boolean | null;
}

const int = (n: number | null) => (n === null || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const ms = (n: number | null) => (n === null || !Number.isFinite(n) ? "–" : n < 10 ? n.toFixed(3) : n.toFixed(1));
const pct = (n: number | null) => (n === null || !Number.isFinite(n) ? "–" : `${Math.round(n * 100)} %`);
const mb = (n: number | null) => (n === null || !Number.isFinite(n) ? "–" : n.toFixed(1));

/** The chat paths measured, in table order. */
export const CHAT_PATHS = [
  { id: "api_chat", label: "/api/chat" },
  { id: "v1", label: "/v1/chat/completions" },
] as const;

/** The pass-through floor (bench/floors/proxy_floor.ts): a bare Bun proxy, for what a second hop costs here. */
export const PASS_THROUGH = { id: "passthrough", label: "Pass-through floor: bare Bun.serve + fetch" } as const;

/** Evaluates the targets of issue 7 on the figures (and the admission check of item 6 d). */
export function evaluateTargets(results: Omit<Results, "targets">): TargetResult[] {
  const out: TargetResult[] = [];
  for (const db of ["SQLite", "MariaDB"]) {
    const key = db.toLowerCase();
    const service = results.validate[`service_${key}`];
    const floor = results.validate[`${key}_floor`];
    const ratio = results.validateRatios[`service_${key}`]?.ofDbFloor ?? null;
    out.push({
      target: `/api/validate throughput at 64 clients ≥ 50 % of the ${db} lookup floor`,
      measured: ratio === null ? "not measured" : `${pct(ratio)} (${int(service?.rps ?? null)} vs ${int(floor?.rps ?? null)} req/s)`,
      pass: ratio === null ? null : ratio >= 0.5,
    });
    const p99 = service?.p99 ?? null;
    out.push({
      target: `/api/validate p99 at 1 client < 2 ms on ${db}`,
      measured: p99 === null ? "not measured" : `${ms(p99)} ms`,
      pass: p99 === null ? null : p99 < 2,
    });
  }
  for (const mode of ["json", "stream"] as const) {
    for (const path of CHAT_PATHS) {
      const added = results.chatAdded[`${path.id}_${mode}`];
      const what = mode === "json" ? "" : " (time to first event)";
      const where = `${path.label}, ${mode === "json" ? "JSON" : "streaming"}`;
      out.push({
        target: `Proxy added latency${what} p50 at 1 client < 0.5 ms — ${where}`,
        measured: added?.p50 == null ? "not measured" : `${ms(added.p50)} ms`,
        pass: added?.p50 == null ? null : added.p50 < 0.5,
      });
      out.push({
        target: `Proxy added latency${what} p99 at 1 client < 2 ms — ${where}`,
        measured: added?.p99 == null ? "not measured" : `${ms(added.p99)} ms`,
        pass: added?.p99 == null ? null : added.p99 < 2,
      });
    }
  }
  for (const path of CHAT_PATHS) {
    const rps = results.chat[`${path.id}_json`]?.rps ?? null;
    out.push({
      target: `≥ 5,000 admitted chat requests/s at 64 clients on SQLite — ${path.label}, JSON`,
      measured: rps === null ? "not measured" : `${int(rps)} /s`,
      pass: rps === null ? null : rps >= 5000,
    });
  }
  for (const [label, memory] of Object.entries(results.memory)) {
    out.push({
      target: `Resident memory under load < 150 MB — service on ${label}`,
      measured: memory.peakMB === null ? "not measured" : `${mb(memory.peakMB)} MB peak`,
      pass: memory.peakMB === null ? null : memory.peakMB < 150,
    });
  }
  for (const a of results.admission) {
    out.push({
      target: `Admission exact under load (admitted = limit) — ${a.database}`,
      measured: `${a.ok} admitted of ${a.fired}, limit ${a.limit}; ${a.tooMany} × 429, ${a.other + a.errors} other; ${a.usageEvents} usage events`,
      pass: a.exact,
    });
  }
  return out;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const VALIDATE_ROWS = [
  { id: "http_floor", label: "HTTP floor: bare Bun.serve, fixed JSON" },
  { id: "sqlite_floor", label: "SQLite floor: Bun.serve + 1 prepared bun:sqlite statement" },
  { id: "service_sqlite", label: "**Service on SQLite**" },
  { id: "mariadb_floor", label: "MariaDB floor: Bun.serve + 1 prepared mysql2 statement" },
  { id: "service_mariadb", label: "**Service on MariaDB**" },
];

/** The markdown report: machine, settings, targets, then one table per measurement. */
export function renderMarkdown(results: Results): string {
  const m = results.machine;
  const s = results.settings;
  const out: string[] = [];
  out.push("# Chatello benchmark results", "");
  out.push(`Produced by \`npm run bench\` (bench/run.ts) on ${m.date}; raw figures in bench/results.json.`, "");
  out.push(
    `**Machine:** ${m.cpu}, ${m.cores} cores (\`nproc\`), ${m.ramGB} GB RAM, Linux ${m.kernel}, Bun ${m.bun}` +
      `${m.mariadb ? `, MariaDB ${m.mariadb}` : ""}; load average (1, 5, 15 min) ${m.loadAverage} at the start, ${m.loadAverageAtEnd} at the end.` +
      `${m.cpuIdle ? ` CPU idle: ${m.cpuIdle}.` : ""}`,
    "",
  );
  out.push(
    `**Method:** every server is its own process on 127.0.0.1, sharing the cores with the load generator. ` +
      `Throughput: autocannon ${m.autocannon} at ${s.connections} connections (200 answers per second). ` +
      `Latency: one keep-alive connection sending requests back to back, timed to the microsecond by the harness's own HTTP/1.1 client. ` +
      `${s.rounds} interleaved round(s) of ${s.durationSeconds} s per measurement (each floor measured right before the service it bounds); ` +
      `figures are medians over the rounds, ratios and added latencies are medians of the per-round values. ` +
      `The service is the single binary operators deploy, built by the benchmark from the working tree with the build script of package.json (\`npm run build\`), and runs in its own data directory with NODE_ENV=production and LOG_LEVEL=${s.logLevel}, its stdout (the log lines) going to /dev/null. ` +
      `Total run time ${Math.round(results.elapsedSeconds)} s.`,
    "",
  );
  if (s.partial) out.push(`**Partial run** (${s.partial}): not every figure was measured.`, "");

  out.push("## Targets (issue 7)", "");
  out.push(
    table(
      ["Target", "Measured", "Result"],
      results.targets.map((t) => [t.target, t.measured, t.pass === null ? "not measured" : t.pass ? "**pass**" : "**FAIL**"]),
    ),
    "",
  );

  if (Object.keys(results.validate).length > 0) {
    out.push("## (a) POST /api/validate", "");
    const rows = VALIDATE_ROWS.filter((r) => results.validate[r.id]).map((r) => {
      const f = results.validate[r.id];
      const ratios = results.validateRatios[r.id];
      return [r.label, int(f.rps), r.id.startsWith("service_") ? pct(ratios?.ofDbFloor ?? null) : "", pct(ratios?.ofHttpFloor ?? null), ms(f.p50), ms(f.p99), problems(f)];
    });
    out.push(table([`Target`, `req/s at ${s.connections} clients`, "% of DB floor", "% of HTTP floor", "p50 at 1 client (ms)", "p99 at 1 client (ms)", "non-200 / errors"], rows), "");
  }

  if (Object.keys(results.chat).length > 0) {
    out.push("## (b) Proxy on SQLite, against the fake upstream", "");
    out.push(
      "Added latency = the proxied path minus calling the fake upstream directly with the same request, per round. " +
        "Admission and usage recording are on (a license whose plan has no limit). X-Proxy-Overhead-Ms is the service's own measure, at the resolution it reports. " +
        "The pass-through floor forwards the same request to the fake upstream with fetch and hands its answer back unread: what any Bun proxy adds on this machine.",
      "",
    );
    const direct = (mode: string) => results.chat[`direct_${mode}`];
    const paths = [PASS_THROUGH, ...CHAT_PATHS];
    const jsonRows = [["Fake upstream, direct", direct("json"), null] as const, ...paths.map((p) => [p.label, results.chat[`${p.id}_json`], results.chatAdded[`${p.id}_json`]] as const)]
      .filter(([, f]) => f)
      .map(([label, f, added]) => [label, int(f!.rps), added ? pct(added.ofDirect) : "", ms(f!.p50), ms(f!.p99), added ? ms(added.p50) : "", added ? ms(added.p99) : "", overhead(f!), problems(f!)]);
    out.push("Non-streaming (JSON answer):", "");
    out.push(table(["Path", `200/s at ${s.connections} clients`, "% of direct", "p50 (ms)", "p99 (ms)", "added p50 (ms)", "added p99 (ms)", "X-Proxy-Overhead-Ms p50 / p99", "non-200 / errors"], jsonRows), "");
    const streamRows = [["Fake upstream, direct", direct("stream"), null] as const, ...paths.map((p) => [p.label, results.chat[`${p.id}_stream`], results.chatAdded[`${p.id}_stream`]] as const)]
      .filter(([, f]) => f)
      .map(([label, f, added]) => [label, int(f!.rps), added ? pct(added.ofDirect) : "", ms(f!.ttfbP50), ms(f!.ttfbP99), added ? ms(added.p50) : "", added ? ms(added.p99) : "", ms(f!.p50), overhead(f!), problems(f!)]);
    out.push(
      `Streaming (SSE). "First event" is the first body byte after the headers; the fake upstream sends its first event at once ` +
        `and the others ${s.streamChunkDelayMs} ms apart, so a proxy holding the stream back would show here.`,
      "",
    );
    out.push(table(["Path", `200/s at ${s.connections} clients`, "% of direct", "first event p50 (ms)", "first event p99 (ms)", "added p50 (ms)", "added p99 (ms)", "whole stream p50 (ms)", "X-Proxy-Overhead-Ms p50 / p99", "non-200 / errors"], streamRows), "");
  }

  if (Object.keys(results.memory).length > 0) {
    out.push("## (c) Memory of the service process (VmRSS)", "");
    out.push(
      table(
        ["Service", "idle after start (MB)", "peak under load (MB)", "after the load (MB)"],
        Object.entries(results.memory).map(([label, mem]) => [label, mb(mem.idleMB), mb(mem.peakMB), mb(mem.afterMB)]),
      ),
      "",
    );
  }

  if (results.admission.length > 0) {
    out.push("## (d) Admission exactness under load", "");
    out.push(
      table(
        ["Database", "monthly limit", `requests fired (${s.connections} clients)`, "200", "429", "other / errors", "usage events recorded", "exact"],
        results.admission.map((a) => [a.database, int(a.limit), int(a.fired), int(a.ok), int(a.tooMany), `${a.other} / ${a.errors}`, int(a.usageEvents), a.exact ? "yes" : "**NO**"]),
      ),
      "",
    );
  }

  if (results.notes.length > 0) {
    out.push("## Notes", "", ...results.notes.map((n) => `- ${n}`), "");
  }
  return out.join("\n");
}

function overhead(f: Figure): string {
  return f.overheadP50 === null ? "" : `${f.overheadP50} / ${f.overheadP99}`;
}

function problems(f: Figure): string {
  return f.non200 === 0 && f.errors === 0 ? "0" : `**${f.non200} / ${f.errors}**`;
}
