// Scheduled jobs (GET /admin/jobs): each job's last run, outcome and details, and who holds its lease now.
import { Elysia } from "elysia";
import { DbJobLeases, type JobLease } from "../../../adapters/db/job_leases.ts";
import { JOB_NAMES } from "../../jobs.ts";
import jobsTemplate from "../../../../templates/jobs.html" with { type: "text" };
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { html, page, templateText } from "./render.ts";

function row(job: string, lease: JobLease | undefined, now: Date) {
  return {
    job,
    lastStartedAt: lease?.lastStartedAt?.toISOString() ?? null,
    lastFinishedAt: lease?.lastFinishedAt?.toISOString() ?? null,
    lastOutcome: lease?.lastOutcome ?? null,
    // Escaped by the template ({{ }}); the scheduler stores error messages only, never secrets.
    details: lease?.lastDetails ? JSON.stringify(lease.lastDetails) : null,
    running: !!lease?.holder && lease.leaseUntil.getTime() > now.getTime(),
    holder: lease?.holder ?? null,
    leaseUntil: lease?.leaseUntil.toISOString() ?? null,
  };
}

/** Scheduled jobs: last run and outcome. */
export function createJobsRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const leases = new DbJobLeases(deps.db);
  const template = templateText(jobsTemplate);

  return new Elysia({ name: "admin-jobs" }).get("/admin/jobs", async ({ request }) => {
    const caller = adminOf(request);
    const stored = new Map((await leases.list()).map((l) => [l.job, l]));
    // The known jobs first (even before their first run), then any other lease rows (retired jobs).
    const names = [...new Set<string>([...Object.values(JOB_NAMES), ...stored.keys()])];
    const now = deps.clock.now();
    const jobs = names.map((name) => row(name, stored.get(name), now));
    return html(page(template, { jobs }, { title: "Scheduled jobs", section: "jobs", caller }));
  });
}
