// Leases of scheduled jobs: one row per job in job_leases. Whoever holds an unexpired lease runs the job,
// so several instances on one database run each job once per period. Taking a lease is a single
// conditional UPDATE (no long transaction), atomic on SQLite and MariaDB alike.
import { affectedRows, isUniqueViolation, readDate, readJson, readOptionalDate, sqlDate, rawQuery } from "./_support.ts";
import type { Db } from "./orm.ts";

/** A job's lease and its last run, as the admin page shows it. */
export interface JobLease {
  job: string;
  holder: string | null;
  leaseUntil: Date;
  lastStartedAt: Date | null;
  lastFinishedAt: Date | null;
  lastOutcome: string | null;
  lastDetails: Record<string, unknown> | null;
}

/** Outcome of one run of a job. */
export type JobOutcome = "ok" | "error";

type RawRow = Record<string, unknown>;

function toLease(row: RawRow): JobLease {
  return {
    job: String(row.job),
    holder: row.holder == null ? null : String(row.holder),
    leaseUntil: readDate(row.lease_until),
    lastStartedAt: readOptionalDate(row.last_started_at),
    lastFinishedAt: readOptionalDate(row.last_finished_at),
    lastOutcome: row.last_outcome == null ? null : String(row.last_outcome),
    lastDetails: readJson<Record<string, unknown> | null>(row.last_details, null),
  };
}

/** The job_leases table. */
export class DbJobLeases {
  constructor(private readonly db: Db) {}

  private exec(sql: string, params: unknown[], method: "all" | "run" = "all"): Promise<any> {
    return rawQuery(this.db, sql, params, method);
  }

  /**
   * Takes (or renews) the lease of `job` for `leaseMs` when it is free, expired or already ours; true when
   * this holder now holds it. Marks the start of a run. With `startedBefore`, only when the last run started
   * at or before that instant, checked in the same statement: an instance that saw the job due just before
   * another finished it does not run it again.
   */
  async tryAcquire(job: string, holder: string, leaseMs: number, now: Date, startedBefore?: Date): Promise<boolean> {
    const at = sqlDate(this.db, now);
    try {
      // An expired lease (lease_until = now) so the UPDATE below decides who wins, even on a first run.
      await this.exec("insert into job_leases (job, holder, lease_until) values (?, null, ?)", [job, at], "run");
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    const due = startedBefore ? " and (last_started_at is null or last_started_at <= ?)" : "";
    const result = await this.exec(
      `update job_leases set holder = ?, lease_until = ?, last_started_at = ? where job = ? and (lease_until <= ? or holder = ?)${due}`,
      [holder, sqlDate(this.db, new Date(now.getTime() + leaseMs)), at, job, at, holder, ...(startedBefore ? [sqlDate(this.db, startedBefore)] : [])],
      "run",
    );
    return affectedRows(result) === 1;
  }

  /** Records the outcome of a run and releases the lease (only when `holder` still holds it). */
  async finish(job: string, holder: string, outcome: JobOutcome, details: Record<string, unknown>, now: Date): Promise<boolean> {
    const at = sqlDate(this.db, now);
    const result = await this.exec(
      "update job_leases set holder = null, lease_until = ?, last_finished_at = ?, last_outcome = ?, last_details = ? where job = ? and holder = ?",
      [at, at, outcome, JSON.stringify(details), job, holder],
      "run",
    );
    return affectedRows(result) === 1;
  }

  /** Every job that ever ran, by name. */
  async list(): Promise<JobLease[]> {
    const rows = (await this.exec("select * from job_leases order by job", [])) as RawRow[];
    return rows.map(toLease);
  }
}

/** An active license near or past its expiry, with what its mails need. */
export interface ExpiringLicense {
  id: number;
  keyPrefix: string;
  expiresAt: Date;
  email: string;
  customerName: string;
  planName: string;
}

/**
 * The statements of the scheduled jobs that no repository offers: short, batched and conditional, so two
 * instances running the same job (or a rerun after a crash) change nothing twice.
 */
/** One license's AI usage this month against its plan's monthly limits. */
export interface QuotaUsageRow {
  id: number;
  keyPrefix: string;
  email: string;
  customerName: string;
  planName: string;
  monthlyRequests: number;
  monthlyBudgetEur: number;
  requests: number;
  costEur: number;
}

export class DbScheduledWork {
  constructor(private readonly db: Db) {}

  /**
   * Active licenses with AI usage this month (settled calls in the month counter), their plan's monthly
   * limits and their customer, by id above `afterId`, at most `limit`.
   */
  async monthlyQuotaUsage(monthStart: Date, afterId: number, limit: number): Promise<QuotaUsageRow[]> {
    const rows = (await this.exec(
      `select l.id, l.key_prefix, c.email, c.name as customer_name, p.display_name as plan_name,
              p.monthly_requests, p.monthly_budget_eur, q.requests, q.cost_eur
         from quota_counters q join licenses l on l.id = q.license_id
         join customers c on c.id = l.customer_id join plans p on p.id = l.plan_id
        where q.period = 'month' and q.period_start = ? and l.status = 'active' and l.id > ?
        order by l.id limit ${Math.max(1, Math.floor(limit))}`,
      [sqlDate(this.db, monthStart), afterId],
    )) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: Number(r.id),
      keyPrefix: String(r.key_prefix),
      email: String(r.email),
      customerName: String(r.customer_name),
      planName: String(r.plan_name),
      monthlyRequests: Number(r.monthly_requests),
      monthlyBudgetEur: Number(r.monthly_budget_eur),
      requests: Number(r.requests),
      costEur: Number(r.cost_eur),
    }));
  }

  private exec(sql: string, params: unknown[], method: "all" | "run" = "all"): Promise<any> {
    return rawQuery(this.db, sql, params, method);
  }

  /** Active licenses expiring in (after, until] with an id above `afterId`, by id, at most `limit`. */
  async activeExpiring(after: Date | null, until: Date, afterId: number, limit: number): Promise<ExpiringLicense[]> {
    const rows = (await this.exec(
      `select l.id, l.key_prefix, l.expires_at, c.email, c.name as customer_name, p.display_name as plan_name
         from licenses l join customers c on c.id = l.customer_id join plans p on p.id = l.plan_id
        where l.status = 'active' and l.expires_at is not null and l.expires_at <= ?${after ? " and l.expires_at > ?" : ""}
          and l.id > ?
        order by l.id limit ${Math.max(1, Math.floor(limit))}`,
      [sqlDate(this.db, until), ...(after ? [sqlDate(this.db, after)] : []), afterId],
    )) as RawRow[];
    return rows.map((row) => ({
      id: Number(row.id),
      keyPrefix: String(row.key_prefix),
      expiresAt: readDate(row.expires_at),
      email: String(row.email),
      customerName: String(row.customer_name),
      planName: String(row.plan_name),
    }));
  }

  /** Stores status "expired" when the license is still active; true when this call changed it. */
  async markExpired(licenseId: number, now: Date): Promise<boolean> {
    const result = await this.exec(
      "update licenses set status = 'expired', updated_at = ? where id = ? and status = 'active'",
      [sqlDate(this.db, now), licenseId],
      "run",
    );
    return affectedRows(result) === 1;
  }

  /**
   * Deletes at most `limit` raw usage events created before `cutoff` (the oldest ids first); answers how
   * many. Selects the ids then deletes their range: SQLite has no DELETE ... LIMIT and MariaDB no LIMIT in
   * an IN subquery. usage_daily is left alone.
   */
  async deleteUsageEventsBefore(cutoff: Date, limit: number): Promise<number> {
    const at = sqlDate(this.db, cutoff);
    const ids = ((await this.exec(
      `select id from usage_events where created_at < ? order by id limit ${Math.max(1, Math.floor(limit))}`,
      [at],
    )) as RawRow[]).map((r) => Number(r.id));
    if (ids.length === 0) return 0;
    const result = await this.exec(
      "delete from usage_events where id >= ? and id <= ? and created_at < ?",
      [ids[0], ids[ids.length - 1], at],
      "run",
    );
    return affectedRows(result);
  }

  /** Deletes admin sessions that expired at or before `now`. */
  async deleteExpiredAdminSessions(now: Date): Promise<number> {
    return affectedRows(await this.exec("delete from admin_sessions where expires_at <= ?", [sqlDate(this.db, now)], "run"));
  }
}
