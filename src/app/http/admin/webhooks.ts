// Outgoing webhooks: endpoints, deliveries, pause and replay.
import { Elysia } from "elysia";
import { DbWebhookDeliveries, DbWebhookEndpoints, type WebhookEndpoint } from "../../../adapters/db/webhook_repos.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import { WEBHOOK_EVENT_TYPES } from "../../../domain/webhooks/mod.ts";
import webhooksTemplate from "../../../../templates/webhooks.html" with { type: "text" };
import webhooksCreatedTemplate from "../../../../templates/webhooks_created.html" with { type: "text" };
import webhooksDeleteTemplate from "../../../../templates/webhooks_delete.html" with { type: "text" };
import webhooksShowTemplate from "../../../../templates/webhooks_show.html" with { type: "text" };
import type { AdminCaller } from "./admin_guard.ts";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { field, html, page, redirect, templateText } from "./render.ts";

const FLASH: Record<string, string> = { paused: "Endpoint paused.", resumed: "Endpoint resumed.", deleted: "Endpoint deleted.", replayed: "Delivery queued again." };

function timeText(date: Date | null): string | null {
  return date ? date.toISOString().replace("T", " ").slice(0, 19) + " UTC" : null;
}

/** Every value of a repeated form field (checkboxes). */
function fieldList(body: unknown, name: string): string[] {
  const value = body && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined;
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string" && v !== "");
}

function endpointView(e: WebhookEndpoint) {
  return { ...e, eventsText: e.events.join(", "), createdText: timeText(e.createdAt) };
}

function idOf(text: string): number | null {
  return /^\d{1,10}$/.test(text) ? Number(text) : null;
}

/** Outgoing webhooks: endpoints, deliveries, pause and replay. */
export function createWebhookRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const endpoints = new DbWebhookEndpoints(deps.db, deps.keyring, deps.random);
  const deliveries = new DbWebhookDeliveries(deps.db);
  const listTemplate = templateText(webhooksTemplate);
  const createdTemplate = templateText(webhooksCreatedTemplate);
  const showTemplate = templateText(webhooksShowTemplate);
  const deleteTemplate = templateText(webhooksDeleteTemplate);
  const notFound = () => html("<p>No such webhook endpoint.</p>", 404);

  async function renderList(
    caller: AdminCaller,
    options: { status?: number; flash?: { kind: string; message: string } | null; errors?: Record<string, string>; form?: { url: string; description: string; events: string[] } } = {},
  ): Promise<Response> {
    const form = options.form ?? { url: "", description: "", events: [] };
    const view = {
      endpoints: (await endpoints.list()).map(endpointView),
      eventTypes: WEBHOOK_EVENT_TYPES.map((type) => ({ type, checked: form.events.includes(type) })),
      form,
      errors: options.errors ?? {},
    };
    return html(page(listTemplate, view, { title: "Webhooks", section: "webhooks", caller, flash: options.flash ?? null }), options.status ?? 200);
  }

  async function renderShow(caller: AdminCaller, id: number, flash: { kind: string; message: string } | null, status = 200): Promise<Response> {
    const endpoint = await endpoints.byId(id);
    if (!endpoint) return notFound();
    const rows = (await deliveries.recent(id, 50)).map((d) => ({
      ...d,
      createdText: timeText(d.createdAt),
      nextText: d.status === "pending" ? timeText(d.nextAttemptAt) : null,
      deliveredText: timeText(d.deliveredAt),
      isDelivered: d.status === "delivered",
      isFailed: d.status === "failed",
    }));
    const body = page(showTemplate, { endpoint: endpointView(endpoint), deliveries: rows, hasDeliveries: rows.length > 0 }, { title: "Webhook endpoint", section: "webhooks", caller, flash });
    return html(body, status);
  }

  return new Elysia({ name: "admin-webhooks" })
    .get("/admin/webhooks", async ({ request, query }) => {
      const done = typeof query.done === "string" ? FLASH[query.done] : undefined;
      return renderList(adminOf(request), { flash: done ? { kind: "ok", message: done } : null });
    })
    .post("/admin/webhooks", async ({ request, body }) => {
      const caller = adminOf(request);
      const form = { url: field(body, "url"), description: field(body, "description"), events: fieldList(body, "events") };
      try {
        const { endpoint, secret } = await endpoints.create({ url: form.url, events: form.events, description: form.description || null }, deps.clock.now());
        await deps.audit.record(
          { actor: caller.actor, action: "webhook_endpoint.created", targetType: "webhook_endpoint", targetId: endpoint.id, details: { url: endpoint.url, events: endpoint.events } },
          deps.clock.now(),
        );
        // The secret is shown on this answer only (no redirect: a reload must not show it again).
        return html(page(createdTemplate, { endpoint: endpointView(endpoint), secret }, { title: "Webhook endpoint created", section: "webhooks", caller }), 201, { "cache-control": "no-store" });
      } catch (error) {
        if (!(error instanceof DomainError) || error.code !== "invalid_argument") throw error;
        const name = typeof error.details.field === "string" ? error.details.field : "form";
        return renderList(caller, { status: 422, errors: { [name]: error.message }, form });
      }
    })
    .get("/admin/webhooks/:id", async ({ request, params, query }) => {
      const id = idOf(params.id);
      if (id === null) return notFound();
      const done = typeof query.done === "string" ? FLASH[query.done] : undefined;
      return renderShow(adminOf(request), id, done ? { kind: "ok", message: done } : null);
    })
    .post("/admin/webhooks/:id/pause", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = idOf(params.id);
      if (id === null || !(await endpoints.setPaused(id, true, deps.clock.now()))) return notFound();
      await deps.audit.record({ actor: caller.actor, action: "webhook_endpoint.paused", targetType: "webhook_endpoint", targetId: id }, deps.clock.now());
      return redirect(request, `/admin/webhooks/${id}?done=paused`);
    })
    .post("/admin/webhooks/:id/resume", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = idOf(params.id);
      if (id === null || !(await endpoints.setPaused(id, false, deps.clock.now()))) return notFound();
      await deps.audit.record({ actor: caller.actor, action: "webhook_endpoint.resumed", targetType: "webhook_endpoint", targetId: id }, deps.clock.now());
      return redirect(request, `/admin/webhooks/${id}?done=resumed`);
    })
    .get("/admin/webhooks/:id/delete", async ({ request, params }) => {
      const id = idOf(params.id);
      const endpoint = id === null ? null : await endpoints.byId(id);
      if (!endpoint) return notFound();
      return html(page(deleteTemplate, { endpoint: endpointView(endpoint) }, { title: "Delete webhook endpoint", section: "webhooks", caller: adminOf(request) }));
    })
    .post("/admin/webhooks/:id/delete", async ({ request, params, body }) => {
      const caller = adminOf(request);
      const id = idOf(params.id);
      const endpoint = id === null ? null : await endpoints.byId(id);
      if (!endpoint) return notFound();
      if (field(body, "confirm") !== "yes") {
        const view = { endpoint: endpointView(endpoint), error: "Tick the confirmation to delete the endpoint." };
        return html(page(deleteTemplate, view, { title: "Delete webhook endpoint", section: "webhooks", caller }), 422);
      }
      await endpoints.delete(endpoint.id);
      await deps.audit.record(
        { actor: caller.actor, action: "webhook_endpoint.deleted", targetType: "webhook_endpoint", targetId: endpoint.id, details: { url: endpoint.url } },
        deps.clock.now(),
      );
      return redirect(request, "/admin/webhooks?done=deleted");
    })
    .post("/admin/webhooks/:id/deliveries/:deliveryId/replay", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = idOf(params.id);
      const deliveryId = idOf(params.deliveryId);
      const delivery = deliveryId === null ? null : await deliveries.byId(deliveryId);
      if (id === null || !delivery || delivery.endpointId !== id) return html("<p>No such delivery.</p>", 404);
      await deliveries.replay(delivery.id, deps.clock.now());
      await deps.audit.record(
        { actor: caller.actor, action: "webhook_delivery.replayed", targetType: "webhook_delivery", targetId: delivery.id, details: { endpointId: id, eventId: delivery.eventId, eventType: delivery.eventType } },
        deps.clock.now(),
      );
      return redirect(request, `/admin/webhooks/${id}?done=replayed`);
    });
}
