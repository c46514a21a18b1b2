// GET /metrics: the Prometheus text exposition, for a scraper holding METRICS_TOKEN or calling from an
// address in METRICS_ALLOW.
import { BlockList, isIP } from "node:net";
import { Elysia, t } from "elysia";
import { constantTimeEqual } from "../../domain/shared/mod.ts";
import type { Metrics } from "../metrics.ts";
import { asIs, errorResponse } from "./docs.ts";
import { errorBody, json } from "./errors.ts";

/** What the metrics route needs. */
export interface MetricsRouteDeps {
  metrics: Metrics;
  /** METRICS_TOKEN; null when no token is configured. */
  metricsToken: string | null;
  /** METRICS_ALLOW: addresses and CIDR ranges admitted without a token. */
  metricsAllow: string[];
  trustProxy: boolean;
}

const REALM = 'Bearer realm="chatello-metrics"';

/** The allow-list as a BlockList (used as a list of admitted networks). */
function allowListOf(entries: string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split("/");
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

/** Whether the request went through a proxy: then the socket's address is the proxy's, not the caller's. */
function proxied(request: Request): boolean {
  const headers = request.headers;
  return headers.has("x-forwarded-for") || headers.has("forwarded") || headers.has("x-real-ip");
}

/** The metrics route; `ipOf` is the client address the app determined for the request. */
export function createMetricsRoute(deps: MetricsRouteDeps, ipOf: (request: Request) => string) {
  const allowed = allowListOf(deps.metricsAllow);

  function admittedAddress(request: Request): boolean {
    // Without TRUST_PROXY, a request relayed by a reverse proxy on this host would otherwise pass as local.
    if (!deps.trustProxy && proxied(request)) return false;
    const ip = ipOf(request);
    const family = isIP(ip);
    return family !== 0 && allowed.check(ip, family === 6 ? "ipv6" : "ipv4");
  }

  /** Null when the caller may read the metrics, else the refusal. */
  function refusal(request: Request): Response | null {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
    if (deps.metricsToken !== null && match) {
      if (constantTimeEqual(match[1], deps.metricsToken)) return null;
      return json(401, errorBody("Invalid metrics token", "metrics_token_invalid"), { "www-authenticate": REALM });
    }
    if (admittedAddress(request)) return null;
    if (deps.metricsToken !== null) {
      return json(401, errorBody("Metrics token required (Authorization: Bearer <METRICS_TOKEN>)", "metrics_token_required"), { "www-authenticate": REALM });
    }
    return json(403, errorBody("Metrics are not available to this address (METRICS_ALLOW)", "forbidden"));
  }

  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    async ({ request }) => {
      const refused = refusal(request);
      if (refused) return asIs(refused);
      const text = await deps.metrics.render();
      return asIs(new Response(text, { status: 200, headers: { "content-type": deps.metrics.contentType, "cache-control": "no-store" } }));
    },
    {
      detail: {
        summary: "Prometheus metrics",
        description:
          "The service's metrics in the Prometheus text format: requests and latency by route, proxy overhead, upstream latency " +
          "and errors, refused admissions, tokens and cost, the usage-write queue, database errors and process metrics. Admitted " +
          "with `Authorization: Bearer <METRICS_TOKEN>`, or without a token from an address in METRICS_ALLOW (default loopback).",
        tags: ["Service"],
      },
      response: {
        200: t.String({ description: "Prometheus text exposition (text/plain; version=0.0.4)" }),
        401: errorResponse(
          "A token is configured and the request has none, or a wrong one",
          { error: "Metrics token required (Authorization: Bearer <METRICS_TOKEN>)", code: "metrics_token_required" },
          { error: "Invalid metrics token", code: "metrics_token_invalid" },
        ),
        403: errorResponse("No token is configured and the caller's address is not in METRICS_ALLOW", {
          error: "Metrics are not available to this address (METRICS_ALLOW)",
          code: "forbidden",
        }),
      },
    },
  );
}
