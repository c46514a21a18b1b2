// GET /admin: every figure on the dashboard equals what the database says, computed here independently
// (raw SQL over licenses, plans and raw usage events, arithmetic in the test), and user text is escaped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { barChart, lineChart } from "../../src/app/http/admin/charts.ts";
import { CLI_ACTOR } from "../../src/domain/admin/mod.ts";
import { effectiveStatus, issueLicense } from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import type { UsageEvent } from "../../src/domain/usage/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const NOW = new Date("2026-03-15T12:00:00.000Z");
const HOUR = 60 * 60 * 1000;

/** The raw value of a figure (`data-figure="key" data-value="..."`) on a page. */
function figure(page: string, key: string): string {
  const match = new RegExp(`data-figure="${key}" data-value="([^"]*)"`).exec(page);
  if (!match) throw new Error(`no figure ${key} on the page`);
  return match[1];
}

/** A date column as either dialect hands it back (epoch ms on SQLite, DATETIME on MariaDB). */
function toDate(value: unknown): Date | null {
  if (value == null) return null;
  if (value instanceof Date) return value;
  if (typeof value === "number" || typeof value === "bigint" || /^\d+$/.test(String(value))) return new Date(Number(value));
  return new Date(`${String(value).replace(" ", "T")}Z`);
}

function usage(licenseId: number, at: Date, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    licenseId,
    customerId: null,
    provider: "openai",
    model: "gpt-4o-mini",
    endpoint: "chat",
    promptTokens: 100,
    completionTokens: 50,
    cachedTokens: 0,
    costEur: 0.000123,
    priceSnapshot: null,
    estimated: false,
    byok: false,
    upstreamMs: 400,
    totalMs: 450,
    outcome: "ok",
    errorCode: null,
    clientIp: null,
    userAgent: null,
    createdAt: at,
    ...over,
  };
}

describe("admin dashboard", () => {
  let svc: TestService;
  let admin: AdminSessionClient;
  let body: string;

  const sql = (text: string, params: unknown[] = []) =>
    svc.services.db.orm.em.getConnection().execute(text, params) as Promise<Array<Record<string, unknown>>>;

  beforeAll(async () => {
    svc = await startTestService();
    const pro = DEFAULT_PLANS.find((p) => p.name === "pro")!;
    await svc.services.plans.seed([{ ...pro, name: "pro_yearly", displayName: "Pro <yearly> & co", priceEur: 79.99, billing: "yearly" }], NOW);

    // An expired-by-date license: issued on 1 January for one month, stored active.
    svc.clock.current = new Date("2026-01-01T09:00:00.000Z");
    const lapsed = await svc.issue({ plan: "pro", term: { months: 1 } });
    svc.clock.current = new Date(NOW);

    const proA = await svc.issue({ plan: "pro" });
    await svc.issue({ plan: "pro" });
    const agency = await svc.issue({ plan: "agency" });
    await svc.issue({ plan: "starter" });
    await svc.issue({ plan: "pro_yearly" });
    const suspended = await svc.issue({ plan: "agency" });
    await svc.setStatus(suspended.key, "suspend");
    const cancelled = await svc.issue({ plan: "pro" });
    await svc.setStatus(cancelled.key, "cancel");
    await svc.issue({ plan: "founders" });
    await svc.issue({ plan: "founders" });
    const refunded = await svc.issue({ plan: "founders" });
    await svc.setStatus(refunded.key, "cancel");
    // A customer without a license, and one whose name is markup.
    await svc.services.customers.findOrCreate({ email: "lonely@example.com", name: "Lonely" }, NOW);
    await svc.services.customers.findOrCreate({ email: "xss@example.com", name: "<script>alert(1)</script>" }, NOW);
    await issueLicense(svc.services, { email: "xss@example.com", planName: "starter", actor: CLI_ACTOR });

    const events: UsageEvent[] = [
      usage(proA.licenseId, new Date(NOW.getTime() - 1 * HOUR)),
      usage(proA.licenseId, new Date(NOW.getTime() - 2 * HOUR), { provider: "anthropic", model: "claude-haiku-4-5", costEur: 0.0021 }),
      usage(proA.licenseId, new Date(NOW.getTime() - 3 * HOUR), { outcome: "partial", completionTokens: 7 }),
      usage(proA.licenseId, new Date(NOW.getTime() - 4 * HOUR), { outcome: "error", promptTokens: 0, completionTokens: 0, costEur: 0, errorCode: "upstream_error" }),
      usage(agency.licenseId, new Date(NOW.getTime() - 23 * HOUR), { provider: "deepseek", model: "deepseek-chat", costEur: 0.00005 }),
      // Outside the last 24 hours, still this month.
      usage(agency.licenseId, new Date(NOW.getTime() - 30 * HOUR), { promptTokens: 1000, completionTokens: 2000, costEur: 0.0042 }),
      usage(agency.licenseId, new Date("2026-03-01T00:00:00.000Z"), { provider: "anthropic", model: "claude-sonnet-4-5" }),
      // Last month: in the 30-day chart, not in this month's figures.
      usage(lapsed.licenseId, new Date("2026-02-28T23:59:59.999Z"), { promptTokens: 5000, costEur: 0.5 }),
      // In the future of the clock: not in the last 24 hours.
      usage(proA.licenseId, new Date(NOW.getTime() + HOUR)),
    ];
    for (const e of events) svc.services.usageRecorder.record(e);
    await svc.services.usageRecorder.flush();

    admin = await signedInAdmin(svc);
    const response = await admin.get("/admin");
    expect(response.status).toBe(200);
    body = await response.text();
  });

  afterAll(async () => {
    await svc.close();
  });

  test("the dashboard's customer and license counts equal those computed from the database", async () => {
    const customers = Number((await sql("select count(*) as n from customers"))[0].n);
    const licenses = await sql("select status, expires_at from licenses");
    const effective = licenses.map((l) => ({ stored: String(l.status), now: effectiveStatus({ status: l.status as never, expiresAt: toDate(l.expires_at) }, NOW) }));
    const active = effective.filter((l) => l.stored === "active" && l.now === "active").length;
    const expired = effective.filter((l) => l.stored !== "cancelled" && l.now === "expired").length;

    expect(Number(figure(body, "customers"))).toBe(customers);
    expect(Number(figure(body, "active_licenses"))).toBe(active);
    expect(Number(figure(body, "expired_licenses"))).toBe(expired);
    // The seeded data as written above: 13 customers (11 by issue + lonely + xss), 8 active, 1 expired by date.
    expect([customers, active, expired]).toEqual([13, 8, 1]);
  });

  test("the dashboard's MRR, ARR, one-time revenue and founders figures come from the real plan prices", async () => {
    const rows = await sql(
      `select l.status, l.expires_at, p.name, p.price_eur, p.billing, p.is_lifetime, p.lifetime_cap
         from licenses l join plans p on p.id = l.plan_id`,
    );
    let mrr = 0;
    let oneTime = 0;
    let foundersSold = 0;
    let cap = 0;
    for (const r of rows) {
      const price = Number(r.price_eur);
      const isActive = r.status === "active" && effectiveStatus({ status: "active", expiresAt: toDate(r.expires_at) }, NOW) === "active";
      if (isActive && r.billing === "monthly") mrr += price;
      if (isActive && r.billing === "yearly") mrr += price / 12;
      if (r.status !== "cancelled" && r.billing === "one_time") oneTime += price;
      if (r.name === "founders") {
        cap = Number(r.lifetime_cap);
        if (r.status !== "cancelled") foundersSold += 1;
      }
    }
    expect(Number(figure(body, "mrr"))).toBeCloseTo(Math.round(mrr * 100) / 100, 10);
    expect(Number(figure(body, "arr"))).toBeCloseTo(Math.round(mrr * 12 * 100) / 100, 10);
    expect(Number(figure(body, "one_time_revenue"))).toBeCloseTo(Math.round(oneTime * 100) / 100, 10);
    expect(Number(figure(body, "founders_sold"))).toBe(foundersSold);
    expect(Number(figure(body, "founders_left"))).toBe(cap - foundersSold);
    // By hand: pro 2 × 7.99, agency 19.99, starter 2 × 2.99, yearly 79.99 / 12; founders 2 × 29 of 500.
    expect(Number(figure(body, "mrr"))).toBe(48.62);
    expect(Number(figure(body, "arr"))).toBe(583.39);
    expect(Number(figure(body, "one_time_revenue"))).toBe(58);
    expect([foundersSold, cap]).toEqual([2, 500]);
    expect(body).toContain("€48.62");
  });

  test("the dashboard's AI requests, tokens and cost equal those of the raw usage events", async () => {
    const events = await sql("select created_at, outcome, prompt_tokens, completion_tokens, cost_eur from usage_events");
    const dated = events.map((e): Record<string, unknown> & { at: number } => ({ ...e, at: toDate(e.created_at)!.getTime() }));
    const last24h = dated.filter((e) => e.at > NOW.getTime() - 24 * HOUR && e.at <= NOW.getTime() && (e.outcome === "ok" || e.outcome === "partial"));
    const monthStart = Date.UTC(2026, 2, 1);
    const endOfToday = Date.UTC(2026, 2, 16);
    const month = dated.filter((e) => e.at >= monthStart && e.at < endOfToday);
    const tokens = month.reduce((sum, e) => sum + Number(e.prompt_tokens) + Number(e.completion_tokens), 0);
    const cost = month.reduce((sum, e) => sum + Number(e.cost_eur), 0);

    expect(Number(figure(body, "requests_24h"))).toBe(last24h.length);
    expect(Number(figure(body, "tokens_month"))).toBe(tokens);
    expect(Number(figure(body, "cost_month"))).toBeCloseTo(cost, 6);
    expect(last24h.length).toBe(4);
  });

  test("the dashboard draws the three charts as inline SVG with escaped labels", () => {
    expect(body.match(/<svg class="chart"/g)?.length).toBe(3);
    expect(body).toContain("Answered AI requests per day, last 30 days");
    expect(body).toContain("Answered AI requests by provider, last 30 days");
    expect(body).toContain("Licenses by plan (not cancelled)");
    expect(body).toContain("Pro &lt;yearly&gt; &amp; co");
    expect(body).not.toContain("Pro <yearly>");
  });

  test("the recent licenses show a customer name with <script> escaped", () => {
    const recent = body.slice(body.indexOf('id="recent-licenses"'));
    expect(recent).toContain("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;");
    expect(body).not.toContain("<script>alert(1)</script>");
    expect(recent).toContain("xss@example.com");
    expect(recent.match(/<tr>/g)?.length).toBe(11); // header + the 10 most recent
  });

  test("the recent licenses list the newest first with effective statuses", () => {
    const recent = body.slice(body.indexOf('id="recent-licenses"'));
    const statuses = [...recent.matchAll(/<span class="status (\w+)">/g)].map((m) => m[1]);
    // Newest first: xss starter, refunded founders, 2 founders, cancelled pro, suspended agency, yearly, starter, agency, pro.
    expect(statuses).toEqual(["active", "cancelled", "active", "active", "cancelled", "suspended", "active", "active", "active", "active"]);
  });

  test("the dashboard needs a signed-in admin", async () => {
    const response = await svc.request("GET", "/admin");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toContain("/admin/login");
  });

  test("charts escape every label and title and draw an empty chart with a note", () => {
    const svg = barChart({ title: `<t> & "q"`, xTitle: "x<", yTitle: "y>", points: [{ label: "<b>", value: 0 }] });
    expect(svg).not.toMatch(/<t>|<b>|x<|y>/);
    expect(svg).toContain("&lt;t&gt; &amp; &quot;q&quot;");
    expect(svg).toContain("No data in this period");
    const line = lineChart({ title: "t", xTitle: "x", yTitle: "y", points: [{ label: "a", value: 3 }, { label: "b", value: 7 }] });
    expect(line).toContain("<path");
    expect(line).toContain("a: 3");
  });
});
