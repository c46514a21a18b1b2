// Vendor provider keys: set, replace, remove, test connection.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Vendor provider keys: set, replace, remove, test connection. */
export function createProviderRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-providers" });
}
