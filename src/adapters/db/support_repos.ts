// MikroORM implementations of the small ports: throttle windows, audit log, admin users, usage reads.
import type { AdminUser, AdminUsers, AuditEntry, AuditLog } from "../../domain/admin/mod.ts";
import type { Throttle, ThrottleState } from "../../domain/shared/mod.ts";
import { dayOf, roundEur, type DayUsage, type MonthUsage, type RecentCall, type UsageDay, type UsageLedger } from "../../domain/usage/mod.ts";
import { readDate, retryTransient, sqlDate, rawQuery } from "./_support.ts";
import type { Db } from "./orm.ts";
import { AdminUserRow, AuditLogRow, ThrottleBucketRow } from "./schema.ts";

/**
 * Fixed windows in the shared database, so every instance counts the same hits. One upsert per hit: the
 * window restarts when the stored one has ended. Only failures hit it, never the happy path.
 */
export class DbThrottle implements Throttle {
  constructor(private readonly db: Db) {}

  async hit(bucket: string, windowMs: number, now: Date): Promise<ThrottleState> {
    const start = sqlDate(this.db, now);
    const end = sqlDate(this.db, new Date(now.getTime() + windowMs));
    return retryTransient(() => this.db.orm.em.fork().transactional(async (em) => {
      // em.execute runs on the transaction's connection; em.getConnection().execute would wait for it.
      const conn = em as unknown as { execute(sql: string, params: unknown[], method?: "all" | "run"): Promise<any> };
      if (this.db.dialect === "sqlite") {
        await conn.execute(
          `insert into throttle_buckets (bucket, window_start, hits, expires_at) values (?, ?, 1, ?)
           on conflict(bucket) do update set
             hits = case when throttle_buckets.expires_at <= excluded.window_start then 1 else throttle_buckets.hits + 1 end,
             window_start = case when throttle_buckets.expires_at <= excluded.window_start then excluded.window_start else throttle_buckets.window_start end,
             expires_at = case when throttle_buckets.expires_at <= excluded.window_start then excluded.expires_at else throttle_buckets.expires_at end`,
          [bucket, start, end],
          "run",
        );
      } else {
        // MariaDB applies these assignments left to right: expires_at must be the last one changed.
        await conn.execute(
          `insert into throttle_buckets (bucket, window_start, hits, expires_at) values (?, ?, 1, ?)
           on duplicate key update
             hits = if(expires_at <= values(window_start), 1, hits + 1),
             window_start = if(expires_at <= values(window_start), values(window_start), window_start),
             expires_at = if(expires_at <= values(window_start), values(expires_at), expires_at)`,
          [bucket, start, end],
          "run",
        );
      }
      const rows = await conn.execute(`select hits, expires_at from throttle_buckets where bucket = ?`, [bucket]);
      return { hits: Number(rows[0].hits), resetAt: readDate(rows[0].expires_at) };
    }));
  }

  async peek(bucket: string, now: Date): Promise<ThrottleState | null> {
    const row = await this.db.orm.em.fork().findOne(ThrottleBucketRow, { bucket });
    if (!row || row.expiresAt.getTime() <= now.getTime()) return null;
    return { hits: row.hits, resetAt: row.expiresAt };
  }

  /** Deletes windows that ended before `now` (housekeeping). */
  async prune(now: Date): Promise<number> {
    return this.db.orm.em.fork().nativeDelete(ThrottleBucketRow, { expiresAt: { $lte: now } });
  }
}

/** Text cut to at most `max` characters (code points, as MariaDB counts them); null stays null. */
function clip<T extends string | null>(text: T, max: number): T {
  if (text === null || text.length <= max) return text;
  return Array.from(text).slice(0, max).join("") as T;
}

/** Append-only audit log. */
export class DbAuditLog implements AuditLog {
  constructor(private readonly db: Db) {}

  async record(entry: AuditEntry, now: Date): Promise<void> {
    const em = this.db.orm.em.fork();
    // Clipped to the columns' lengths: a target named from admin input (a 100-character model name) must
    // not make MariaDB refuse the entry, and with it the change it records.
    em.create(AuditLogRow, {
      actorType: clip(entry.actor.type, 16),
      actorId: clip(entry.actor.id ?? null, 64),
      actorLabel: clip(entry.actor.label ?? null, 254),
      action: clip(entry.action, 64),
      targetType: clip(entry.targetType ?? null, 32),
      targetId: clip(entry.targetId == null ? null : String(entry.targetId), 64),
      details: entry.details ?? null,
      clientIp: clip(entry.actor.clientIp ?? null, 64),
      createdAt: now,
    });
    await em.flush();
  }

  /** Most recent entries first (for the CLI and tests; the admin issue adds filters). */
  async recent(limit: number): Promise<Array<AuditEntry & { createdAt: Date }>> {
    const rows = await this.db.orm.em.fork().find(AuditLogRow, {}, { orderBy: { id: "desc" }, limit });
    return rows.map((r) => ({
      actor: { type: r.actorType as AuditEntry["actor"]["type"], id: r.actorId, label: r.actorLabel, clientIp: r.clientIp },
      action: r.action,
      targetType: r.targetType,
      targetId: r.targetId,
      details: r.details ?? {},
      createdAt: r.createdAt,
    }));
  }
}

/** Admin accounts. */
export class DbAdminUsers implements AdminUsers {
  constructor(private readonly db: Db) {}

  count(): Promise<number> {
    return this.db.orm.em.fork().count(AdminUserRow, {});
  }

  async byEmail(email: string): Promise<AdminUser | null> {
    const row = await this.db.orm.em.fork().findOne(AdminUserRow, { email: email.toLowerCase() });
    return row ? { id: row.id, email: row.email, name: row.name, disabled: row.disabled, createdAt: row.createdAt } : null;
  }

  async create(data: { email: string; name: string; passwordHash: string }, now: Date): Promise<AdminUser> {
    const em = this.db.orm.em.fork();
    const row = em.create(AdminUserRow, {
      email: data.email.toLowerCase(),
      name: data.name,
      passwordHash: data.passwordHash,
      disabled: false,
      lastLoginAt: null,
      createdAt: now,
      updatedAt: now,
    });
    await em.flush();
    return { id: row.id, email: row.email, name: row.name, disabled: row.disabled, createdAt: row.createdAt };
  }
}

/** Usage reads: month totals from the quota counters (one indexed row), days from the raw events. */
export class DbUsageLedger implements UsageLedger {
  constructor(private readonly db: Db) {}

  async monthToDate(licenseId: number, monthStart: Date): Promise<MonthUsage> {
    // Plain SQL: this runs on every validation, where ORM hydration would cost more than the query.
    const rows = await rawQuery(this.db, 
        "select requests, tokens, cost_eur from quota_counters where license_id = ? and period = 'month' and period_start = ?",
        [licenseId, sqlDate(this.db, monthStart)],
      );
    const row = rows[0];
    if (!row) return { requests: 0, tokens: 0, costEur: 0 };
    return { requests: Number(row.requests), tokens: Number(row.tokens), costEur: roundEur(Number(row.cost_eur)) };
  }

  /** Per day and endpoint, successful calls (as quotas count them), from the daily aggregates. */
  async daily(licenseId: number, from: Date, to: Date): Promise<DayUsage[]> {
    const rows = (await rawQuery(this.db, 
        `select day, endpoint, sum(requests - errors) as requests, sum(prompt_tokens + completion_tokens) as tokens
           from usage_daily where license_id = ? and day >= ? and day < ? group by day, endpoint order by day`,
        [licenseId, dayOf(from), dayOf(to)],
      )) as Array<{ day: string; endpoint: string; requests: unknown; tokens: unknown }>;
    const days = new Map<string, DayUsage>();
    for (const r of rows) {
      const day = days.get(r.day) ?? { date: r.day, requests: 0, tokens: 0, endpoints: {} };
      day.requests += Number(r.requests);
      day.tokens += Number(r.tokens);
      day.endpoints[r.endpoint] = (day.endpoints[r.endpoint] ?? 0) + Number(r.requests);
      days.set(r.day, day);
    }
    return [...days.values()];
  }

  async days(licenseId: number, from: Date, to: Date, provider?: string): Promise<UsageDay[]> {
    const rows = (await rawQuery(this.db, 
      `select day, provider, model, sum(requests) as requests, sum(errors) as errors,
              sum(prompt_tokens + completion_tokens) as tokens, sum(cost_eur) as cost_eur, sum(total_ms_sum) as total_ms_sum
         from usage_daily where license_id = ? and day >= ? and day < ?${provider ? " and provider = ?" : ""}
        group by day, provider, model order by day`,
      [licenseId, dayOf(from), dayOf(to), ...(provider ? [provider] : [])],
    )) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      day: String(r.day),
      provider: String(r.provider),
      model: String(r.model),
      requests: Number(r.requests),
      errors: Number(r.errors),
      tokens: Number(r.tokens),
      costEur: roundEur(Number(r.cost_eur)),
      totalMsSum: Number(r.total_ms_sum),
    }));
  }

  async recent(licenseId: number, since: Date, limit: number, provider?: string): Promise<RecentCall[]> {
    const rows = (await rawQuery(this.db, 
      `select created_at, provider, model, endpoint, prompt_tokens + completion_tokens as tokens, cost_eur, total_ms, outcome, error_code
         from usage_events where license_id = ? and created_at >= ?${provider ? " and provider = ?" : ""}
        order by created_at desc, id desc limit ${Math.max(1, Math.min(500, Math.floor(limit)))}`,
      [licenseId, sqlDate(this.db, since), ...(provider ? [provider] : [])],
    )) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      createdAt: readDate(r.created_at),
      provider: String(r.provider),
      model: String(r.model),
      endpoint: String(r.endpoint),
      tokens: Number(r.tokens),
      costEur: roundEur(Number(r.cost_eur)),
      totalMs: Number(r.total_ms),
      outcome: String(r.outcome),
      errorCode: (r.error_code as string | null) ?? null,
    }));
  }
}
