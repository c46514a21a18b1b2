// Payments: processed payment events and their effect.
import { Elysia } from "elysia";
import { DbPaymentStore } from "../../../adapters/db/payment_repos.ts";
import paymentsTemplate from "../../../../templates/payments.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { html, page, templateText } from "./render.ts";

/** Events per page of the payments list. */
export const PAYMENTS_PAGE_SIZE = 50;

/** The sources listed: Paddle notifications (purchase claims are bookkeeping and stay hidden). */
const SOURCES = ["paddle", "payment"];

/** Payments: processed payment events and their effect. */
export function createPaymentsAdminRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const store = new DbPaymentStore(deps.db);
  const template = templateText(paymentsTemplate);

  return new Elysia({ name: "admin-payments" }).get("/admin/payments", async ({ request, query }) => {
    const caller = adminOf(request);
    const raw = String((query as Record<string, string | undefined>).page ?? "");
    const pageNumber = /^\d{1,6}$/.test(raw) ? Math.max(1, Number(raw)) : 1;
    const { items, total } = await store.list({ sources: SOURCES, offset: (pageNumber - 1) * PAYMENTS_PAGE_SIZE, limit: PAYMENTS_PAGE_SIZE });
    const pages = Math.max(1, Math.ceil(total / PAYMENTS_PAGE_SIZE));
    const view = {
      total,
      events: items.map((e) => ({
        id: e.id,
        when: e.receivedAt.toISOString(),
        source: e.source,
        eventType: e.eventType,
        eventId: e.eventId,
        outcome: e.outcome,
        licenseId: typeof e.details.license_id === "number" ? e.details.license_id : null,
        // Shown as escaped text, never interpreted: payloads come from outside.
        details: Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : "",
      })),
      pager: pages > 1 || pageNumber > 1 ? { page: pageNumber, pages, prev: pageNumber > 1 ? pageNumber - 1 : null, next: pageNumber < pages ? pageNumber + 1 : null } : null,
    };
    return html(page(template, view, { title: "Payments", section: "payments", caller }));
  });
}
