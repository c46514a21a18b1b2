// Bulk operations: CSV import of licenses, CSV export of licenses and customers.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Bulk operations: CSV import of licenses, CSV export of licenses and customers. */
export function createBulkRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-bulk" });
}
