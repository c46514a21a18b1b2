// Plans pages: edit prices, limits, features, allow-lists.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Plans pages: edit prices, limits, features, allow-lists. */
export function createPlanRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-plans" });
}
