// GET /admin/audit: newest first, who / what / when / from where / details (escaped), filters by action,
// actor, target type and days, and pages of 50.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AuditEntry } from "../../src/domain/admin/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const MINUTE = 60 * 1000;

/** The ids of the entries listed on a page, in order. */
function ids(page: string): number[] {
  return [...page.matchAll(/<tr data-id="(\d+)">/g)].map((m) => Number(m[1]));
}

function total(page: string): number {
  return Number(/data-total="(\d+)"/.exec(page)![1]);
}

describe("admin audit log", () => {
  let svc: TestService;
  let admin: AdminSessionClient;

  const record = (entry: AuditEntry, at: string | Date) => svc.services.audit.record(entry, new Date(at));
  const allIds = async (where = "") =>
    ((await svc.services.db.orm.em.getConnection().execute(`select id from audit_log ${where} order by created_at desc, id desc`)) as Array<{ id: unknown }>).map((r) => Number(r.id));

  beforeAll(async () => {
    svc = await startTestService(); // clock: 2026-03-15 12:00 UTC
    const start = new Date("2026-03-10T00:00:00.000Z").getTime();
    for (let i = 0; i < 120; i++) {
      await record({ actor: { type: "admin", id: "9", label: "bulk@example.com", clientIp: "192.0.2.1" }, action: "test.bulk", targetType: "widget", targetId: i }, new Date(start + i * MINUTE));
    }
    await record(
      {
        actor: { type: "admin", id: "7", label: "Alice@Example.com", clientIp: "198.51.100.7" },
        action: "license.suspended",
        targetType: "license",
        targetId: 42,
        details: { reason: "<img src=x onerror=alert(1)>" },
      },
      "2026-03-12T08:00:00.000Z",
    );
    await record({ actor: { type: "token", id: "3", label: "ci-token", clientIp: "203.0.113.9" }, action: "plan.updated", targetType: "plan", targetId: "pro" }, "2026-03-01T23:59:59.999Z");
    await record({ actor: { type: "system", label: "system" }, action: "plan.updated", targetType: "plan", targetId: "agency" }, "2026-03-02T00:00:00.000Z");
    admin = await signedInAdmin(svc);
  });

  afterAll(async () => {
    await svc.close();
  });

  test("the audit log lists the newest 50 entries first with who, what, when, where and escaped details", async () => {
    const response = await admin.get("/admin/audit");
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(total(page)).toBe((await allIds()).length);
    expect(ids(page)).toEqual((await allIds()).slice(0, 50));
    const alice = /<tr data-id="\d+">(?:(?!<\/tr>)[\s\S])*license\.suspended[\s\S]*?<\/tr>/.exec(
      await (await admin.get("/admin/audit?action=license.suspended")).text(),
    )![0];
    expect(alice).toContain('datetime="2026-03-12T08:00:00.000Z"');
    expect(alice).toContain("admin</span> Alice@Example.com");
    expect(alice).toContain("license #42");
    expect(alice).toContain("198.51.100.7");
    expect(alice).toContain("{&quot;reason&quot;:&quot;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;&quot;}");
    expect(alice).not.toContain("<img");
  });

  test("the audit log pages by 50, newest first across pages, keeping the filters in the pager", async () => {
    const bulk = await allIds("where action = 'test.bulk'");
    expect(bulk.length).toBe(120);
    const first = await (await admin.get("/admin/audit?action=test.bulk")).text();
    const second = await (await admin.get("/admin/audit?action=test.bulk&page=2")).text();
    const third = await (await admin.get("/admin/audit?action=test.bulk&page=3")).text();
    expect([total(first), ids(first).length, ids(second).length, ids(third).length]).toEqual([120, 50, 50, 20]);
    expect([...ids(first), ...ids(second), ...ids(third)]).toEqual(bulk);
    expect(first).toContain("Page 1 of 3");
    expect(first).toContain('href="/admin/audit?action&#x3D;test.bulk&amp;page&#x3D;2"');
    expect(first).not.toContain('rel="prev"');
    expect(third).toContain('rel="prev"');
    expect(third).not.toContain('rel="next"');
    const beyond = await (await admin.get("/admin/audit?action=test.bulk&page=9")).text();
    expect(ids(beyond)).toEqual([]);
    expect(beyond).toContain("No entries match.");
  });

  test("the audit log filters by actor label case-insensitively, by target type and by action", async () => {
    const byActor = await (await admin.get("/admin/audit?actor=ALICE%40example")).text();
    expect(ids(byActor)).toEqual(await allIds("where actor_label = 'Alice@Example.com'"));
    expect(ids(byActor).length).toBe(1);
    const byTarget = await (await admin.get("/admin/audit?target=plan")).text();
    expect(ids(byTarget)).toEqual(await allIds("where target_type = 'plan'"));
    expect(ids(byTarget).length).toBe(2);
    const byAction = await (await admin.get("/admin/audit?action=plan.updated&actor=ci-")).text();
    expect(ids(byAction).length).toBe(1);
    expect(byAction).toContain("token</span> ci-token");
    expect(byAction).toContain('<option value="plan.updated" selected>');
  });

  test("the audit log filters by inclusive UTC days", async () => {
    const oneDay = await (await admin.get("/admin/audit?from=2026-03-01&to=2026-03-01")).text();
    expect(ids(oneDay).length).toBe(1);
    expect(oneDay).toContain("ci-token");
    const twoDays = await (await admin.get("/admin/audit?from=2026-03-01&to=2026-03-02")).text();
    expect(total(twoDays)).toBe(2);
    const since = await (await admin.get("/admin/audit?from=2026-03-12&target=license")).text();
    expect(ids(since)).toEqual(await allIds("where target_type = 'license'"));
    expect(ids(since).length).toBe(1);
    const before = await (await admin.get("/admin/audit?to=2026-03-09")).text();
    expect(total(before)).toBe(2);
  });

  test("invalid audit dates are refused with 422", async () => {
    const response = await admin.get("/admin/audit?from=2026-03-10&to=2026-03-01");
    expect(response.status).toBe(422);
    expect(await response.text()).toContain("The end date must not be before the start date.");
    const garbage = await admin.get("/admin/audit?from=yesterday", { hx: true });
    expect(garbage.status).toBe(422);
    expect(await garbage.text()).toContain("Enter a date as YYYY-MM-DD.");
  });

  test("a filter change over htmx swaps only the results region", async () => {
    const response = await admin.get("/admin/audit?target=plan", { hx: true });
    const region = await response.text();
    expect(region.trimStart().startsWith('<div id="audit-results">')).toBe(true);
    expect(region).not.toContain("<form");
    const full = await (await admin.get("/admin/audit")).text();
    expect(full).toContain('hx-get="/admin/audit" hx-target="#audit-results"');
    expect(full).toContain('hx-indicator="#busy"');
  });
});
