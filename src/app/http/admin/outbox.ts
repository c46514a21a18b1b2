// E-mail outbox (GET /admin/outbox, GET /admin/outbox/:id): queued, sent, failed and stored messages.
// The detail shows the plain-text body, escaped; a delivery mail carries the customer's key, which
// admins may see anyway.
import { Elysia } from "elysia";
import { DbOutbox, OUTBOX_STATUSES, type OutboxStatus } from "../../../adapters/db/outbox_repo.ts";
import outboxTemplate from "../../../../templates/outbox.html" with { type: "text" };
import resultsTemplate from "../../../../templates/_outbox_results.html" with { type: "text" };
import showTemplate from "../../../../templates/outbox_show.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { fragment, html, page, templateText } from "./render.ts";

/** Messages per page of the outbox. */
export const OUTBOX_PAGE_SIZE = 50;

type Query = Record<string, string | undefined>;

function readQuery(query: Query): { status: OutboxStatus | ""; page: number } {
  const raw = (query.status ?? "").trim();
  const status = (OUTBOX_STATUSES as readonly string[]).includes(raw) ? (raw as OutboxStatus) : "";
  const pageText = (query.page ?? "").trim();
  return { status, page: /^\d{1,6}$/.test(pageText) ? Math.max(1, Number(pageText)) : 1 };
}

// A history restore (htmx asks again with HX-Request after a cache miss) needs the whole page.
function wantsRegion(request: Request): boolean {
  return request.headers.get("hx-request") === "true" && request.headers.get("hx-history-restore-request") !== "true";
}

/** E-mail outbox: queued, sent and failed messages. */
export function createOutboxRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const outbox = new DbOutbox(deps.db, { keyring: deps.keyring });
  const template = templateText(outboxTemplate);
  const results = templateText(resultsTemplate);
  const show = templateText(showTemplate);

  return new Elysia({ name: "admin-outbox" })
    .get("/admin/outbox", async ({ request, query }) => {
      const caller = adminOf(request);
      const q = readQuery(query as Query);
      const { items, total } = await outbox.listOutbox({ status: q.status || undefined, page: q.page, pageSize: OUTBOX_PAGE_SIZE });
      const pages = Math.max(1, Math.ceil(total / OUTBOX_PAGE_SIZE));
      const link = (n: number) => new URLSearchParams({ ...(q.status ? { status: q.status } : {}), page: String(n) }).toString();
      const view = {
        total,
        statuses: OUTBOX_STATUSES.map((value) => ({ value, selected: value === q.status })),
        storedOnly: items.some((m) => m.status === "stored"),
        messages: items.map((m) => ({
          id: m.id,
          created: m.createdAt.toISOString(),
          to: m.to,
          subject: m.subject,
          kind: m.kind,
          status: m.status,
          sent: m.sentAt?.toISOString() ?? "",
          attempts: m.attempts,
          lastError: m.lastError ?? "",
        })),
        pager: pages > 1 || q.page > 1 ? { page: q.page, pages, prev: q.page > 1 ? link(q.page - 1) : null, next: q.page < pages ? link(q.page + 1) : null } : null,
      };
      if (wantsRegion(request)) return html(fragment(results, view));
      return html(page(template, view, { title: "E-mail outbox", section: "outbox", caller, partials: { results } }));
    })
    .get("/admin/outbox/:id", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = /^\d{1,12}$/.test(params.id) ? Number(params.id) : 0;
      const message = id > 0 ? await outbox.get(id) : null;
      if (!message) {
        return html(page('<section class="card"><h1>Not found</h1><p>This message does not exist (any more).</p></section>', {}, { title: "Not found", section: "outbox", caller }), 404);
      }
      const view = {
        id: message.id,
        to: message.to,
        subject: message.subject,
        kind: message.kind,
        status: message.status,
        attempts: message.attempts,
        lastError: message.lastError ?? "",
        created: message.createdAt.toISOString(),
        queued: message.status === "queued",
        next: message.nextAttemptAt.toISOString(),
        sent: message.sentAt?.toISOString() ?? "",
        dedupeKey: message.dedupeKey,
        text: message.text,
      };
      return html(page(show, view, { title: message.subject, section: "outbox", caller }));
    });
}
