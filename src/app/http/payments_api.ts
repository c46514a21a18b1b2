// Payment webhooks: Paddle Billing notifications and the old generic payment hook (raw-body signatures).
import { Elysia } from "elysia";
import type { AdminAreaDeps } from "./admin/area_deps.ts";

/** The payment webhook routes; `rawBodyOf` gives the exact bytes the signature covers. */
export function createPaymentRoutes(deps: AdminAreaDeps, rawBodyOf: (request: Request) => string) {
  void deps;
  void rawBodyOf;
  return new Elysia({ name: "payments-api" });
}
