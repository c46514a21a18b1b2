// The admin's plan pages: the plan list, editing price, limits, features and model routing, validation
// that re-renders the form with field errors, escaping, and the audit entry of every saved change.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MikroPlans } from "../../src/adapters/db/licensing_repos.ts";
import type { Plan } from "../../src/domain/plans/mod.ts";
import { signedInAdmin, type AdminSessionClient } from "../support/admin.ts";
import { startTestService, type TestService } from "../support/app.ts";

/** The edit form of a plan, filled as the page shows it, with `overrides` typed over it. */
function formFor(plan: Plan, overrides: Record<string, string> = {}): Record<string, string> {
  const form: Record<string, string> = {
    display_name: plan.displayName,
    price_eur: String(plan.priceEur),
    lifetime_cap: plan.lifetimeCap === null ? "" : String(plan.lifetimeCap),
    monthly_requests: String(plan.limits.monthlyRequests),
    requests_per_minute: String(plan.limits.requestsPerMinute),
    requests_per_hour: String(plan.limits.requestsPerHour),
    monthly_budget_eur: String(plan.limits.monthlyBudgetEur),
    max_sites: String(plan.limits.maxSites),
    max_tokens: String(plan.maxTokens),
    features: plan.features.join(", "),
    default_provider: plan.defaultProvider,
    fallback_provider: plan.fallbackProvider ?? "none",
  };
  if (plan.aiIncluded) form.ai_included = "yes";
  for (const p of ["openai", "anthropic", "deepseek"] as const) {
    form[`allowed_models_${p}`] = plan.allowedModels[p].join(", ");
    form[`default_model_${p}`] = plan.defaultModels[p];
  }
  return { ...form, ...overrides };
}

/** The plan as stored right now (a fresh reader, past the service's 5 s plan cache). */
async function storedPlan(svc: TestService, name: string): Promise<Plan> {
  return (await new MikroPlans(svc.services.db).byName(name))!;
}

describe("admin plan pages", () => {
  let svc: TestService;
  let admin: AdminSessionClient;

  beforeAll(async () => {
    svc = await startTestService();
    admin = await signedInAdmin(svc);
  });
  afterAll(async () => {
    await svc.close();
  });

  test("the plan list shows every plan with price, limits, budget, sites and the founders cap with sold and left", async () => {
    await svc.issue({ plan: "founders", term: { lifetime: true } });
    const res = await admin.get("/admin/plans");
    expect(res.status).toBe(200);
    const page = await res.text();
    for (const name of ["Starter - BYOK", "Pro - AI Included", "Agency - White Label", "Founders Deal - Lifetime"]) expect(page).toContain(name);
    expect(page).toContain("€7.99");
    expect(page).toContain("€4.00");
    expect(page).toContain("500 <span class=\"muted\">(sold 1, left 499)</span>");
    expect(page).toContain('href="/admin/plans/');
    expect(page).toMatch(/aria-current="page">Plans</);
  });

  test("the plan list needs a signed-in admin", async () => {
    const res = await svc.request("GET", "/admin/plans");
    expect(res.status).toBe(303);
  });

  test("editing pro's monthly requests to 500 shows on the list and reaches the plan readers after their cache", async () => {
    const pro = await storedPlan(svc, "pro");
    const edit = await admin.get(`/admin/plans/${pro.id}`);
    expect(edit.status).toBe(200);
    expect(await edit.text()).toContain('name="monthly_requests" value="1000"');

    const res = await admin.post(`/admin/plans/${pro.id}`, formFor(pro, { monthly_requests: "500" }));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/admin/plans?updated=${pro.id}`);

    const list = await (await admin.get(res.headers.get("location")!)).text();
    expect(list).toContain("Plan pro saved");
    expect(list).toContain("<td>500</td>");
    expect((await storedPlan(svc, "pro")).limits.monthlyRequests).toBe(500);
    // Everything else stays as it was.
    expect({ ...(await storedPlan(svc, "pro")), limits: pro.limits }).toEqual(pro);
  });

  test("a saved edit is audited as plan.updated with the changed fields, old and new values", async () => {
    const pro = await storedPlan(svc, "pro");
    const res = await admin.post(
      `/admin/plans/${pro.id}`,
      formFor(pro, { price_eur: "8.49", max_sites: "-1", fallback_provider: "anthropic", allowed_models_deepseek: "deepseek-chat, deepseek-reasoner" }),
    );
    expect(res.status).toBe(303);
    const saved = await storedPlan(svc, "pro");
    expect(saved.priceEur).toBe(8.49);
    expect(saved.limits.maxSites).toBe(-1);
    expect(saved.fallbackProvider).toBe("anthropic");
    expect(saved.allowedModels.deepseek).toEqual(["deepseek-chat", "deepseek-reasoner"]);

    const entry = (await svc.services.audit.recent(20)).find((e) => e.action === "plan.updated" && (e.details as any).changed.includes("priceEur"))!;
    expect(entry.actor).toMatchObject({ type: "admin", label: admin.email });
    expect(entry.targetId).toBe(String(pro.id));
    expect((entry.details as any).changed.sort()).toEqual(["allowedModels", "fallbackProvider", "limits.maxSites", "priceEur"]);
    expect((entry.details as any).changes.priceEur).toEqual({ from: pro.priceEur, to: 8.49 });
  });

  test("saving the form unchanged writes nothing and records no audit entry", async () => {
    const agency = await storedPlan(svc, "agency");
    const before = (await svc.services.audit.recent(100)).length;
    const res = await admin.post(`/admin/plans/${agency.id}`, formFor(agency));
    expect(res.status).toBe(303);
    expect((await svc.services.audit.recent(100)).length).toBe(before);
  });

  test("invalid values re-render the form with 422 and an error beside each bad field, saving nothing", async () => {
    const starter = await storedPlan(svc, "starter");
    const res = await admin.post(
      `/admin/plans/${starter.id}`,
      formFor(starter, {
        monthly_requests: "lots",
        requests_per_minute: "-3",
        price_eur: "",
        max_sites: "-2",
        max_tokens: "0",
        default_model_openai: "gpt-9",
        default_provider: "deepseek",
        fallback_provider: "deepseek",
        display_name: "Typed but not saved",
      }),
    );
    expect(res.status).toBe(422);
    const page = await res.text();
    expect(page).toContain("The plan was not saved");
    const errors = [...page.matchAll(/class="field-error">([^<]+)</g)].map((m) => m[1]);
    expect(errors.length).toBe(7);
    expect(page).toContain("Give a whole number of 0 or more (0 &#x3D; unlimited).");
    expect(page).toContain("Give a whole number of -1 (unlimited) or more.");
    expect(page).toContain("Pick one of this provider&#39;s allowed models.");
    expect(page).toContain("Pick none, or a provider other than the default");
    // The form keeps what was typed.
    expect(page).toContain('name="monthly_requests" value="lots"');
    expect(page).toContain('value="Typed but not saved"');
    expect(await storedPlan(svc, "starter")).toEqual(starter);
  });

  test("a default provider with an empty allow-list is refused", async () => {
    const starter = await storedPlan(svc, "starter");
    const res = await admin.post(`/admin/plans/${starter.id}`, formFor(starter, { allowed_models_openai: "", default_model_openai: "" }));
    expect(res.status).toBe(422);
    expect(await res.text()).toContain("Pick a provider whose allow-list is not empty.");
  });

  test("a display name with a script tag is stored as typed and shown escaped on the list and the form", async () => {
    const starter = await storedPlan(svc, "starter");
    const evil = `<script>alert("x")</script> & co`;
    const res = await admin.post(`/admin/plans/${starter.id}`, formFor(starter, { display_name: evil }));
    expect(res.status).toBe(303);
    expect((await storedPlan(svc, "starter")).displayName).toBe(evil);
    for (const path of ["/admin/plans", `/admin/plans/${starter.id}`, "/admin/providers"]) {
      const page = await (await admin.get(path)).text();
      expect(page).not.toContain("<script>alert");
      expect(page).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2F;script&gt; &amp; co");
    }
  });

  test("an edit without the CSRF token is refused", async () => {
    const pro = await storedPlan(svc, "pro");
    const res = await admin.post(`/admin/plans/${pro.id}`, formFor(pro, { monthly_requests: "1" }), { csrf: false });
    expect(res.status).toBe(403);
    expect((await storedPlan(svc, "pro")).limits.monthlyRequests).not.toBe(1);
  });

  test("an unknown plan answers 404", async () => {
    expect((await admin.get("/admin/plans/99999")).status).toBe(404);
    expect((await admin.get("/admin/plans/abc")).status).toBe(404);
    expect((await admin.post("/admin/plans/99999", { display_name: "x" })).status).toBe(404);
  });
});
