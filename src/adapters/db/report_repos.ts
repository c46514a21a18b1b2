// Read-only queries behind the admin dashboard, analytics and audit log. Plain SQL that runs unchanged on
// SQLite and MariaDB; usage always comes from the daily aggregates (usage_daily), never from a scan of the
// raw events, except the bounded last-24-hours count that walks the created_at index.
import type { PlanLicenseCounts, UsageSlice } from "../../domain/reports/mod.ts";
import { readDate, readJson, readOptionalDate, sqlDate, rawQuery } from "./_support.ts";
import type { Db } from "./orm.ts";

/** Headline counts of customers and licenses at an instant. */
export interface LicenseCounts {
  customers: number;
  /** Effective status active: stored active and not past expires_at. */
  activeLicenses: number;
  /** Stored expired, or past expires_at and not cancelled. */
  expiredLicenses: number;
}

/** Usage sums of a span of days. */
export interface UsageSums {
  requests: number;
  errors: number;
  tokens: number;
  costEur: number;
}

/** One of the latest licenses, with its customer and plan. */
export interface RecentLicense {
  id: number;
  keyPrefix: string;
  status: string;
  expiresAt: Date | null;
  createdAt: Date;
  customerEmail: string;
  customerName: string;
  planName: string;
  planDisplayName: string;
}

/** A license or customer ranked by usage. */
export interface RankedUsage {
  id: number;
  label: string;
  detail: string;
  requests: number;
  errors: number;
  tokens: number;
  costEur: number;
}

/** Filters of the audit log; days are inclusive UTC 'YYYY-MM-DD' bounds. */
export interface AuditFilter {
  action?: string;
  actor?: string;
  targetType?: string;
  from?: Date;
  /** Exclusive upper bound (the start of the day after the last day shown). */
  until?: Date;
}

/** One audit entry as the admin lists it. */
export interface AuditRow {
  id: number;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown> | null;
  clientIp: string | null;
  createdAt: Date;
}

type Row = Record<string, unknown>;

const num = (v: unknown) => (v == null ? 0 : Number(v));
const money = (v: unknown) => Math.round(num(v) * 1e6) / 1e6;

/** The reports' queries. */
export class DbReports {
  constructor(private readonly db: Db) {}

  private all(sql: string, params: unknown[] = []): Promise<Row[]> {
    return rawQuery(this.db, sql, params) as Promise<Row[]>;
  }

  /** Customers, effectively active licenses and expired licenses at `now`. */
  async licenseCounts(now: Date): Promise<LicenseCounts> {
    const at = sqlDate(this.db, now);
    const rows = await this.all(
      `select
         (select count(*) from customers) as customers,
         (select count(*) from licenses where status = 'active' and (expires_at is null or expires_at > ?)) as active_licenses,
         (select count(*) from licenses
           where status = 'expired' or (status <> 'cancelled' and expires_at is not null and expires_at <= ?)) as expired_licenses`,
      [at, at],
    );
    return { customers: num(rows[0].customers), activeLicenses: num(rows[0].active_licenses), expiredLicenses: num(rows[0].expired_licenses) };
  }

  /** Every plan with its effectively active and non-cancelled license counts at `now`. */
  async planLicenseCounts(now: Date): Promise<PlanLicenseCounts[]> {
    const rows = await this.all(
      `select p.id, p.name, p.display_name, p.price_eur, p.billing, p.is_lifetime, p.lifetime_cap,
              sum(case when l.status = 'active' and (l.expires_at is null or l.expires_at > ?) then 1 else 0 end) as active,
              sum(case when l.id is not null and l.status <> 'cancelled' then 1 else 0 end) as non_cancelled
         from plans p left join licenses l on l.plan_id = p.id
        group by p.id, p.name, p.display_name, p.price_eur, p.billing, p.is_lifetime, p.lifetime_cap
        order by p.id`,
      [sqlDate(this.db, now)],
    );
    return rows.map((r) => ({
      planId: num(r.id),
      name: String(r.name),
      displayName: String(r.display_name),
      priceEur: num(r.price_eur),
      billing: String(r.billing),
      isLifetime: num(r.is_lifetime) === 1 || r.is_lifetime === true,
      lifetimeCap: r.lifetime_cap == null ? null : num(r.lifetime_cap),
      active: num(r.active),
      nonCancelled: num(r.non_cancelled),
    }));
  }

  /** Billed AI calls (outcome ok or partial) with since < created_at <= until, counted on the created_at index. */
  async billedCallsBetween(since: Date, until: Date): Promise<number> {
    const rows = await this.all(
      "select count(*) as n from usage_events where created_at > ? and created_at <= ? and outcome in ('ok', 'partial')",
      [sqlDate(this.db, since), sqlDate(this.db, until)],
    );
    return num(rows[0].n);
  }

  /** Sums of the daily aggregates over an inclusive span of days. */
  async usageSums(fromDay: string, toDay: string): Promise<UsageSums> {
    const rows = await this.all(
      `select sum(requests) as requests, sum(errors) as errors, sum(prompt_tokens + completion_tokens) as tokens, sum(cost_eur) as cost_eur
         from usage_daily where day >= ? and day <= ?`,
      [fromDay, toDay],
    );
    const r = rows[0] ?? {};
    return { requests: num(r.requests), errors: num(r.errors), tokens: num(r.tokens), costEur: money(r.cost_eur) };
  }

  /** The daily aggregates over an inclusive span of days, summed over licenses and endpoints. */
  async usageSlices(fromDay: string, toDay: string): Promise<UsageSlice[]> {
    const rows = await this.all(
      `select day, provider, model, sum(requests) as requests, sum(errors) as errors, sum(prompt_tokens) as prompt_tokens,
              sum(completion_tokens) as completion_tokens, sum(cost_eur) as cost_eur, sum(total_ms_sum) as total_ms_sum
         from usage_daily where day >= ? and day <= ?
        group by day, provider, model order by day, provider, model`,
      [fromDay, toDay],
    );
    return rows.map((r) => ({
      day: String(r.day),
      provider: String(r.provider),
      model: String(r.model),
      requests: num(r.requests),
      errors: num(r.errors),
      promptTokens: num(r.prompt_tokens),
      completionTokens: num(r.completion_tokens),
      costEur: money(r.cost_eur),
      totalMsSum: num(r.total_ms_sum),
    }));
  }

  /** The licenses that used most over a span of days, by cost or by requests. */
  async topLicenses(fromDay: string, toDay: string, by: "cost" | "requests", limit = 10): Promise<RankedUsage[]> {
    return this.ranked(
      `select l.id as id, l.key_prefix as label, c.email as detail,`,
      "group by l.id, l.key_prefix, c.email",
      fromDay,
      toDay,
      by,
      limit,
    );
  }

  /** The customers that used most over a span of days, by cost or by requests. */
  async topCustomers(fromDay: string, toDay: string, by: "cost" | "requests", limit = 10): Promise<RankedUsage[]> {
    return this.ranked(`select c.id as id, c.email as label, c.name as detail,`, "group by c.id, c.email, c.name", fromDay, toDay, by, limit);
  }

  private async ranked(select: string, groupBy: string, fromDay: string, toDay: string, by: "cost" | "requests", limit: number): Promise<RankedUsage[]> {
    const order = by === "cost" ? "sum(u.cost_eur) desc, sum(u.requests) desc" : "sum(u.requests) desc, sum(u.cost_eur) desc";
    const rows = await this.all(
      `${select} sum(u.requests) as requests, sum(u.errors) as errors,
              sum(u.prompt_tokens + u.completion_tokens) as tokens, sum(u.cost_eur) as cost_eur
         from usage_daily u join licenses l on l.id = u.license_id join customers c on c.id = l.customer_id
        where u.day >= ? and u.day <= ?
        ${groupBy} order by ${order}, id limit ${Math.max(1, Math.min(100, Math.floor(limit)))}`,
      [fromDay, toDay],
    );
    return rows.map((r) => ({
      id: num(r.id),
      label: String(r.label),
      detail: String(r.detail ?? ""),
      requests: num(r.requests),
      errors: num(r.errors),
      tokens: num(r.tokens),
      costEur: money(r.cost_eur),
    }));
  }

  /** The latest licenses with their customers and plans. */
  async recentLicenses(limit = 10): Promise<RecentLicense[]> {
    const rows = await this.all(
      `select l.id, l.key_prefix, l.status, l.expires_at, l.created_at, c.email, c.name, p.name as plan_name, p.display_name
         from licenses l join customers c on c.id = l.customer_id join plans p on p.id = l.plan_id
        order by l.created_at desc, l.id desc limit ${Math.max(1, Math.min(100, Math.floor(limit)))}`,
    );
    return rows.map((r) => ({
      id: num(r.id),
      keyPrefix: String(r.key_prefix),
      status: String(r.status),
      expiresAt: readOptionalDate(r.expires_at),
      createdAt: readDate(r.created_at),
      customerEmail: String(r.email),
      customerName: String(r.name),
      planName: String(r.plan_name),
      planDisplayName: String(r.display_name),
    }));
  }

  private auditWhere(filter: AuditFilter): { sql: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.action) {
      clauses.push("action = ?");
      params.push(filter.action);
    }
    if (filter.actor) {
      // instr() has no wildcards, so "_" and "%" in a search mean themselves on both dialects.
      clauses.push("(instr(lower(coalesce(actor_label, '')), ?) > 0 or instr(lower(coalesce(actor_id, '')), ?) > 0)");
      params.push(filter.actor.toLowerCase(), filter.actor.toLowerCase());
    }
    if (filter.targetType) {
      clauses.push("target_type = ?");
      params.push(filter.targetType);
    }
    if (filter.from) {
      clauses.push("created_at >= ?");
      params.push(sqlDate(this.db, filter.from));
    }
    if (filter.until) {
      clauses.push("created_at < ?");
      params.push(sqlDate(this.db, filter.until));
    }
    return { sql: clauses.length ? `where ${clauses.join(" and ")}` : "", params };
  }

  /** One page of the audit log, newest first, and how many entries match. */
  async auditPage(filter: AuditFilter, offset: number, limit: number): Promise<{ items: AuditRow[]; total: number }> {
    const where = this.auditWhere(filter);
    const count = await this.all(`select count(*) as n from audit_log ${where.sql}`, where.params);
    const rows = await this.all(
      `select id, actor_type, actor_id, actor_label, action, target_type, target_id, details, client_ip, created_at
         from audit_log ${where.sql} order by created_at desc, id desc
        limit ${Math.max(1, Math.floor(limit))} offset ${Math.max(0, Math.floor(offset))}`,
      where.params,
    );
    return {
      total: num(count[0].n),
      items: rows.map((r) => ({
        id: num(r.id),
        actorType: String(r.actor_type),
        actorId: (r.actor_id as string | null) ?? null,
        actorLabel: (r.actor_label as string | null) ?? null,
        action: String(r.action),
        targetType: (r.target_type as string | null) ?? null,
        targetId: (r.target_id as string | null) ?? null,
        details: readJson<Record<string, unknown> | null>(r.details, null),
        clientIp: (r.client_ip as string | null) ?? null,
        createdAt: readDate(r.created_at),
      })),
    };
  }

  /** The actions and target types present in the audit log, for the filter menus. */
  async auditFacets(): Promise<{ actions: string[]; targetTypes: string[] }> {
    const actions = await this.all("select distinct action from audit_log order by action");
    const targets = await this.all("select distinct target_type from audit_log where target_type is not null order by target_type");
    return { actions: actions.map((r) => String(r.action)), targetTypes: targets.map((r) => String(r.target_type)) };
  }
}
