// Usage analytics with CSV export.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Usage analytics with CSV export. */
export function createAnalyticsRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-analytics" });
}
