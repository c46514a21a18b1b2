// GET /admin/jobs: every job with its last run, outcome, details (escaped) and current lease.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DbJobLeases } from "../../src/adapters/db/job_leases.ts";
import { JOB_NAMES } from "../../src/app/jobs.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

describe("admin jobs page", () => {
  let svc: TestService;
  let admin: AdminSessionClient;

  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
    const leases = new DbJobLeases(svc.services.db);
    const now = svc.clock.now();
    await leases.tryAcquire(JOB_NAMES.expirySweep, "host-a:1", 600_000, now);
    await leases.finish(JOB_NAMES.expirySweep, "host-a:1", "error", { error: "<script>alert(1)</script>" }, now);
    await leases.tryAcquire(JOB_NAMES.usageRetention, "host-b:2", 600_000, now);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("GET /admin/jobs lists every job with its outcome, escaped details and current holder", async () => {
    const res = await admin.get("/admin/jobs");
    expect(res.status).toBe(200);
    const body = await res.text();
    for (const name of Object.values(JOB_NAMES)) expect(body).toContain(`data-job="${name}"`);
    expect(body).toContain("error");
    expect(body).not.toContain("<script>alert(1)</script>");
    expect(body).toContain("&lt;script&gt;");
    expect(body).toContain("host-b:2");
    expect(body).toContain(svc.clock.now().toISOString());
  });

  test("GET /admin/jobs needs a signed-in admin", async () => {
    const res = await svc.request("GET", "/admin/jobs");
    expect([302, 303, 401]).toContain(res.status);
  });
});
