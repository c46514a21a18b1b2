// Validation may take the license's sites and month usage from the read that found the license (one round
// trip instead of three), but only for the month it is validating.
import { describe, expect, test } from "bun:test";
import {
  authenticateLicense,
  licenseKeyDigest,
  validateLicense,
  type License,
  type Licenses,
  type SiteActivation,
  type SiteActivations,
  type ValidationReads,
} from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS, type Plan } from "../../src/domain/plans/mod.ts";
import { monthStart, type UsageLedger } from "../../src/domain/usage/mod.ts";

const KEY = "CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4";
const NOW = new Date("2026-11-25T12:00:00Z");
const clock = { now: () => NOW };
const plan: Plan = { id: 3, ...DEFAULT_PLANS.find((p) => p.name === "agency")! } as Plan;

async function world(options: { canReadTogether: boolean }) {
  const calls: string[] = [];
  const license: License = {
    id: 7, keyDigest: await licenseKeyDigest(KEY), keySealed: "sealed", keyPrefix: "CHA-1F3A", customerId: 1, planId: plan.id,
    status: "active", domain: null, expiresAt: null, activatedAt: null, lastValidatedAt: NOW, metadata: {}, createdAt: NOW, updatedAt: NOW,
  };
  const stored: SiteActivation[] = [{ id: 1, licenseId: 7, host: "shop.example.com", exempt: false, activatedAt: NOW }];
  const together: ValidationReads = { sites: [{ ...stored[0], host: "read-together.example.com" }], usage: { requests: 5, tokens: 50, costEur: 0.5 }, monthStart: monthStart(NOW) };
  const licenses = {
    async byDigest(digest: string) {
      calls.push("byDigest");
      return digest === license.keyDigest ? license : null;
    },
    ...(options.canReadTogether
      ? {
          async byDigestForValidation(digest: string, month: Date) {
            calls.push(`byDigestForValidation ${month.toISOString()}`);
            return digest === license.keyDigest ? { license, reads: together } : null;
          },
        }
      : {}),
  } as unknown as Licenses;
  const sites = { activeFor: async () => (calls.push("activeFor"), stored) } as unknown as SiteActivations;
  const usage = { monthToDate: async () => (calls.push("monthToDate"), { requests: 1, tokens: 10, costEur: 0.1 }) } as unknown as UsageLedger;
  const plans = { byId: async () => plan, byName: async () => plan, list: async () => [plan] };
  return { calls, license, together, deps: { licenses, sites, usage, plans, clock } };
}

describe("authenticateLicense with a validation coming", () => {
  test("reads the license with its sites and month usage when the store can, and hands them on", async () => {
    const w = await world({ canReadTogether: true });
    const auth = await authenticateLicense(w.deps, KEY, { validationMonth: monthStart(NOW) });
    expect(auth).toEqual({ kind: "ok", license: w.license, plan, validationReads: w.together });
    expect(w.calls).toEqual(["byDigestForValidation 2026-11-01T00:00:00.000Z"]);
  });

  test("reads only the license otherwise, and for a store that cannot read them together", async () => {
    const w = await world({ canReadTogether: true });
    expect(await authenticateLicense(w.deps, KEY)).toEqual({ kind: "ok", license: w.license, plan });
    const plain = await world({ canReadTogether: false });
    expect(await authenticateLicense(plain.deps, KEY, { validationMonth: monthStart(NOW) })).toEqual({ kind: "ok", license: plain.license, plan });
    expect([...w.calls, ...plain.calls]).toEqual(["byDigest", "byDigest"]);
  });

  test("an unknown key is invalid either way", async () => {
    const w = await world({ canReadTogether: true });
    expect(await authenticateLicense(w.deps, "CHA-00000000-00000000-00000000-00000000", { validationMonth: monthStart(NOW) })).toEqual({ kind: "invalid" });
  });
});

describe("validateLicense with reads done by authentication", () => {
  test("uses them for the month being validated, without reading again", async () => {
    const w = await world({ canReadTogether: true });
    const outcome = await validateLicense(w.deps, { license: w.license, plan, prefetched: w.together });
    expect(outcome.kind).toBe("valid");
    if (outcome.kind !== "valid") return;
    expect(outcome.result.usage).toEqual({ requests: 5, tokens: 50, costEur: 0.5 });
    expect(outcome.result.sites.active).toBe(1);
    expect(w.calls).toEqual([]);
    // The site check sees the prefetched sites too.
    const site = async (url: string) => {
      const answer = await validateLicense(w.deps, { license: w.license, plan, prefetched: w.together, siteUrl: url });
      return answer.kind === "valid" ? answer.result.site : answer;
    };
    expect(await site("https://read-together.example.com")).toEqual({ host: "read-together.example.com", active: true });
    expect(await site("https://shop.example.com")).toEqual({ host: "shop.example.com", active: false });
    expect(w.calls).toEqual([]);
  });

  test("reads again when they cover another month (the month turned between the two)", async () => {
    const w = await world({ canReadTogether: true });
    const stale = { ...w.together, monthStart: new Date("2026-10-01T00:00:00Z") };
    const outcome = await validateLicense(w.deps, { license: w.license, plan, prefetched: stale });
    if (outcome.kind !== "valid") throw new Error("expected valid");
    expect(outcome.result.usage).toEqual({ requests: 1, tokens: 10, costEur: 0.1 });
    expect(w.calls.sort()).toEqual(["activeFor", "monthToDate"]);
  });
});
