// Audit log, filterable.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Audit log, filterable. */
export function createAuditRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-audit" });
}
