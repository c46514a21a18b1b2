// Every admin area, composed: each module owns its pages, fragments and actions.
import { Elysia } from "elysia";
import { createAnalyticsRoutes } from "./analytics.ts";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { createAuditRoutes } from "./audit.ts";
import { createBulkRoutes } from "./bulk.ts";
import { createJobsRoutes } from "./jobs.ts";
import { createOutboxRoutes } from "./outbox.ts";
import { createPaymentsAdminRoutes } from "./payments.ts";
import { createWebhookRoutes } from "./webhooks.ts";
import { createCustomerRoutes } from "./customers.ts";
import { createDashboardRoutes } from "./dashboard.ts";
import { createLicenseRoutes } from "./licenses.ts";
import { createPlanRoutes } from "./plans.ts";
import { createProviderRoutes } from "./providers.ts";

/** The admin's area routes. */
export function createAdminAreaRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  return new Elysia({ name: "admin-areas" })
    .use(createDashboardRoutes(deps, adminOf))
    .use(createCustomerRoutes(deps, adminOf))
    .use(createLicenseRoutes(deps, adminOf))
    .use(createPlanRoutes(deps, adminOf))
    .use(createProviderRoutes(deps, adminOf))
    .use(createAnalyticsRoutes(deps, adminOf))
    .use(createAuditRoutes(deps, adminOf))
    .use(createPaymentsAdminRoutes(deps, adminOf))
    .use(createOutboxRoutes(deps, adminOf))
    .use(createJobsRoutes(deps, adminOf))
    .use(createWebhookRoutes(deps, adminOf))
    .use(createBulkRoutes(deps, adminOf));
}
