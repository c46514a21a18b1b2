// Payments: processed payment events and their effect.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Payments: processed payment events and their effect. */
export function createPaymentsAdminRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-payments" });
}
