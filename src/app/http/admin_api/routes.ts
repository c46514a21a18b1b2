// The admin JSON API under /api/admin/ (bearer admin API tokens; see ../admin_api_guard.ts), one module per
// resource. Every route declares its schemas and every status it answers, so the OpenAPI document is complete.
import { Elysia } from "elysia";
import type { AdminAreaDeps } from "../admin/area_deps.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import { createAuditApi } from "./audit.ts";
import { createCustomersApi } from "./customers.ts";
import { createLicensesApi } from "./licenses.ts";
import { createPlansApi } from "./plans.ts";
import { createPricesApi } from "./prices.ts";
import { createProviderKeysApi } from "./provider_keys.ts";
import { createTokensApi } from "./tokens.ts";
import { createUsageApi } from "./usage.ts";

/** What the admin API routes receive. */
export type AdminApiDeps = AdminAreaDeps;

/** The admin API. */
export function createAdminApiRoutes(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  return new Elysia({ name: "admin-api" })
    .use(createCustomersApi(deps, tokenOf))
    .use(createLicensesApi(deps, tokenOf))
    .use(createPlansApi(deps, tokenOf))
    .use(createPricesApi(deps, tokenOf))
    .use(createUsageApi(deps))
    .use(createProviderKeysApi(deps, tokenOf))
    .use(createAuditApi(deps))
    .use(createTokensApi(deps, tokenOf));
}
