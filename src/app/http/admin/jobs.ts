// Scheduled jobs: last run and outcome.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Scheduled jobs: last run and outcome. */
export function createJobsRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-jobs" });
}
