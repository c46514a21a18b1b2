// Licenses pages: list, create, show, lifecycle actions, sites.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Licenses pages: list, create, show, lifecycle actions, sites. */
export function createLicenseRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-licenses" });
}
