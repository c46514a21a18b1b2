// The service's scheduled jobs. Each is idempotent: running it twice (two instances, or a rerun after a
// crash) changes nothing more, and mails carry a dedupeKey so the outbox keeps one per purpose.
// Daily usage aggregates need no job: usage_daily is maintained on write, in the same transaction as the
// raw events (BatchedUsageRecorder), and survives the retention job.
import { DbScheduledWork, type ExpiringLicense } from "../adapters/db/job_leases.ts";
import { USAGE_BATCH_ID_DAYS } from "../adapters/db/proxy_repos.ts";
import { monthStart } from "../domain/usage/mod.ts";
import { SYSTEM_ACTOR } from "../domain/admin/mod.ts";
import { renderMail, type MailKind, type Outbox } from "../domain/mail/mod.ts";
import type { JobDefinition } from "./scheduler.ts";
import type { Services } from "./services.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Days before expiry when the customer is reminded (once per expiry date). */
export const EXPIRY_REMINDER_DAYS = 7;

/** Rows handled per statement by the batched jobs, so no job holds long locks. */
export const JOB_BATCH_SIZE = 500;

/** Names of the scheduled jobs (also their lease keys). */
export const JOB_NAMES = {
  expirySweep: "license_expiry_sweep",
  expiryReminders: "license_expiry_reminders",
  usageRetention: "usage_retention",
  housekeeping: "housekeeping",
  quotaWarnings: "quota_warnings",
} as const;

/** The scheduled jobs over the composed services; without an outbox no mail is queued. */
export function createJobs(
  services: Services,
  options: { retentionDays: number; outbox?: Outbox; publicUrl?: string },
): JobDefinition[] {
  const work = new DbScheduledWork(services.db);

  async function mail(kind: MailKind, dedupeKey: string, license: ExpiringLicense, now: Date): Promise<boolean> {
    if (!options.outbox) return false;
    const rendered = renderMail(kind, {
      customerName: license.customerName,
      keyPrefix: license.keyPrefix,
      planName: license.planName,
      expiresAt: license.expiresAt,
      publicUrl: options.publicUrl ?? "",
    });
    return options.outbox.enqueue({ dedupeKey, kind, to: license.email, ...rendered }, now);
  }

  const expirySweep: JobDefinition = {
    name: JOB_NAMES.expirySweep,
    everyMs: 5 * MINUTE,
    async run(now) {
      let expired = 0;
      let mailsQueued = 0;
      let lastId = 0;
      for (;;) {
        const batch = await work.activeExpiring(null, now, lastId, JOB_BATCH_SIZE);
        for (const license of batch) {
          lastId = license.id;
          // Conditional: an admin (or another instance) changing the status meanwhile wins.
          if (!(await work.markExpired(license.id, now))) continue;
          expired += 1;
          await services.audit.record(
            {
              actor: SYSTEM_ACTOR,
              action: "license.expired",
              targetType: "license",
              targetId: license.id,
              details: { from: "active", to: "expired", expires_at: license.expiresAt.toISOString() },
            },
            now,
          );
          await services.events?.emit("license.expired", { license_id: license.id, expires_at: license.expiresAt.toISOString() }, now);
          const key = `expired:license:${license.id}:${license.expiresAt.toISOString()}`;
          if (await mail("license_expired", key, license, now)) mailsQueued += 1;
        }
        if (batch.length < JOB_BATCH_SIZE) break;
      }
      return { expired, mails_queued: mailsQueued };
    },
  };

  const expiryReminders: JobDefinition = {
    name: JOB_NAMES.expiryReminders,
    everyMs: HOUR,
    async run(now) {
      if (!options.outbox) return { reminded: 0, skipped: "no outbox" };
      let reminded = 0;
      let lastId = 0;
      const until = new Date(now.getTime() + EXPIRY_REMINDER_DAYS * DAY);
      for (;;) {
        const batch = await work.activeExpiring(now, until, lastId, JOB_BATCH_SIZE);
        for (const license of batch) {
          lastId = license.id;
          const key = `expiring_7d:license:${license.id}:${license.expiresAt.toISOString()}`;
          if (await mail("license_expiring", key, license, now)) reminded += 1;
        }
        if (batch.length < JOB_BATCH_SIZE) break;
      }
      return { reminded };
    },
  };

  const usageRetention: JobDefinition = {
    name: JOB_NAMES.usageRetention,
    everyMs: DAY,
    async run(now) {
      const cutoff = new Date(now.getTime() - options.retentionDays * DAY);
      let deleted = 0;
      for (;;) {
        const batch = await work.deleteUsageEventsBefore(cutoff, JOB_BATCH_SIZE);
        deleted += batch;
        if (batch === 0) break;
      }
      return { deleted, cutoff: cutoff.toISOString(), retention_days: options.retentionDays };
    },
  };

  const housekeeping: JobDefinition = {
    name: JOB_NAMES.housekeeping,
    everyMs: 15 * MINUTE,
    async run(now) {
      const reservations = await services.quota.sweep(now);
      const throttleWindows = await services.throttle.prune(now);
      const sessions = await work.deleteExpiredAdminSessions(now);
      const batchIds = await services.usageRecorder.sweepBatchIds(new Date(now.getTime() - USAGE_BATCH_ID_DAYS * DAY));
      return { quota_reservations: reservations, throttle_windows: throttleWindows, admin_sessions: sessions, usage_batch_ids: batchIds };
    },
  };

  // 80 % and 100 % of the monthly requests or budget: one mail (and one quota.warning event) per license,
  // metric, threshold and month; the outbox's dedupe key makes reruns and other instances harmless.
  const quotaWarnings: JobDefinition = {
    name: JOB_NAMES.quotaWarnings,
    everyMs: 5 * MINUTE,
    async run(now) {
      if (!options.outbox) return { skipped: "no outbox" };
      const month = monthStart(now);
      const monthKey = month.toISOString().slice(0, 7);
      let warned = 0;
      let lastId = 0;
      for (;;) {
        const batch = await work.monthlyQuotaUsage(month, lastId, JOB_BATCH_SIZE);
        for (const row of batch) {
          lastId = row.id;
          const metrics = [
            { metric: "requests", used: row.requests, limit: row.monthlyRequests },
            { metric: "budget", used: row.costEur, limit: row.monthlyBudgetEur },
          ];
          for (const { metric, used, limit } of metrics) {
            if (!(limit > 0)) continue;
            const percent = Math.floor((used / limit) * 100);
            const threshold = percent >= 100 ? 100 : percent >= 80 ? 80 : null;
            if (!threshold) continue;
            const kind: MailKind = threshold === 100 ? "quota_100" : "quota_80";
            const rendered = renderMail(kind, { customerName: row.customerName, keyPrefix: row.keyPrefix, planName: row.planName, usagePercent: percent, publicUrl: options.publicUrl ?? "" });
            const dedupeKey = `${kind}:${metric}:license:${row.id}:${monthKey}`;
            if (!(await options.outbox.enqueue({ dedupeKey, kind, to: row.email, ...rendered }, now))) continue;
            warned += 1;
            await services.events?.emit("quota.warning", { license_id: row.id, key_prefix: row.keyPrefix, metric, threshold, percent, month: monthKey }, now);
          }
        }
        if (batch.length < JOB_BATCH_SIZE) break;
      }
      return { warned };
    },
  };

  return [expirySweep, expiryReminders, usageRetention, housekeeping, quotaWarnings];
}
