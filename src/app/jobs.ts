// The service's scheduled jobs. Each is idempotent: running it twice (two instances, or a rerun after a
// crash) changes nothing more, and mails carry a dedupeKey so the outbox keeps one per purpose.
// Daily usage aggregates need no job: usage_daily is maintained on write, in the same transaction as the
// raw events (BatchedUsageRecorder), and survives the retention job.
import { DbScheduledWork, type ExpiringLicense } from "../adapters/db/job_leases.ts";
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
      return { quota_reservations: reservations, throttle_windows: throttleWindows, admin_sessions: sessions };
    },
  };

  return [expirySweep, expiryReminders, usageRetention, housekeeping];
}
