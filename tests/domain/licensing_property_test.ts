// Property-based tests of the licensing rules: key format round-trips, site host normalisation and seat
// counting. Random inputs (fast-check prints the seed and the shrunk counterexample on failure).
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { API_TOKEN_PATTERN, apiTokenDigest, createApiToken, type ApiToken, type AuditEntry } from "../../src/domain/admin/mod.ts";
import {
  activateSite,
  deactivateSite,
  decideActivation,
  generateLicenseKey,
  isExemptHost,
  type License,
  type Licenses,
  licenseKeyDigest,
  licenseKeyPrefix,
  normalizeSiteHost,
  parseLicenseKey,
  releaseSite,
  seatsUsed,
  type SiteActivation,
  type SiteActivations,
  siteStateForValidation,
} from "../../src/domain/licensing/mod.ts";
import { DEFAULT_PLANS, type Plan } from "../../src/domain/plans/mod.ts";
import { DomainError, type Random, type Throttle } from "../../src/domain/shared/mod.ts";

const RUNS = 200;
// Written independently of the domain's pattern: what a well-formed key looks like, canonical and loose.
const CANONICAL_KEY = /^CHA-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}$/;
const HEX = "0123456789abcdefABCDEF";

function randomOf(bytes: Uint8Array): Random {
  return { bytes: (length) => bytes.slice(0, length) };
}

function hexOf(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const keyBytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
const generatedKey = keyBytes.map((bytes) => generateLicenseKey(randomOf(bytes)));
// Any UTF-16 unit, ASCII half the time (fast-check's "binary" string unit is very slow to generate).
const anyChar = fc
  .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xffff }))
  .map((code) => String.fromCharCode(code));
const edgeWhitespace = fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r", "\u00a0", "\ufeff"), maxLength: 4 });

/** A key written the way a user might paste it: any letter case, whitespace around it. */
const looseSpelling = fc
  .tuple(generatedKey, fc.array(fc.boolean(), { minLength: 39, maxLength: 39 }), edgeWhitespace, edgeWhitespace)
  .map(([key, lower, before, after]) => ({
    key,
    spelled: before + [...key].map((ch, i) => (lower[i] ? ch.toLowerCase() : ch)).join("") + after,
  }));

/** A single character that may not stand at position `index` of a key (checked against the canonical form). */
function breaksKeyAt(index: number, ch: string): boolean {
  if (index < 3) return ch.toUpperCase() !== "CHA"[index] || !/^[a-z]$/i.test(ch);
  if (index === 3 || index === 12 || index === 21 || index === 30) return ch !== "-";
  return !HEX.includes(ch);
}

async function rejects(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("license key properties", () => {
  test("every generated key is canonical, parses to itself and encodes exactly the random bytes", () => {
    fc.assert(
      fc.property(keyBytes, (bytes) => {
        const key = generateLicenseKey(randomOf(bytes));
        expect(key).toMatch(CANONICAL_KEY);
        expect(parseLicenseKey(key)).toBe(key);
        expect(key.slice(4).replaceAll("-", "").toLowerCase()).toBe(hexOf(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  test("any letter case and surrounding whitespace parse to the same canonical key, prefix and digest", async () => {
    await fc.assert(
      fc.asyncProperty(looseSpelling, async ({ key, spelled }) => {
        expect(parseLicenseKey(spelled)).toBe(key);
        expect(licenseKeyPrefix(spelled)).toBe(key.slice(0, 12));
        expect(await licenseKeyDigest(spelled)).toBe(await licenseKeyDigest(key));
      }),
      { numRuns: RUNS },
    );
  });

  test("the digest is 64 lowercase hex digits, stable, and differs for different keys", async () => {
    await fc.assert(
      fc.asyncProperty(keyBytes, keyBytes, async (a, b) => {
        fc.pre(hexOf(a) !== hexOf(b));
        const keyA = generateLicenseKey(randomOf(a));
        const keyB = generateLicenseKey(randomOf(b));
        const digestA = await licenseKeyDigest(keyA);
        expect(digestA).toMatch(/^[0-9a-f]{64}$/);
        expect(await licenseKeyDigest(keyA)).toBe(digestA);
        expect(await licenseKeyDigest(keyB)).not.toBe(digestA);
      }),
      { numRuns: 100 },
    );
  });

  test("the prefix is CHA- and the first group, and never reveals more of the key", () => {
    fc.assert(
      fc.property(generatedKey, (key) => {
        const prefix = licenseKeyPrefix(key);
        expect(prefix).toMatch(/^CHA-[0-9A-F]{8}$/);
        expect(key.startsWith(prefix)).toBe(true);
        expect(key.slice(prefix.length)).toMatch(/^-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}$/);
      }),
      { numRuns: RUNS },
    );
  });

  test("a key with one character replaced by a character not allowed there is rejected everywhere", async () => {
    const mutated = fc
      .tuple(generatedKey, fc.integer({ min: 0, max: 38 }), anyChar)
      .filter(([, index, ch]) => breaksKeyAt(index, ch))
      .map(([key, index, ch]) => key.slice(0, index) + ch + key.slice(index + 1));
    await fc.assert(
      fc.asyncProperty(mutated, async (text) => {
        expect(parseLicenseKey(text)).toBeNull();
        expect(() => licenseKeyPrefix(text)).toThrow(DomainError);
        expect(await rejects(licenseKeyDigest(text))).toBeInstanceOf(DomainError);
      }),
      { numRuns: RUNS },
    );
  });

  test("a key with a character dropped or a character inserted inside it is rejected", () => {
    const dropped = fc
      .tuple(generatedKey, fc.integer({ min: 0, max: 38 }))
      .map(([key, index]) => key.slice(0, index) + key.slice(index + 1));
    const inserted = fc
      .tuple(generatedKey, fc.integer({ min: 1, max: 38 }), anyChar)
      .map(([key, index, ch]) => key.slice(0, index) + ch + key.slice(index));
    fc.assert(
      fc.property(fc.oneof(dropped, inserted), (text) => {
        expect(parseLicenseKey(text)).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });

  test("arbitrary strings parse only when, trimmed, they spell a key in ASCII", () => {
    const nearKey = fc
      .tuple(fc.constantFrom("CHA-", "cha-", "ChA-", "CHX-", ""), fc.array(fc.stringMatching(/^[0-9a-fA-Fg-z\-]{7,9}$/), { minLength: 3, maxLength: 5 }))
      .map(([head, groups]) => head + groups.join("-"));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: anyChar, maxLength: 60 }), nearKey), edgeWhitespace, (body, space) => {
        const text = space + body + space;
        const parsed = parseLicenseKey(text);
        const trimmed = text.trim();
        if (/^cha-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/i.test(trimmed)) {
          expect(parsed).toBe(trimmed.toUpperCase());
        } else {
          expect(parsed).toBeNull();
        }
      }),
      { numRuns: 500 },
    );
  });

  test("non-string values are never keys", () => {
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== "string"),
        (value) => {
          expect(parseLicenseKey(value)).toBeNull();
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("admin API token properties", () => {
  test("a created token matches the token format, shows only its first 12 characters and is stored as its digest", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 20, maxLength: 20 }), async (bytes) => {
        let stored: { digest: string; prefix: string } | null = null;
        const tokens = {
          async create(data: { name: string; digest: string; prefix: string; scope: "read" | "write" }, now: Date): Promise<ApiToken> {
            stored = data;
            return { id: 1, name: data.name, prefix: data.prefix, scope: data.scope, createdAt: now, lastUsedAt: null, revokedAt: null };
          },
          byDigest: async () => null,
          list: async () => [],
          revoke: async () => false,
          touch: async () => {},
        };
        const audit: AuditEntry[] = [];
        const { token, info } = await createApiToken(
          { tokens, random: randomOf(bytes), clock: { now: () => new Date("2025-01-01T00:00:00Z") }, audit: { record: async (e) => void audit.push(e) } },
          { name: "ci", scope: "read", actor: { type: "cli" }, createdBy: null },
        );
        expect(token).toMatch(API_TOKEN_PATTERN);
        expect(token.slice(5)).toBe(hexOf(bytes));
        expect(info.prefix).toBe(token.slice(0, 12));
        expect(stored!.digest).toBe(await apiTokenDigest(token));
        expect(JSON.stringify(audit)).not.toContain(token);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Site hosts

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
const tld = fc.constantFrom("com", "de", "org", "shop", "co.uk", "example");
const productionDomain = fc
  .tuple(fc.array(label, { minLength: 1, maxLength: 3 }), tld)
  .map(([labels, top]) => `${labels.join(".")}.${top}`)
  // "xn--" labels must be valid punycode, which random labels are not; www. prefixes are added by spellingsOf.
  .filter((host) => !isExemptHost(host) && !host.startsWith("www.") && !/(^|\.)xn--/.test(host));
const exemptHost = fc.oneof(
  fc.constant("localhost"),
  label.map((l) => `${l}.localhost`),
  label.map((l) => `${l}.local`),
  label.map((l) => `${l}.test`),
  productionDomain.map((d) => `staging.${d}`),
  productionDomain.map((d) => `dev.${d}`),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join(".")),
  fc.constantFrom("[::1]", "[2001:db8::1]"),
);
const anyHost = fc.oneof({ weight: 3, arbitrary: productionDomain }, { weight: 1, arbitrary: exemptHost });

/** A URL a plugin could send for `host`: scheme or none, upper case, www. labels, a port, a path, a trailing dot. */
function spellingsOf(host: fc.Arbitrary<string>): fc.Arbitrary<{ host: string; url: string }> {
  return fc
    .record({
      host,
      scheme: fc.constantFrom("", "http://", "https://", "//", "HTTPS://"),
      www: fc.nat(2),
      upper: fc.boolean(),
      dot: fc.boolean(),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
      path: fc.constantFrom("", "/", "/wp-admin/", "/shop?x=1", "#top"),
      space: fc.constantFrom("", " ", "\t"),
    })
    .map((r) => {
      const ip = /^[\d.]+$/.test(r.host) || r.host.startsWith("[");
      // "www." is only dropped while a domain remains ("www.localhost" is its own host, like "www.com").
      const www = ip || !r.host.includes(".") ? "" : "www.".repeat(r.www);
      let name = ip ? r.host : www + r.host + (r.dot ? "." : "");
      if (r.upper) name = name.toUpperCase();
      const port = r.port === null ? "" : `:${r.port}`;
      return { host: r.host, url: `${r.space}${r.scheme}${name}${port}${r.path}${r.space}` };
    });
}

describe("site host properties", () => {
  test("every spelling of a site URL normalises to the same host", () => {
    fc.assert(
      fc.property(spellingsOf(anyHost), ({ host, url }) => {
        expect(normalizeSiteHost(url)).toBe(normalizeSiteHost(host));
        expect(normalizeSiteHost(host)).not.toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  test("normalising a normalised host changes nothing", () => {
    const input = fc.oneof(
      spellingsOf(anyHost).map((s) => s.url),
      fc.string({ maxLength: 40 }),
      // Dense in the characters URL parsing cares about, so odd hosts (percent escapes, IPs, brackets) come up.
      fc.string({ unit: fc.constantFrom(..."wW.:/[]@%-xn017aé#?\\"), maxLength: 30 }),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.domain(),
    );
    fc.assert(
      fc.property(input, (text) => {
        const host = normalizeSiteHost(text);
        if (host !== null) expect(normalizeSiteHost(host)).toBe(host);
      }),
      { numRuns: 500 },
    );
  });

  test("a normalised host is lowercase, without www., port, path or trailing dot", () => {
    fc.assert(
      fc.property(fc.oneof(spellingsOf(anyHost).map((s) => s.url), fc.webUrl()), (text) => {
        const host = normalizeSiteHost(text);
        if (host === null) return;
        expect(host).toBe(host.toLowerCase());
        expect(host.endsWith(".")).toBe(false);
        if (!host.startsWith("[")) expect(host).not.toMatch(/[/:?#@\s]/);
        if (host.startsWith("www.")) expect(host.slice(4)).not.toContain(".");
      }),
      { numRuns: 500 },
    );
  });

  test("exemption survives normalisation: a host is exempt exactly when its normalised form is", () => {
    fc.assert(
      fc.property(spellingsOf(anyHost), ({ host, url }) => {
        expect(isExemptHost(normalizeSiteHost(url)!)).toBe(isExemptHost(host));
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Seats: a model of the SiteActivations port that behaves like the database adapter (decideActivation
// under a lock, reactivation of a released row), driven through the activate/deactivate use cases.

class MemorySites implements SiteActivations {
  private rows: Array<SiteActivation & { deactivatedAt: Date | null }> = [];

  async activeFor(licenseId: number): Promise<SiteActivation[]> {
    return this.rows
      .filter((r) => r.licenseId === licenseId && r.deactivatedAt === null)
      .map(({ deactivatedAt: _d, ...site }) => ({ ...site }));
  }

  async activate(licenseId: number, host: string, maxSites: number, now: Date) {
    const active = await this.activeFor(licenseId);
    const decision = decideActivation({ host, sites: active, maxSites });
    if (decision.kind === "limit_reached") return decision;
    if (decision.kind === "already_active") return { kind: "already_active" as const, sites: active };
    const released = this.rows.find((r) => r.licenseId === licenseId && r.host === host);
    if (released) Object.assign(released, { deactivatedAt: null, activatedAt: now, exempt: decision.exempt });
    else this.rows.push({ id: this.rows.length + 1, licenseId, host, exempt: decision.exempt, activatedAt: now, deactivatedAt: null });
    return { kind: "activated" as const, sites: await this.activeFor(licenseId) };
  }

  async deactivate(licenseId: number, host: string, now: Date): Promise<boolean> {
    const row = this.rows.find((r) => r.licenseId === licenseId && r.host === host && r.deactivatedAt === null);
    if (!row) return false;
    row.deactivatedAt = now;
    return true;
  }
}

/** Fixed windows as the database throttle keeps them. */
function memoryThrottle(): Throttle {
  const buckets = new Map<string, { hits: number; resetAt: Date }>();
  return {
    async hit(bucket, windowMs, now) {
      const current = buckets.get(bucket);
      const state = current && current.resetAt > now ? { hits: current.hits + 1, resetAt: current.resetAt } : { hits: 1, resetAt: new Date(now.getTime() + windowMs) };
      buckets.set(bucket, state);
      return { ...state };
    },
    async peek(bucket, now) {
      const current = buckets.get(bucket);
      return current && current.resetAt > now ? { ...current } : null;
    },
  };
}

function planWithSites(maxSites: number): Plan {
  const pro = DEFAULT_PLANS.find((p) => p.name === "pro")!;
  return { ...pro, id: 2, limits: { ...pro.limits, maxSites } };
}

function licenseFor(planId: number): License {
  const at = new Date("2025-01-01T00:00:00Z");
  return {
    id: 7, keyDigest: "d", keySealed: "s", keyPrefix: "CHA-00000000", customerId: 1, planId, status: "active", domain: null,
    expiresAt: null, activatedAt: null, lastValidatedAt: null, metadata: {}, createdAt: at, updatedAt: at,
  };
}

/** The Licenses port holding one license (release only looks it up). */
function licensesOf(license: License): Licenses {
  return {
    byDigest: async (digest) => (digest === license.keyDigest ? license : null),
    byId: async (id) => (id === license.id ? license : null),
    insert: async () => license,
    updateStatus: async () => {},
    touchValidated: async () => {},
    list: async () => ({ items: [license], total: 1 }),
  };
}

type SiteOp = { kind: "activate" | "deactivate" | "release"; site: number; url: string };

const siteScenario = fc
  .record({ maxSites: fc.integer({ min: -1, max: 4 }), hosts: fc.uniqueArray(anyHost, { minLength: 1, maxLength: 8 }) })
  .chain(({ maxSites, hosts }) =>
    fc.record({
      maxSites: fc.constant(maxSites),
      hosts: fc.constant(hosts),
      ops: fc.array(
        fc
          .record({ kind: fc.constantFrom("activate", "activate", "deactivate", "release"), site: fc.nat(hosts.length - 1) })
          .chain((op) => spellingsOf(fc.constant(hosts[op.site])).map((s): SiteOp => ({ ...op, url: s.url } as SiteOp))),
        { maxLength: 40 },
      ),
    }),
  );

describe("seat counting properties", () => {
  test("activation is idempotent, exempt hosts are free, seats never exceed max_sites and deactivating frees a seat", async () => {
    await fc.assert(
      fc.asyncProperty(siteScenario, async ({ maxSites, hosts, ops }) => {
        const sites = new MemorySites();
        let now = new Date("2025-05-01T00:00:00Z");
        const deps = { sites, clock: { now: () => now }, audit: { record: async () => {} }, throttle: memoryThrottle() };
        const plan = planWithSites(maxSites);
        const license = licenseFor(plan.id);
        // Oracle: which of the generated hosts are active, kept independently of the use cases.
        const active = new Set<string>();
        const seatsOf = () => [...active].filter((h) => !isExemptHost(h)).length;

        for (const op of ops) {
          // An hour per step keeps the day's seat changes under the 30-change budget, so it never interferes.
          now = new Date(now.getTime() + 3_600_000);
          const host = hosts[op.site];
          const before = seatsOf();
          const wasActive = active.has(host);
          if (op.kind === "activate") {
            const free = maxSites <= 0 || before < maxSites;
            const expectedState = isExemptHost(host) || wasActive ? "active" : free ? "free_seat" : "not_activated";
            expect(siteStateForValidation({ host, sites: await sites.activeFor(license.id), maxSites })).toBe(expectedState);
            const result = await activateSite(deps, { license, plan, siteUrl: op.url, actor: { type: "license" } });
            if (wasActive || isExemptHost(host) || free) {
              expect(result).toMatchObject({ kind: "done", host, changed: !wasActive });
              active.add(host);
            } else {
              expect(result.kind).toBe("limit_reached");
              if (result.kind === "limit_reached") {
                expect(result.limit).toBe(maxSites);
                expect(result.activeSites.sort()).toEqual([...active].filter((h) => !isExemptHost(h)).sort());
              }
            }
          } else if (op.kind === "deactivate") {
            const result = await deactivateSite(deps, { license, plan, siteUrl: op.url, actor: { type: "license" } });
            expect(result).toMatchObject({ kind: "done", host, changed: wasActive });
            active.delete(host);
          } else {
            // The admin releases a site by the host the service stored, as the admin pages post it back.
            const stored = (await sites.activeFor(license.id)).find((s) => s.host === host)?.host ?? host;
            expect(await releaseSite({ ...deps, licenses: licensesOf(license) }, { licenseId: license.id, host: stored, actor: { type: "cli" } })).toBe(wasActive);
            active.delete(host);
          }

          const stored = await sites.activeFor(license.id);
          expect(stored.map((s) => s.host).sort()).toEqual([...active].sort());
          expect(seatsUsed(stored)).toBe(seatsOf());
          if (maxSites > 0) expect(seatsUsed(stored)).toBeLessThanOrEqual(maxSites);
          for (const s of stored) expect(s.exempt).toBe(isExemptHost(s.host));
          if (op.kind !== "activate" && wasActive && !isExemptHost(host)) expect(seatsOf()).toBe(before - 1);
        }
      }),
      { numRuns: 150 },
    );
  });

  test("decideActivation never hands out a seat beyond max_sites, whatever the recorded sites", () => {
    const recorded = fc.uniqueArray(anyHost, { maxLength: 8 }).map((hosts) =>
      hosts.map((host, i): SiteActivation => ({ id: i + 1, licenseId: 7, host, exempt: isExemptHost(host), activatedAt: new Date(0) })),
    );
    fc.assert(
      fc.property(recorded, anyHost, fc.integer({ min: -1, max: 6 }), (sites, host, maxSites) => {
        const decision = decideActivation({ host, sites, maxSites });
        const state = siteStateForValidation({ host, sites, maxSites });
        if (sites.some((s) => s.host === host)) {
          expect(decision).toEqual({ kind: "already_active" });
          expect(state).toBe("active");
        } else if (decision.kind === "activate") {
          const after = [...sites, { id: 99, licenseId: 7, host, exempt: decision.exempt, activatedAt: new Date(0) }];
          expect(decision.exempt).toBe(isExemptHost(host));
          // Either the site is free, or the seats after activating still fit (a full license only grows by exempt sites).
          if (maxSites > 0) expect(decision.exempt || seatsUsed(after) <= maxSites).toBe(true);
          expect(state).toBe(decision.exempt ? "active" : "free_seat");
        } else {
          expect(decision.kind).toBe("limit_reached");
          expect(maxSites).toBeGreaterThan(0);
          expect(seatsUsed(sites)).toBeGreaterThanOrEqual(maxSites);
          expect(isExemptHost(host)).toBe(false);
          expect(state).toBe("not_activated");
        }
      }),
      { numRuns: 500 },
    );
  });
});
