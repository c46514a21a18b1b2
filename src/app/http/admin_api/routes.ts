// The admin JSON API under /api/admin/ (bearer admin API tokens; see ../admin_api_guard.ts).
import { Elysia } from "elysia";
import type { AdminAreaDeps } from "../admin/area_deps.ts";
import type { TokenCaller } from "../admin_api_guard.ts";

/** What the admin API routes receive. */
export type AdminApiDeps = AdminAreaDeps;

/** The admin API. */
export function createAdminApiRoutes(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  void deps;
  void tokenOf;
  return new Elysia({ name: "admin-api" });
}
