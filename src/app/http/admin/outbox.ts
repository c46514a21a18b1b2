// E-mail outbox: queued, sent and failed messages.
import { Elysia } from "elysia";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";

/** E-mail outbox: queued, sent and failed messages. */
export function createOutboxRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  void deps;
  void adminOf;
  return new Elysia({ name: "admin-outbox" });
}
