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

function siteChangeResponse(result: SiteChange, now: Date): Response | Record<string, unknown> {
  switch (result.kind) {
    case "limit_reached":
      return json(403, errorBody("Site limit reached", "site_limit_reached", { limit: result.limit, active_sites: result.activeSites }));
    case "too_many_changes":
      return json(
        429,
        errorBody("Too many site changes for this license, try again later", "site_changes_limited", { reset_time: result.resetAt.toISOString() }),
        { "retry-after": String(retryAfterSeconds(result.resetAt, now)) },
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
    }))
    .get("/api/health", async ({ set }) => {
      const ok = await Promise.race([
        deps.checkDatabase().catch(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000)),
      ]);
      set.status = ok ? 200 : 503;
      return {
        status: ok ? "healthy" : "unhealthy",
        version: deps.version,
        timestamp: deps.clock.now().toISOString(),
        checks: { database: ok ? "ok" : "unreachable" },
      };
    })
    .post(
      "/api/validate",
      async ({ request, body }) => {
        const auth = licenseOf(request);
        const outcome = await validateLicense(deps, { license: auth.license, plan: auth.plan, siteUrl: body?.site_url });
        if (outcome.kind === "site_not_activated") {
          return json(403, errorBody("Site not activated for this license", "site_not_activated", { site: outcome.host }));
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
      { body: ValidateBody },
    )
    .post(
      "/api/activate",
      async ({ request, body }) => {
        const { license, plan, actor } = licenseOf(request);
        const result = await activateSite(deps, { license, plan, siteUrl: body.site_url, actor });
        return siteChangeResponse(result, deps.clock.now());
      },
      { body: SiteBody },
    )
    .post(
      "/api/deactivate",
      async ({ request, body }) => {
        const { license, plan, actor } = licenseOf(request);
        const result = await deactivateSite(deps, { license, plan, siteUrl: body.site_url, actor });
        return siteChangeResponse(result, deps.clock.now());
      },
      { body: SiteBody },
    );
}

