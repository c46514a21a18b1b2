// GET /admin/analytics and /admin/analytics.csv: the range and its validation, day and week grouping,
// totals, error rate and latency from the daily aggregates, the htmx results region, top lists, and a CSV
// that spreadsheets cannot be tricked by.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { csvCell, csvDocument } from "../../src/domain/reports/mod.ts";
import type { UsageEvent } from "../../src/domain/usage/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

const EVIL_MODEL = '=HYPERLINK("http://x.example","y"),z';

function usage(licenseId: number, at: string, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    licenseId,
    customerId: null,
    provider: "openai",
    model: "gpt-4o-mini",
    endpoint: "chat",
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    costEur: 0.001,
    priceSnapshot: null,
    estimated: false,
    byok: false,
    upstreamMs: 90,
    totalMs: 100,
    outcome: "ok",
    errorCode: null,
    clientIp: null,
    userAgent: null,
    createdAt: new Date(at),
    ...over,
  };
}

/** The cells of a row of the by-period table. */
function periodRow(page: string, period: string): Record<string, number> {
  const row = new RegExp(`<tr data-period="${period}">(.*?)</tr>`).exec(page)?.[1];
  if (!row) throw new Error(`no row for ${period}`);
  const cells: Record<string, number> = {};
  for (const m of row.matchAll(/data-col="(\w+)">([^<]*)</g)) cells[m[1]] = Number(m[2].replace(/[€,]/g, ""));
  return cells;
}

function figure(page: string, key: string): number {
  return Number(new RegExp(`data-figure="${key}" data-value="([^"]*)"`).exec(page)![1]);
}

describe("admin analytics", () => {
  let svc: TestService;
  let admin: AdminSessionClient;

  beforeAll(async () => {
    svc = await startTestService(); // clock: Sunday 2026-03-15 12:00 UTC
    const evil = await svc.issue({ email: "=evil@example.com", plan: "agency" });
    const bob = await svc.issue({ email: "bob@example.com", plan: "pro" });
    const events = [
      usage(evil.licenseId, "2026-02-01T10:00:00Z", { costEur: 9 }), // before the default range
      usage(evil.licenseId, "2026-03-02T08:00:00Z", { costEur: 0.5, totalMs: 300 }),
      usage(evil.licenseId, "2026-03-08T23:59:59Z", { provider: "anthropic", model: "claude-haiku-4-5", costEur: 0.25, totalMs: 500 }),
      usage(evil.licenseId, "2026-03-08T22:00:00Z", { provider: "anthropic", model: "claude-haiku-4-5", outcome: "error", promptTokens: 0, completionTokens: 0, costEur: 0, totalMs: 100, errorCode: "upstream_error" }),
      usage(bob.licenseId, "2026-03-10T09:00:00Z", { model: EVIL_MODEL, costEur: 0.002 }),
      usage(bob.licenseId, "2026-03-10T10:00:00Z", { model: EVIL_MODEL, costEur: 0.002 }),
      usage(bob.licenseId, "2026-03-15T11:00:00Z", { provider: "deepseek", model: "deepseek-chat", costEur: 0.001 }),
      usage(bob.licenseId, "2026-03-15T11:30:00Z", { provider: "deepseek", model: "deepseek-chat", costEur: 0.001 }),
    ];
    for (const e of events) svc.services.usageRecorder.record(e);
    await svc.services.usageRecorder.flush();
    admin = await signedInAdmin(svc);
  });

  afterAll(async () => {
    await svc.close();
  });

  test("analytics default to the last 30 days grouped by day", async () => {
    const response = await admin.get("/admin/analytics");
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('name="from" value="2026-02-14"');
    expect(page).toContain('name="to" value="2026-03-15"');
    expect(page.match(/<tr data-period=/g)?.length).toBe(30);
    // Seven calls in the range (the one of 1 February is not), one of them an error.
    expect(figure(page, "requests")).toBe(7);
    expect(figure(page, "tokens")).toBe(6 * 15);
    expect(figure(page, "cost")).toBeCloseTo(0.756, 6);
    expect(figure(page, "error_rate")).toBeCloseTo(1 / 7, 10);
    expect(figure(page, "avg_latency_ms")).toBeCloseTo((300 + 500 + 100 + 4 * 100) / 7, 10);
    expect(periodRow(page, "2026-03-08")).toEqual({ requests: 2, errors: 1, tokens: 15, cost: 0.25 });
    expect(periodRow(page, "2026-03-01")).toEqual({ requests: 0, errors: 0, tokens: 0, cost: 0 });
    expect(page.match(/<svg class="chart"/g)?.length).toBe(3);
  });

  test("analytics group a range by ISO week, labelled by the week's Monday", async () => {
    const page = await (await admin.get("/admin/analytics?from=2026-03-01&to=2026-03-15&group=week")).text();
    expect([...page.matchAll(/<tr data-period="([\d-]+)"/g)].map((m) => m[1])).toEqual(["2026-02-23", "2026-03-02", "2026-03-09"]);
    expect(periodRow(page, "2026-02-23").requests).toBe(0);
    expect(periodRow(page, "2026-03-02")).toEqual({ requests: 3, errors: 1, tokens: 30, cost: 0.75 });
    expect(periodRow(page, "2026-03-09")).toEqual({ requests: 4, errors: 0, tokens: 60, cost: 0.006 });
  });

  test("analytics list providers and models, and top licenses and customers by cost or by requests", async () => {
    const byCost = await (await admin.get("/admin/analytics?from=2026-03-01&to=2026-03-15")).text();
    const customers = (page: string) => [...page.slice(page.indexOf('id="top-customers"')).matchAll(/<tr><td>([^<]+)<\/td>/g)].map((m) => m[1]);
    // Escaped by Mustache: "=" is &#x3D;.
    expect(customers(byCost)).toEqual(["&#x3D;evil@example.com", "bob@example.com"]);
    const byRequests = await (await admin.get("/admin/analytics?from=2026-03-01&to=2026-03-15&top=requests")).text();
    expect(customers(byRequests)).toEqual(["bob@example.com", "&#x3D;evil@example.com"]);
    const models = byCost.slice(byCost.indexOf('id="by-model"'), byCost.indexOf('id="top-licenses"'));
    expect(models).toContain("claude-haiku-4-5");
    expect(models).toContain("deepseek-chat");
    expect(models).toContain("&#x3D;HYPERLINK(&quot;http:&#x2F;&#x2F;x.example&quot;,&quot;y&quot;),z");
    expect(byCost).not.toContain(EVIL_MODEL);
  });

  test("a changed form swaps only the results region over htmx", async () => {
    const response = await admin.get("/admin/analytics?from=2026-03-01&to=2026-03-15&group=week", { hx: true });
    expect(response.status).toBe(200);
    const region = await response.text();
    expect(region.trimStart().startsWith('<div id="analytics-results">')).toBe(true);
    expect(region).not.toContain("<html");
    expect(region).not.toContain("<form");
    expect(region).toContain('href="/admin/analytics.csv?from&#x3D;2026-03-01&amp;to&#x3D;2026-03-15&amp;group&#x3D;week"');
    const full = await (await admin.get("/admin/analytics")).text();
    expect(full).toContain('hx-get="/admin/analytics" hx-target="#analytics-results"');
    // htmx restoring history after a cache miss needs the whole page.
    const restore = await svc.request("GET", "/admin/analytics?group=week", { headers: { cookie: admin.cookie, "hx-request": "true", "hx-history-restore-request": "true" } });
    expect(await restore.text()).toContain("<form");
    expect(full).toContain('hx-indicator="#busy"');
  });

  test("an invalid range is refused with 422 and an error beside each field", async () => {
    const backwards = await admin.get("/admin/analytics?from=2026-03-20&to=2026-03-01");
    expect(backwards.status).toBe(422);
    const page = await backwards.text();
    expect(page).toContain("The end date must not be before the start date.");
    expect(page).toContain('name="from" value="2026-03-20"');

    const garbage = await admin.get(`/admin/analytics?from=${encodeURIComponent("<b>x")}&to=2026-02-30&group=month&top=x`);
    expect(garbage.status).toBe(422);
    const text = await garbage.text();
    expect(text.match(/class="field-error"/g)?.length).toBe(4);
    expect(text).toContain('value="&lt;b&gt;x"');
    expect(text).not.toContain("<b>x");

    const tooLong = await admin.get("/admin/analytics?from=2020-01-01&to=2026-03-15", { hx: true });
    expect(tooLong.status).toBe(422);
    expect(await tooLong.text()).toContain("Choose at most 367 days.");

    const csv = await admin.get("/admin/analytics.csv?from=2026-13-01");
    expect(csv.status).toBe(422);
  });

  test("the CSV export has one row per period, provider and model, quoted and formula-safe", async () => {
    const response = await admin.get("/admin/analytics.csv?from=2026-03-01&to=2026-03-15&group=week");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="chatello-usage-2026-03-01-to-2026-03-15-by-week.csv"');
    const text = await response.text();
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text.split("\r\n")).toEqual([
      "period_start,provider,model,requests,errors,error_rate,prompt_tokens,completion_tokens,tokens,cost_eur,avg_latency_ms",
      "2026-03-02,anthropic,claude-haiku-4-5,2,1,0.5,10,5,15,0.25,300",
      "2026-03-02,openai,gpt-4o-mini,1,0,0,10,5,15,0.5,300",
      "2026-03-09,deepseek,deepseek-chat,2,0,0,20,10,30,0.002,100",
      `2026-03-09,openai,"'=HYPERLINK(""http://x.example"",""y""),z",2,0,0,20,10,30,0.004,100`,
      "",
    ]);
    const daily = await (await admin.get("/admin/analytics.csv?from=2026-03-15&to=2026-03-15&group=day")).text();
    expect(daily.split("\r\n").slice(1)).toEqual(["2026-03-15,deepseek,deepseek-chat,2,0,0,20,10,30,0.002,100", ""]);
  });

  test("CSV cells defuse formulas and follow RFC 4180 quoting", () => {
    expect(csvCell("=evil@example.com")).toBe("'=evil@example.com");
    expect(csvCell("+31 6")).toBe("'+31 6");
    expect(csvCell("-2+3")).toBe("'-2+3");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell(-1.5)).toBe("-1.5");
    expect(csvCell(null)).toBe("");
    expect(csvDocument([["a", 1], ["=b", "c,d"]])).toBe("a,1\r\n'=b,\"c,d\"\r\n");
  });

  test("analytics need a signed-in admin", async () => {
    expect((await svc.request("GET", "/admin/analytics.csv")).status).toBe(303);
    expect((await svc.request("GET", "/admin/analytics")).status).toBe(303);
  });
});
