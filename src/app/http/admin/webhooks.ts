// Outgoing webhooks: endpoints, deliveries, pause and replay.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** Outgoing webhooks: endpoints, deliveries, pause and replay. */
export function createWebhookRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-webhooks" });
}
