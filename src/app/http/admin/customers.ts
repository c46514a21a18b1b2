// Customers pages and the old dashboard's customer JSON routes.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Customers pages and the old dashboard's customer JSON routes. */
export function createCustomerRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-customers" });
}
