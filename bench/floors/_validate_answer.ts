// What the database floors share: the SQL of their single lookup and the /api/validate answer built from
// its row, field for field as src/app/http/api.ts answers it, so the floor does the same work minus the
// framework, the ORM and the service's layering.
import { licenseKeyDigest, parseLicenseKey } from "../../src/domain/licensing/mod.ts";

/**
 * The one prepared statement of a database floor: the license by key digest with its plan, this month's
 * usage counter and its count of seat-taking active sites. Parameters, in order: the first instant of the
 * current UTC month (in the dialect's datetime representation), then the key digest.
 */
export const LOOKUP_SQL = `
select l.status, l.domain, l.expires_at,
       p.name, p.display_name, p.is_lifetime, p.ai_included, p.features,
       p.monthly_requests, p.requests_per_minute, p.requests_per_hour, p.monthly_budget_eur, p.max_sites,
       q.requests as used_requests, q.tokens as used_tokens, q.cost_eur as used_cost,
       (select count(*) from site_activations s
         where s.license_id = l.id and s.deactivated_at is null and s.exempt = 0) as active_sites
  from licenses l
  join plans p on p.id = l.plan_id
  left join quota_counters q on q.license_id = l.id and q.period = 'month' and q.period_start = ?
 where l.key_digest = ?`;

/** A row of LOOKUP_SQL as either driver returns it (numbers may come back as strings or bigints). */
export type LookupRow = Record<string, unknown>;

const JSON_HEADERS = { "content-type": "application/json;charset=utf-8" };

/** First instant of the current UTC calendar month. */
export function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** The digest to look up, or null when the header is not a well-formed key (the service's 401). */
export async function digestOf(request: Request): Promise<string | null> {
  const key = parseLicenseKey(request.headers.get("x-license-key"));
  return key === null ? null : licenseKeyDigest(key);
}

function toDate(value: unknown): Date | null {
  if (value == null) return null;
  if (value instanceof Date) return value;
  if (typeof value === "number" || typeof value === "bigint") return new Date(Number(value));
  return new Date(String(value));
}

function rounded(value: unknown): number {
  return Math.round(Number(value ?? 0) * 1e6) / 1e6;
}

/** The 401 the service gives for an unknown or inactive key. */
export function refused(): Response {
  return new Response(JSON.stringify({ error: "Invalid or inactive license", code: "license_invalid", status: null }), {
    status: 401,
    headers: JSON_HEADERS,
  });
}

/** The 200 /api/validate answer for a looked-up row, or the 401 when the license may not be used now. */
export function answerOf(row: LookupRow | null | undefined, now: Date): Response {
  if (!row || row.status !== "active") return refused();
  const expiresAt = toDate(row.expires_at);
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) return refused();
  const features = typeof row.features === "string" ? JSON.parse(row.features) : row.features;
  const monthlyRequests = Number(row.monthly_requests);
  const maxSites = Number(row.max_sites);
  const body = {
    valid: true,
    status: "active",
    plan: row.name,
    plan_display_name: row.display_name,
    domain: row.domain ?? null,
    expires_at: expiresAt?.toISOString() ?? null,
    is_lifetime: Boolean(Number(row.is_lifetime)),
    ai_included: Boolean(Number(row.ai_included)),
    features,
    usage: {
      requests_used: Number(row.used_requests ?? 0),
      requests_limit: monthlyRequests,
      tokens_used: Number(row.used_tokens ?? 0),
      cost_eur: rounded(row.used_cost),
    },
    limits: {
      monthly_requests: monthlyRequests,
      requests_per_minute: Number(row.requests_per_minute),
      requests_per_hour: Number(row.requests_per_hour),
      monthly_budget_eur: Number(row.monthly_budget_eur),
      max_sites: maxSites,
    },
    sites: { active: Number(row.active_sites), limit: maxSites },
    recheck_after_seconds: 3600,
  };
  return new Response(JSON.stringify(body), { headers: JSON_HEADERS });
}

/** `--name value` pairs of a floor's command line. */
export function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument: ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}
