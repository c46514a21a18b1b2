// Plugin API (header X-License-Key): service info, health, validation, site activation, usage.
import { Elysia, t } from "elysia";
import type { AuditLog } from "../../domain/admin/mod.ts";
import {
  activateSite,
  deactivateSite,
  validateLicense,
  type Licenses,
  type SiteActivations,
  type SiteChange,
} from "../../domain/licensing/mod.ts";
import type { Plans } from "../../domain/plans/mod.ts";
import { retryAfterSeconds, type Clock, type Throttle } from "../../domain/shared/mod.ts";
import type { UsageLedger } from "../../domain/usage/mod.ts";
import { asIs, BODY_ERRORS, errorResponse, LICENSE_ERRORS, LICENSE_SECURITY } from "./docs.ts";
import { errorBody, json } from "./errors.ts";
import type { LicensedCaller, ServerLike } from "./license_guard.ts";

/** Ports and settings the plugin API needs. */
export interface PluginApiDeps {
  licenses: Licenses;
  plans: Plans;
  sites: SiteActivations;
  usage: UsageLedger;
  audit: AuditLog;
  throttle: Throttle;
  clock: Clock;
  version: string;
  checkDatabase(): Promise<boolean>;
  clientIpOf(request: Request, server: ServerLike): string;
}

/** How long a plugin may cache a successful validation before asking again. */
export const RECHECK_AFTER_SECONDS = 3600;

const SiteBody = t.Object({ site_url: t.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: true });
const ValidateBody = t.Optional(
  t.Object({ site_url: t.Optional(t.Union([t.String({ maxLength: 2048 }), t.Null()])) }, { additionalProperties: true }),
);

const Open = { additionalProperties: true } as const;
const Sites = t.Object({ active: t.Number(), limit: t.Number({ description: "-1 = unlimited" }) }, Open);

const ServiceInfo = t.Object(
  { name: t.String(), description: t.String(), version: t.String(), docs: t.String(), health: t.String(), endpoints: t.Array(t.String()) },
  {
    ...Open,
    description: "Service name, version, links and public endpoints",
    examples: [{ name: "Chatello", description: "License server and AI proxy for WordPress plugins", version: "1.0.0", docs: "/swagger", health: "/api/health", endpoints: ["GET /api/health", "POST /api/validate"] }],
  },
);

function healthSchema(description: string, example: Record<string, unknown>) {
  return t.Object(
    { status: t.String(), version: t.String(), timestamp: t.String({ format: "date-time" }), checks: t.Object({ database: t.String() }, Open) },
    { ...Open, description, examples: [example] },
  );
}

const ValidateExample = {
  valid: true,
  status: "active",
  plan: "pro",
  plan_display_name: "Pro - AI Included",
  domain: "shop.example.com",
  expires_at: null,
  is_lifetime: false,
  ai_included: true,
  features: ["ai_included", "3_sites"],
  usage: { requests_used: 12, requests_limit: 1000, tokens_used: 3456, cost_eur: 0.0123 },
  limits: { monthly_requests: 1000, requests_per_minute: 10, requests_per_hour: 200, monthly_budget_eur: 4.0, max_sites: 3 },
  sites: { active: 1, limit: 3 },
  site: "shop.example.com",
  site_active: true,
  recheck_after_seconds: 3600,
};

const ValidateOk = t.Object(
  {
    valid: t.Boolean(),
    status: t.String(),
    plan: t.String(),
    plan_display_name: t.String(),
    domain: t.Union([t.String(), t.Null()]),
    expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
    is_lifetime: t.Boolean(),
    ai_included: t.Boolean(),
    features: t.Array(t.String()),
    usage: t.Object({ requests_used: t.Number(), requests_limit: t.Number(), tokens_used: t.Number(), cost_eur: t.Number() }, Open),
    limits: t.Object(
      { monthly_requests: t.Number(), requests_per_minute: t.Number(), requests_per_hour: t.Number(), monthly_budget_eur: t.Number(), max_sites: t.Number() },
      Open,
    ),
    sites: Sites,
    site: t.Optional(t.String({ description: "The host of the given site_url" })),
    site_active: t.Optional(t.Boolean({ description: "False: a free seat exists but the site is not activated yet (call /api/activate)" })),
    recheck_after_seconds: t.Number(),
  },
  { ...Open, description: "The license is valid", examples: [ValidateExample] },
);

const SiteChangeOk = t.Object(
  { success: t.Boolean(), site: t.String(), changed: t.Boolean(), sites: Sites },
  { ...Open, description: "The site is (de)activated (already so: changed false)", examples: [{ success: true, site: "shop.example.com", changed: true, sites: { active: 1, limit: 3 } }] },
);

const SITE_CHANGE_RESPONSES = {
  200: SiteChangeOk,
  ...BODY_ERRORS,
  401: LICENSE_ERRORS[401],
  403: errorResponse("Site limit reached", { error: "Site limit reached", code: "site_limit_reached", limit: 3, active_sites: ["a.com", "b.com", "c.com"] }),
  422: errorResponse("site_url missing or not a site", { error: "Invalid request: site_url: Expected string", code: "invalid_request", field: "site_url" }),
  429: errorResponse(
    "Too many site changes for this license, or too many invalid keys from this address (Retry-After)",
    { error: "Too many site changes for this license, try again later", code: "site_changes_limited", reset_time: "2026-03-15T13:00:00.000Z" },
    LICENSE_ERRORS[429].examples[0],
  ),
};

function siteChangeResponse(result: SiteChange, now: Date) {
  switch (result.kind) {
    case "limit_reached":
      return asIs(json(403, errorBody("Site limit reached", "site_limit_reached", { limit: result.limit, active_sites: result.activeSites })));
    case "too_many_changes":
      return asIs(
        json(
          429,
          errorBody("Too many site changes for this license, try again later", "site_changes_limited", { reset_time: result.resetAt.toISOString() }),
          { "retry-after": String(retryAfterSeconds(result.resetAt, now)) },
        ),
      );
    case "done":
      return { success: true, site: result.host, changed: result.changed, sites: result.sites };
  }
}

/** The plugin-facing routes of the contract. */
export function createPluginApiRoutes(deps: PluginApiDeps, licenseOf: (request: Request) => LicensedCaller) {
  return new Elysia({ name: "plugin-api" })
    .get("/", () => ({
      name: "Chatello",
      description: "License server and AI proxy for WordPress plugins",
      version: deps.version,
      docs: "/swagger",
      health: "/api/health",
      endpoints: [
        "GET /api/health",
        "POST /api/validate",
        "POST /api/activate",
        "POST /api/deactivate",
        "POST /api/chat",
        "GET /api/usage",
        "GET /api/usage/current",
        "GET /api/usage/history",
        "GET /api/limits/check",
        "GET /api/keys",
        "PUT /api/keys/{provider}",
        "DELETE /api/keys/{provider}",
        "POST /v1/chat/completions",
        "GET /v1/models",
      ],
    }), {
      detail: { summary: "Service information", description: "Name, version, links to the docs and health check, and the public endpoints.", tags: ["Service"], security: [] },
      response: { 200: ServiceInfo },
    })
    .get("/api/health", async ({ set }) => {
      // The timer is cleared once the database answered: left running, every probe would hold it (and what it
      // closes over) for the full 3 s, which under frequent probing adds up to megabytes.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await Promise.race([
        deps.checkDatabase().catch(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 3000);
        }),
      ]).finally(() => clearTimeout(timer));
      set.status = ok ? 200 : 503;
      return {
        status: ok ? "healthy" : "unhealthy",
        version: deps.version,
        timestamp: deps.clock.now().toISOString(),
        checks: { database: ok ? "ok" : "unreachable" },
      };
    }, {
      detail: { summary: "Health check", description: "200 when the database answers, 503 otherwise. No counts, no configuration.", tags: ["Service"], security: [] },
      response: {
        200: healthSchema("Healthy", { status: "healthy", version: "1.0.0", timestamp: "2026-03-15T12:00:00.000Z", checks: { database: "ok" } }),
        503: healthSchema("The database does not answer", { status: "unhealthy", version: "1.0.0", timestamp: "2026-03-15T12:00:00.000Z", checks: { database: "unreachable" } }),
      },
    })
    .post(
      "/api/validate",
      async ({ request, body }) => {
        const auth = licenseOf(request);
        const outcome = await validateLicense(deps, { license: auth.license, plan: auth.plan, siteUrl: body?.site_url, prefetched: auth.validationReads });
        if (outcome.kind === "site_not_activated") {
          return asIs(json(403, errorBody("Site not activated for this license", "site_not_activated", { site: outcome.host })));
        }
        const { license, plan, usage, sites, site } = outcome.result;
        return {
          valid: true,
          status: "active",
          plan: plan.name,
          plan_display_name: plan.displayName,
          domain: license.domain,
          expires_at: license.expiresAt?.toISOString() ?? null,
          is_lifetime: plan.isLifetime,
          ai_included: plan.aiIncluded,
          features: plan.features,
          usage: {
            requests_used: usage.requests,
            requests_limit: plan.limits.monthlyRequests,
            tokens_used: usage.tokens,
            cost_eur: usage.costEur,
          },
          limits: {
            monthly_requests: plan.limits.monthlyRequests,
            requests_per_minute: plan.limits.requestsPerMinute,
            requests_per_hour: plan.limits.requestsPerHour,
            monthly_budget_eur: plan.limits.monthlyBudgetEur,
            max_sites: plan.limits.maxSites,
          },
          sites,
          ...(site ? { site: site.host, site_active: site.active } : {}),
          recheck_after_seconds: RECHECK_AFTER_SECONDS,
        };
      },
      {
        body: ValidateBody,
        detail: {
          summary: "Validate a license",
          description:
            "Checks the X-License-Key and returns plan, limits, this month's usage and seats. With `site_url`, also says whether " +
            "that site is activated (`site_active`); validation never activates a site and consumes no quota.",
          tags: ["Licenses"],
          security: LICENSE_SECURITY,
        },
        response: {
          200: ValidateOk,
          ...BODY_ERRORS,
          401: LICENSE_ERRORS[401],
          403: errorResponse("The site is not activated and the license has no free seat", {
            error: "Site not activated for this license",
            code: "site_not_activated",
            site: "shop.example.com",
          }),
          429: LICENSE_ERRORS[429],
        },
      },
    )
    .post(
      "/api/activate",
      async ({ request, body }) => {
        const { license, plan, actor } = licenseOf(request);
        const result = await activateSite(deps, { license, plan, siteUrl: body.site_url, actor });
        return siteChangeResponse(result, deps.clock.now());
      },
      {
        body: SiteBody,
        detail: {
          summary: "Activate a site",
          description:
            "Binds the site's host (scheme and `www.` ignored) to the license, up to the plan's max_sites. Already active: a no-op 200. " +
            "Local and staging hosts are recorded but take no seat.",
          tags: ["Licenses"],
          security: LICENSE_SECURITY,
        },
        response: SITE_CHANGE_RESPONSES,
      },
    )
    .post(
      "/api/deactivate",
      async ({ request, body }) => {
        const { license, plan, actor } = licenseOf(request);
        const result = await deactivateSite(deps, { license, plan, siteUrl: body.site_url, actor });
        return siteChangeResponse(result, deps.clock.now());
      },
      {
        body: SiteBody,
        detail: { summary: "Deactivate a site", description: "Releases the site's seat.", tags: ["Licenses"], security: LICENSE_SECURITY },
        response: SITE_CHANGE_RESPONSES,
      },
    );
}

