// The two ways the benchmark loads a target: autocannon at many connections for throughput (and for
// firing an exact number of requests), and one keep-alive connection with sub-millisecond timing for latency.
import autocannon from "autocannon";
import { HttpConnection, encodeRequest, type Target } from "./_client.ts";
import { percentile, Samples } from "./_stats.ts";

/** Latency at one connection: requests answered back to back for a fixed time. */
export interface LatencyRun {
  requests: number;
  /** Answers whose status was not 200. */
  non200: number;
  p50: number;
  p99: number;
  /** Time to the first body byte (for a stream, its first event). */
  ttfbP50: number;
  ttfbP99: number;
  /** X-Proxy-Overhead-Ms as the service reported it, when it sent the header. */
  overheadP50: number | null;
  overheadP99: number | null;
}

/** Throughput at many connections, as autocannon counted it. */
export interface ThroughputRun {
  seconds: number;
  /** Answers with status 200 per second (admitted answers, for the proxy). */
  ok200PerSecond: number;
  /** All answers per second. */
  answersPerSecond: number;
  statuses: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  /** autocannon's own latency percentiles at this concurrency (whole milliseconds). */
  latencyP50: number;
  latencyP99: number;
}

const WARMUP_REQUESTS = 200;

/** Sends the target's request back to back on one connection for `durationMs` and times every answer. */
export async function measureLatency(target: Target, durationMs: number): Promise<LatencyRun> {
  const request = encodeRequest(target);
  const connection = await HttpConnection.open(target.url);
  const totals = new Samples();
  const firsts = new Samples();
  const overheads = new Samples();
  let non200 = 0;
  // A server that stops answering fails the run instead of hanging it.
  const watchdog = setTimeout(() => connection.abort(new Error(`${target.url} stopped answering`)), durationMs * 1.2 + 30_000);
  try {
    // A few answers first, so the connection and both ends' code paths are warm (slow streams: a tenth of the time at most).
    const warmUntil = performance.now() + durationMs / 10;
    for (let i = 0; i < WARMUP_REQUESTS && performance.now() < warmUntil; i++) await connection.send(request);
    const deadline = performance.now() + durationMs;
    while (performance.now() < deadline) {
      const answer = await connection.send(request);
      if (answer.status !== 200) non200 += 1;
      totals.push(answer.totalMs);
      firsts.push(answer.firstBodyMs);
      const overhead = answer.headers.get("x-proxy-overhead-ms");
      if (overhead !== undefined) overheads.push(Number(overhead));
    }
  } finally {
    clearTimeout(watchdog);
    connection.close();
  }
  return {
    requests: totals.length,
    non200,
    p50: percentile(totals.values(), 50),
    p99: percentile(totals.values(), 99),
    ttfbP50: percentile(firsts.values(), 50),
    ttfbP99: percentile(firsts.values(), 99),
    overheadP50: overheads.length > 0 ? percentile(overheads.values(), 50) : null,
    overheadP99: overheads.length > 0 ? percentile(overheads.values(), 99) : null,
  };
}

/** One request through the raw client (for checks and warm-up). */
export async function sendOnce(target: Target) {
  const connection = await HttpConnection.open(target.url);
  const watchdog = setTimeout(() => connection.abort(new Error(`${target.url} did not answer within 30 s`)), 30_000);
  try {
    return await connection.send(encodeRequest(target));
  } finally {
    clearTimeout(watchdog);
    connection.close();
  }
}

function summary(result: autocannon.Result): ThroughputRun {
  const statuses: Record<string, number> = {};
  const stats = (result as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {};
  for (const [code, { count }] of Object.entries(stats)) statuses[code] = count;
  const answers = Object.values(statuses).reduce((a, b) => a + b, 0);
  const seconds = result.duration;
  return {
    seconds,
    ok200PerSecond: (statuses["200"] ?? 0) / seconds,
    answersPerSecond: answers / seconds,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

function options(target: Target, connections: number): autocannon.Options {
  return {
    url: target.url,
    method: target.method,
    headers: target.headers,
    body: target.body,
    connections,
    pipelining: 1,
    timeout: 10,
  };
}

/** autocannon at `connections` connections for `seconds`. */
export async function measureThroughput(target: Target, connections: number, seconds: number): Promise<ThroughputRun> {
  return summary(await autocannon({ ...options(target, connections), duration: seconds }));
}

/** autocannon firing exactly `amount` requests over `connections` connections. */
export async function fire(target: Target, connections: number, amount: number): Promise<ThroughputRun> {
  return summary(await autocannon({ ...options(target, connections), amount }));
}
