// Admin API: the audit log, newest first, filtered like the audit page.
import { Elysia, t } from "elysia";
import { DbReports } from "../../../adapters/db/report_repos.ts";
import { addDays, parseDay } from "../../../domain/reports/mod.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, invalid, IsoTime, pageOf, Paged, PageQuery, Int } from "./_shared.ts";

const Entry = t.Object({
  id: Int(),
  created_at: IsoTime,
  actor: t.Object({ type: t.String(), id: t.Nullable(t.String()), label: t.Nullable(t.String()) }),
  action: t.String(),
  target_type: t.Nullable(t.String()),
  target_id: t.Nullable(t.String()),
  details: t.Nullable(t.Record(t.String(), t.Unknown())),
  client_ip: t.Nullable(t.String()),
});

function day(field: string, text: string | undefined): Date | undefined {
  if (!text) return undefined;
  return parseDay(text) ?? invalid(field, `${field} must be a date as YYYY-MM-DD`);
}

/** The audit log in the admin API. */
export function createAuditApi(deps: AdminApiDeps) {
  const reports = new DbReports(deps.db);
  return new Elysia({ name: "admin-api-audit" }).get(
    "/api/admin/audit",
    async ({ query }) => {
      const from = day("from", query.from);
      const to = day("to", query.to);
      if (from && to && from.getTime() > to.getTime()) invalid("to", "to must not be before from");
      const { page, perPage, offset } = pageOf(query);
      const { items, total } = await reports.auditPage(
        {
          action: query.action || undefined,
          actor: query.actor || undefined,
          targetType: query.target_type || undefined,
          from,
          // The day after 9999-12-31 has no YYYY-MM-DD name (parseDay answers null): no upper bound is then the same range.
          until: to ? (parseDay(addDays(query.to!, 1)) ?? undefined) : undefined,
        },
        offset,
        perPage,
      );
      return {
        items: items.map((e) => ({
          id: e.id,
          created_at: e.createdAt.toISOString(),
          actor: { type: e.actorType, id: e.actorId == null ? null : String(e.actorId), label: e.actorLabel },
          action: e.action,
          target_type: e.targetType,
          target_id: e.targetId == null ? null : String(e.targetId),
          details: e.details,
          client_ip: e.clientIp,
        })),
        total,
        page,
        per_page: perPage,
      };
    },
    {
      query: t.Object({
        ...PageQuery,
        action: t.Optional(t.String({ maxLength: 64, description: "exact action, e.g. license.created" })),
        actor: t.Optional(t.String({ maxLength: 254, description: "part of the actor's label or id" })),
        target_type: t.Optional(t.String({ maxLength: 32 })),
        from: t.Optional(t.String({ maxLength: 10, description: "first day, YYYY-MM-DD (UTC)" })),
        to: t.Optional(t.String({ maxLength: 10, description: "last day, YYYY-MM-DD (UTC, inclusive)" })),
      }),
      response: { 200: Paged(Entry), ...errors() },
      detail: detail("The audit log", "Newest first."),
    },
  );
}
