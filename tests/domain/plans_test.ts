import { describe, expect, test } from "bun:test";
import {
  BILLING_KINDS,
  DEFAULT_PLANS,
  hasUnlimitedSites,
  isProviderName,
  isUnlimited,
  type NewPlan,
  PROVIDERS,
  validatePlan,
} from "../../src/domain/plans/mod.ts";

function plan(name: string): NewPlan {
  const found = DEFAULT_PLANS.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no default plan ${name}`);
  return structuredClone(found);
}

function withChange(name: string, change: (p: NewPlan) => void): NewPlan {
  const p = plan(name);
  change(p);
  return p;
}

describe("DEFAULT_PLANS", () => {
  test("DEFAULT_PLANS holds exactly the four contract plans in order", () => {
    expect(DEFAULT_PLANS.map((p) => p.name)).toEqual(["starter", "pro", "agency", "founders"]);
  });

  test("DEFAULT_PLANS matches the contract table for price, billing, limits and AI inclusion", () => {
    const rows = DEFAULT_PLANS.map((p) => [
      p.name,
      p.displayName,
      p.priceEur,
      p.billing,
      p.limits.monthlyRequests,
      p.limits.requestsPerMinute,
      p.limits.requestsPerHour,
      p.limits.monthlyBudgetEur,
      p.limits.maxSites,
      p.aiIncluded,
    ]);
    expect(rows).toEqual([
      ["starter", "Starter - BYOK", 2.99, "monthly", 0, 0, 0, 0, 1, false],
      ["pro", "Pro - AI Included", 7.99, "monthly", 1000, 10, 200, 4.0, 3, true],
      ["agency", "Agency - White Label", 19.99, "monthly", 5000, 25, 500, 10.0, -1, true],
      ["founders", "Founders Deal - Lifetime", 29.0, "one_time", 2000, 15, 300, 6.0, 5, true],
    ]);
  });

  test("only the founders plan is lifetime and it is capped at 500 sales", () => {
    expect(DEFAULT_PLANS.map((p) => [p.name, p.isLifetime, p.lifetimeCap])).toEqual([
      ["starter", false, null],
      ["pro", false, null],
      ["agency", false, null],
      ["founders", true, 500],
    ]);
  });

  test("every default plan passes validatePlan", () => {
    for (const p of DEFAULT_PLANS) expect({ name: p.name, invalid: validatePlan(p) }).toEqual({ name: p.name, invalid: [] });
  });

  test("features describe AI inclusion, seats, white label and lifetime", () => {
    expect(plan("starter").features).toEqual(expect.arrayContaining(["byok", "1_site"]));
    expect(plan("starter").features).not.toContain("ai_included");
    expect(plan("pro").features).toEqual(expect.arrayContaining(["ai_included", "3_sites"]));
    expect(plan("agency").features).toEqual(
      expect.arrayContaining(["ai_included", "unlimited_sites", "white_label", "priority_support"]),
    );
    expect(plan("founders").features).toEqual(expect.arrayContaining(["ai_included", "5_sites", "lifetime"]));
  });

  test("every default plan defaults to openai with the cheap model of each provider", () => {
    for (const p of DEFAULT_PLANS) {
      expect(p.defaultProvider).toBe("openai");
      expect(p.defaultModels).toEqual({
        openai: "gpt-4o-mini",
        anthropic: "claude-3-5-haiku-latest",
        deepseek: "deepseek-chat",
      });
    }
  });

  test("cheaper plans allow no more models than dearer ones", () => {
    const count = (name: string) => PROVIDERS.reduce((n, pr) => n + plan(name).allowedModels[pr].length, 0);
    expect(count("starter")).toBeLessThan(count("pro"));
    expect(count("pro")).toBeLessThan(count("agency"));
    expect(plan("agency").allowedModels.anthropic).toContain("claude-sonnet-4-5");
    expect(plan("agency").allowedModels.deepseek).toEqual(["deepseek-chat", "deepseek-reasoner"]);
    expect(plan("starter").allowedModels.openai).not.toContain("gpt-4.1");
  });

  test("maxTokens caps are 1000 for starter and pro, 4000 for agency and 2000 for founders", () => {
    expect(DEFAULT_PLANS.map((p) => p.maxTokens)).toEqual([1000, 1000, 4000, 2000]);
  });

  test("the default plans do not share mutable default model maps with each other", () => {
    const maps = new Set(DEFAULT_PLANS.map((p) => p.defaultModels));
    expect(maps.size).toBe(DEFAULT_PLANS.length);
  });
});

describe("limits", () => {
  test("isUnlimited treats zero as unlimited and positive limits as limits", () => {
    expect(isUnlimited(0)).toBe(true);
    expect(isUnlimited(1)).toBe(false);
    expect(isUnlimited(4.0)).toBe(false);
  });

  test("isUnlimited never reads a negative limit as nothing allowed", () => {
    expect(isUnlimited(-1)).toBe(true);
  });

  test("hasUnlimitedSites is true for -1 and false for a seat count", () => {
    expect(hasUnlimitedSites(plan("agency"))).toBe(true);
    expect(hasUnlimitedSites(plan("pro"))).toBe(false);
    expect(hasUnlimitedSites({ limits: { maxSites: 1 } })).toBe(false);
    expect(hasUnlimitedSites({ limits: { maxSites: 0 } })).toBe(true);
  });

  test("PROVIDERS and BILLING_KINDS list the known values", () => {
    expect([...PROVIDERS]).toEqual(["openai", "anthropic", "deepseek"]);
    expect([...BILLING_KINDS]).toEqual(["monthly", "yearly", "one_time"]);
  });

  test("isProviderName accepts the three providers and nothing else", () => {
    expect(PROVIDERS.every(isProviderName)).toBe(true);
    expect(isProviderName("OpenAI")).toBe(false);
    expect(isProviderName("mistral")).toBe(false);
    expect(isProviderName(undefined)).toBe(false);
  });
});

describe("validatePlan", () => {
  test("validatePlan rejects a negative or non-finite price", () => {
    expect(validatePlan(withChange("pro", (p) => (p.priceEur = -1)))).toEqual(["priceEur"]);
    expect(validatePlan(withChange("pro", (p) => (p.priceEur = Number.NaN)))).toEqual(["priceEur"]);
    expect(validatePlan(withChange("pro", (p) => (p.priceEur = 0)))).toEqual([]);
  });

  test("validatePlan rejects non-integer and negative request limits", () => {
    const p = withChange("pro", (x) => {
      x.limits.monthlyRequests = 10.5;
      x.limits.requestsPerMinute = -1;
      x.limits.requestsPerHour = Number.POSITIVE_INFINITY;
    });
    expect(validatePlan(p)).toEqual(["limits.monthlyRequests", "limits.requestsPerMinute", "limits.requestsPerHour"]);
  });

  test("validatePlan accepts a fractional budget but not a negative one", () => {
    expect(validatePlan(withChange("pro", (p) => (p.limits.monthlyBudgetEur = 4.25)))).toEqual([]);
    expect(validatePlan(withChange("pro", (p) => (p.limits.monthlyBudgetEur = -0.01)))).toEqual([
      "limits.monthlyBudgetEur",
    ]);
  });

  test("validatePlan accepts maxSites of -1 but rejects -2 and fractions", () => {
    expect(validatePlan(withChange("pro", (p) => (p.limits.maxSites = -1)))).toEqual([]);
    expect(validatePlan(withChange("pro", (p) => (p.limits.maxSites = -2)))).toEqual(["limits.maxSites"]);
    expect(validatePlan(withChange("pro", (p) => (p.limits.maxSites = 2.5)))).toEqual(["limits.maxSites"]);
  });

  test("validatePlan rejects missing limits altogether", () => {
    const p = withChange("pro", (x) => ((x as unknown as { limits: unknown }).limits = null));
    expect(validatePlan(p)).toEqual(["limits"]);
  });

  test("validatePlan rejects a name that is not a lowercase slug and an empty display name", () => {
    const p = withChange("pro", (x) => {
      x.name = "Pro Plan";
      x.displayName = "   ";
    });
    expect(validatePlan(p)).toEqual(["name", "displayName"]);
    expect(validatePlan(withChange("pro", (x) => (x.name = "pro_2025-eu")))).toEqual([]);
  });

  test("validatePlan rejects an unknown billing kind", () => {
    const p = withChange("pro", (x) => ((x as unknown as { billing: string }).billing = "weekly"));
    expect(validatePlan(p)).toEqual(["billing"]);
  });

  test("validatePlan rejects a lifetime plan that is billed monthly", () => {
    expect(validatePlan(withChange("pro", (p) => (p.isLifetime = true)))).toEqual(["isLifetime"]);
  });

  test("validatePlan rejects a lifetime cap that is zero, negative or fractional", () => {
    for (const cap of [0, -5, 1.5]) {
      expect(validatePlan(withChange("founders", (p) => (p.lifetimeCap = cap)))).toEqual(["lifetimeCap"]);
    }
    expect(validatePlan(withChange("founders", (p) => (p.lifetimeCap = null)))).toEqual([]);
  });

  test("validatePlan rejects empty or duplicate features", () => {
    expect(validatePlan(withChange("pro", (p) => (p.features = ["ai_included", ""])))).toEqual(["features"]);
    expect(validatePlan(withChange("pro", (p) => (p.features = ["a", "a"])))).toEqual(["features"]);
    expect(validatePlan(withChange("pro", (p) => (p.features = [])))).toEqual([]);
  });

  test("validatePlan rejects an unknown provider in the allow-list", () => {
    const p = withChange("pro", (x) => ((x.allowedModels as Record<string, string[]>).mistral = ["mistral-small"]));
    expect(validatePlan(p)).toEqual(["allowedModels"]);
  });

  test("validatePlan rejects an allow-list that is missing a provider", () => {
    const p = withChange("pro", (x) => delete (x.allowedModels as Partial<Record<string, string[]>>).deepseek);
    expect(validatePlan(p)).toEqual(["allowedModels.deepseek"]);
  });

  test("validatePlan rejects an unknown default provider", () => {
    const p = withChange("pro", (x) => ((x as unknown as { defaultProvider: string }).defaultProvider = "mistral"));
    expect(validatePlan(p)).toEqual(["defaultProvider"]);
  });

  test("validatePlan rejects a default provider whose allow-list is empty", () => {
    const p = withChange("pro", (x) => (x.allowedModels.openai = []));
    expect(validatePlan(p)).toEqual(["defaultProvider"]);
  });

  test("validatePlan accepts a switched-off secondary provider whatever its default model", () => {
    const p = withChange("pro", (x) => {
      x.allowedModels.deepseek = [];
      x.defaultModels.deepseek = "";
    });
    expect(validatePlan(p)).toEqual([]);
  });

  test("validatePlan rejects a default model that is not in the provider's allow-list", () => {
    const p = withChange("pro", (x) => (x.defaultModels.anthropic = "claude-sonnet-4-5"));
    expect(validatePlan(p)).toEqual(["defaultModels.anthropic"]);
  });

  test("validatePlan rejects a default model map with an unknown provider", () => {
    const p = withChange("pro", (x) => ((x.defaultModels as Record<string, string>).mistral = "mistral-small"));
    expect(validatePlan(p)).toEqual(["defaultModels"]);
  });

  test("validatePlan rejects a zero or fractional maxTokens", () => {
    expect(validatePlan(withChange("pro", (p) => (p.maxTokens = 0)))).toEqual(["maxTokens"]);
    expect(validatePlan(withChange("pro", (p) => (p.maxTokens = 99.5)))).toEqual(["maxTokens"]);
  });

  test("validatePlan rejects flags that are not booleans", () => {
    const p = withChange("pro", (x) => {
      (x as unknown as Record<string, unknown>).aiIncluded = "yes";
      (x as unknown as Record<string, unknown>).active = 1;
    });
    expect(validatePlan(p)).toEqual(["aiIncluded", "active"]);
  });

  test("validatePlan accepts a yearly plan", () => {
    expect(validatePlan(withChange("pro", (p) => (p.billing = "yearly")))).toEqual([]);
  });
});
