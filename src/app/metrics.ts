/**
 * Prometheus metrics of one process, on its own prom-client registry (never the global default, so test
 * services and the CLI never share counters): HTTP requests, the proxy's overhead and upstream calls,
 * refused admissions, tokens and cost, the usage-write queue, database errors, and the process itself.
 */
import { DriverException } from "@mikro-orm/core";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Counters and histograms the service moves; `render` gives the Prometheus text exposition. */
export interface Metrics {
  readonly registry: Registry;
  /** Content-Type of `render`'s text. */
  readonly contentType: string;
  /** One answered HTTP request; `route` is the route pattern (or "unmatched"). */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** One call to a provider (each attempt, fallbacks included), until its answer or its stream's headers. */
  observeUpstream(provider: string, seconds: number): void;
  /** A provider call that failed: `kind` is http, timeout, network or aborted. */
  countUpstreamError(provider: string, kind: string): void;
  /** The time the service added to one proxied answer: total time minus time spent waiting on providers. */
  observeOverhead(provider: string, endpoint: string, seconds: number): void;
  /** A chat call refused before reaching a provider, by the refusal's code. */
  countDenied(reason: string): void;
  /** Tokens and cost of one settled call; `cached` tokens are part of `prompt`, as providers count them. */
  countUsage(provider: string, model: string, usage: { promptTokens: number; completionTokens: number; cachedTokens: number }, costEur: number): void;
  /** A database error, by where it happened. */
  countDbError(context: string): void;
  /** The text exposition of every metric. */
  render(): Promise<string>;
}

/** Buckets of the HTTP request duration, in seconds. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** The proxy's own share is expected well under a millisecond: buckets start at 0.1 ms. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
// Label children are remembered per label set; the sets are bounded (routes, providers, plan models), but a
// cap keeps a surprise from growing the maps without end (prom-client still counts past it).
const MAX_CACHED_CHILDREN = 2_000;

/** Builds the metrics of one process; `queueDepth` is read at scrape time. */
export function createMetrics(options: { queueDepth?: () => number } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({ name: "http_requests_total", help: "HTTP requests answered, by route pattern, method and status", labelNames: ["route", "method", "status"], registers });
  const requestSeconds = new Histogram({
    name: "http_request_duration_seconds",
    help: "Time from a request's arrival to its answer (streams: to the response headers), by route pattern, method and status",
    labelNames: ["route", "method", "status"],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const overhead = new Histogram({
    name: "chatello_proxy_overhead_seconds",
    help: "Time the proxy added to an answered chat call: total time minus time spent waiting on providers",
    labelNames: ["provider", "endpoint"],
    buckets: OVERHEAD_BUCKETS,
    registers,
  });
  const upstream = new Histogram({
    name: "chatello_upstream_duration_seconds",
    help: "Duration of one provider call, until its answer (streams: its response headers)",
    labelNames: ["provider"],
    buckets: UPSTREAM_BUCKETS,
    registers,
  });
  const upstreamErrors = new Counter({ name: "chatello_upstream_errors_total", help: "Failed provider calls, by provider and kind (http, timeout, network, aborted)", labelNames: ["provider", "kind"], registers });
  const denied = new Counter({ name: "chatello_admissions_denied_total", help: "Chat calls refused before reaching a provider, by reason (the refusal's code)", labelNames: ["reason"], registers });
  const tokens = new Counter({ name: "chatello_tokens_total", help: "Tokens of settled chat calls, by provider, model and kind (cached tokens are part of prompt)", labelNames: ["provider", "model", "kind"], registers });
  const cost = new Counter({ name: "chatello_cost_eur_total", help: "Cost charged for settled chat calls in euros (own-key calls cost nothing)", labelNames: ["provider", "model"], registers });
  const dbErrors = new Counter({ name: "chatello_db_errors_total", help: "Database errors, by where they happened", labelNames: ["context"], registers });
  const queueDepth = options.queueDepth;
  new Gauge({
    name: "chatello_usage_queue_depth",
    help: "Usage events answered but not yet written to the database",
    registers,
    collect() {
      this.set(queueDepth ? queueDepth() : 0);
    },
  });

  const requestChildren = new Map<string, { count: { inc(): void }; seconds: { observe(value: number): void } }>();
  const upstreamChildren = new Map<string, { observe(value: number): void }>();
  const overheadChildren = new Map<string, { observe(value: number): void }>();
  const usageChildren = new Map<string, { prompt: { inc(n: number): void }; completion: { inc(n: number): void }; cached: { inc(n: number): void }; cost: { inc(n: number): void } }>();

  function cached<T>(map: Map<string, T>, key: string, make: () => T): T {
    let child = map.get(key);
    if (child === undefined) {
      child = make();
      if (map.size < MAX_CACHED_CHILDREN) map.set(key, child);
    }
    return child;
  }

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(route, method, status, seconds) {
      const verb = METHODS.has(method) ? method : "other";
      const child = cached(requestChildren, `${route} ${verb} ${status}`, () => {
        const labels = { route, method: verb, status: String(status) };
        return { count: requests.labels(labels), seconds: requestSeconds.labels(labels) };
      });
      child.count.inc();
      child.seconds.observe(seconds);
    },
    observeUpstream(provider, seconds) {
      cached(upstreamChildren, provider, () => upstream.labels({ provider })).observe(seconds);
    },
    countUpstreamError(provider, kind) {
      upstreamErrors.inc({ provider, kind });
    },
    observeOverhead(provider, endpoint, seconds) {
      cached(overheadChildren, `${provider} ${endpoint}`, () => overhead.labels({ provider, endpoint })).observe(Math.max(0, seconds));
    },
    countDenied(reason) {
      denied.inc({ reason });
    },
    countUsage(provider, model, usage, costEur) {
      const child = cached(usageChildren, `${provider} ${model}`, () => ({
        prompt: tokens.labels({ provider, model, kind: "prompt" }),
        completion: tokens.labels({ provider, model, kind: "completion" }),
        cached: tokens.labels({ provider, model, kind: "cached" }),
        cost: cost.labels({ provider, model }),
      }));
      // Counters only move up: an odd negative or non-finite figure from a provider is not counted.
      if (usage.promptTokens > 0) child.prompt.inc(usage.promptTokens);
      if (usage.completionTokens > 0) child.completion.inc(usage.completionTokens);
      if (usage.cachedTokens > 0) child.cached.inc(usage.cachedTokens);
      if (costEur > 0 && Number.isFinite(costEur)) child.cost.inc(costEur);
    },
    countDbError(context) {
      dbErrors.inc({ context });
    },
    render: () => registry.metrics(),
  };
}

/**
 * Whether `error` (or one of its causes) came from the database: MikroORM's driver exceptions, or a raw
 * SQLite or MariaDB driver error that reached us unwrapped.
 */
export function isDatabaseError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DriverException || current.name === "SQLiteError") return true;
    const { code, sqlState } = current as { code?: unknown; sqlState?: unknown };
    if (typeof sqlState === "string") return true;
    if (typeof code === "string" && /^(SQLITE_|ER_|PROTOCOL_)/.test(code)) return true;
    current = current.cause;
  }
  return false;
}
