import { describe, expect, test } from "bun:test";
import {
  addCalendarMonths,
  applyAction,
  canTransition,
  decideActivation,
  defaultTermFor,
  effectiveStatus,
  expiryFor,
  generateLicenseKey,
  isExemptHost,
  isLicenseStatus,
  LICENSE_STATUSES,
  licenseKeyDigest,
  licenseKeyPrefix,
  type LicenseStatus,
  normalizeSiteHost,
  parseLicenseKey,
  parseTerm,
  seatsUsed,
  type SiteActivation,
  siteStateForValidation,
  shouldTouchValidation,
  VALIDATION_TOUCH_INTERVAL_MS,
} from "../../src/domain/licensing/mod.ts";
import { DomainError, type Random } from "../../src/domain/shared/mod.ts";

const KEY = "CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4";

function fixedRandom(bytes: number[]): Random & { requested: number[] } {
  const requested: number[] = [];
  return {
    requested,
    bytes(length: number) {
      requested.push(length);
      return Uint8Array.from(bytes.slice(0, length));
    },
  };
}

function utc(iso: string): Date {
  return new Date(iso);
}

function caught(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error("expected a DomainError");
}

function site(host: string, exempt = isExemptHost(host), id = 1): SiteActivation {
  return { id, licenseId: 7, host, exempt, activatedAt: utc("2025-01-01T00:00:00Z") };
}

describe("license keys", () => {
  test("generateLicenseKey formats 16 bytes from the Random port as four uppercase hex groups", () => {
    const random = fixedRandom([
      0x1f, 0x3a, 0x9c, 0x0b, 0x77, 0xd2, 0xe4, 0xa1, 0x0b, 0x9c, 0x8d, 0x7e, 0xa1, 0xb2, 0xc3, 0xd4,
    ]);
    expect(generateLicenseKey(random)).toBe(KEY);
    expect(random.requested).toEqual([16]);
  });

  test("generateLicenseKey keeps leading zeros of each byte", () => {
    expect(generateLicenseKey(fixedRandom(new Array(16).fill(0)))).toBe("CHA-00000000-00000000-00000000-00000000");
  });

  test("generateLicenseKey produces keys that parseLicenseKey accepts unchanged", () => {
    const random: Random = { bytes: (n) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) % 256) };
    const key = generateLicenseKey(random);
    expect(parseLicenseKey(key)).toBe(key);
  });

  test("generateLicenseKey refuses a Random port that returns too few bytes", () => {
    expect(() => generateLicenseKey(fixedRandom([1, 2, 3]))).toThrow();
  });

  test("parseLicenseKey accepts a well-formed key unchanged", () => {
    expect(parseLicenseKey(KEY)).toBe(KEY);
  });

  test("parseLicenseKey trims surrounding whitespace and uppercases", () => {
    expect(parseLicenseKey(`  ${KEY.toLowerCase()}\n`)).toBe(KEY);
    expect(parseLicenseKey("\tcha-1f3a9c0b-77D2E4A1-0b9c8d7e-a1b2c3d4 ")).toBe(KEY);
  });

  test("parseLicenseKey rejects a key with a lowercase prefix and wrong length", () => {
    expect(parseLicenseKey("cha-1f3a9c0b-77d2e4a1-0b9c8d7e-a1b2c3d")).toBeNull();
  });

  test("parseLicenseKey rejects spaces inside the key", () => {
    expect(parseLicenseKey("CHA-1F3A9C0B- 77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
    expect(parseLicenseKey("CHA 1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
  });

  test("parseLicenseKey rejects wrong group sizes and group counts", () => {
    expect(parseLicenseKey("CHA-1F3A9C0-B77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
    expect(parseLicenseKey("CHA-1F3A9C0B-77D2E4A1-0B9C8D7E")).toBeNull();
    expect(parseLicenseKey(`${KEY}-A1B2C3D4`)).toBeNull();
    expect(parseLicenseKey("CHA-1F3A9C0B77D2E4A10B9C8D7EA1B2C3D4")).toBeNull();
  });

  test("parseLicenseKey rejects non-hex digits", () => {
    expect(parseLicenseKey("CHA-1F3A9C0G-77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
    expect(parseLicenseKey("CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3Dz")).toBeNull();
  });

  test("parseLicenseKey rejects a wrong prefix", () => {
    expect(parseLicenseKey("CHX-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
    expect(parseLicenseKey("1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
  });

  test("parseLicenseKey rejects non-ASCII letters that uppercase into hex digits", () => {
    expect(parseLicenseKey("CHA-1F3A9C\ufb00-77D2E4A1-0B9C8D7E-A1B2C3D4")).toBeNull();
  });

  test("parseLicenseKey rejects non-string input", () => {
    for (const input of [undefined, null, 42, {}, [KEY]]) expect(parseLicenseKey(input)).toBeNull();
  });

  test("licenseKeyPrefix returns CHA and the first group", () => {
    expect(licenseKeyPrefix(KEY)).toBe("CHA-1F3A9C0B");
    expect(licenseKeyPrefix(` ${KEY.toLowerCase()} `)).toBe("CHA-1F3A9C0B");
  });

  test("licenseKeyPrefix throws invalid_argument on a malformed key", () => {
    expect(caught(() => licenseKeyPrefix("nope")).code).toBe("invalid_argument");
  });

  test("licenseKeyDigest is the lowercase hex SHA-256 of the normalised key", async () => {
    // printf %s KEY | sha256sum
    const expected = "33575d6559e799f0b76b35ba27bb848a40ca43935a6667b8cb556382174eabb9";
    expect(await licenseKeyDigest(KEY)).toBe(expected);
    expect(await licenseKeyDigest(`  ${KEY.toLowerCase()} `)).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  test("licenseKeyDigest rejects a malformed key instead of digesting it", async () => {
    await expect(licenseKeyDigest("CHA-123")).rejects.toBeInstanceOf(DomainError);
  });
});

describe("effectiveStatus", () => {
  const now = utc("2025-06-15T12:00:00Z");

  test("effectiveStatus keeps the stored status before the expiry", () => {
    expect(effectiveStatus({ status: "active", expiresAt: utc("2025-06-15T12:00:00.001Z") }, now)).toBe("active");
    expect(effectiveStatus({ status: "suspended", expiresAt: utc("2026-01-01T00:00:00Z") }, now)).toBe("suspended");
  });

  test("effectiveStatus answers expired exactly at the expiry instant", () => {
    expect(effectiveStatus({ status: "active", expiresAt: now }, now)).toBe("expired");
  });

  test("effectiveStatus answers expired past the expiry whatever the stored status", () => {
    for (const status of LICENSE_STATUSES) {
      expect(effectiveStatus({ status, expiresAt: utc("2025-06-01T00:00:00Z") }, now)).toBe("expired");
    }
  });

  test("effectiveStatus never expires a license without an expiry", () => {
    expect(effectiveStatus({ status: "active", expiresAt: null }, utc("2999-01-01T00:00:00Z"))).toBe("active");
  });

  test("isLicenseStatus accepts the four statuses only", () => {
    expect(LICENSE_STATUSES.every(isLicenseStatus)).toBe(true);
    expect(isLicenseStatus("Active")).toBe(false);
    expect(isLicenseStatus(null)).toBe(false);
  });
});

describe("addCalendarMonths", () => {
  test("addCalendarMonths keeps the day and the time of day", () => {
    expect(addCalendarMonths(utc("2025-03-10T13:14:15.678Z"), 1).toISOString()).toBe("2025-04-10T13:14:15.678Z");
  });

  test("addCalendarMonths clamps Jan 31 to Feb 28 in a common year", () => {
    expect(addCalendarMonths(utc("2025-01-31T08:00:00Z"), 1).toISOString()).toBe("2025-02-28T08:00:00.000Z");
  });

  test("addCalendarMonths clamps Jan 31 to Feb 29 in a leap year", () => {
    expect(addCalendarMonths(utc("2024-01-31T08:00:00Z"), 1).toISOString()).toBe("2024-02-29T08:00:00.000Z");
  });

  test("addCalendarMonths moves Feb 29 to Feb 28 a year later", () => {
    expect(addCalendarMonths(utc("2024-02-29T00:00:00Z"), 12).toISOString()).toBe("2025-02-28T00:00:00.000Z");
  });

  test("addCalendarMonths handles the century leap rules", () => {
    expect(addCalendarMonths(utc("2100-01-31T00:00:00Z"), 1).toISOString()).toBe("2100-02-28T00:00:00.000Z");
    expect(addCalendarMonths(utc("2000-01-31T00:00:00Z"), 1).toISOString()).toBe("2000-02-29T00:00:00.000Z");
  });

  test("addCalendarMonths clamps the 31st into a 30-day month", () => {
    expect(addCalendarMonths(utc("2025-03-31T23:59:59Z"), 1).toISOString()).toBe("2025-04-30T23:59:59.000Z");
  });

  test("addCalendarMonths rolls December over into January of the next year", () => {
    expect(addCalendarMonths(utc("2025-12-15T10:00:00Z"), 1).toISOString()).toBe("2026-01-15T10:00:00.000Z");
    expect(addCalendarMonths(utc("2025-12-31T10:00:00Z"), 2).toISOString()).toBe("2026-02-28T10:00:00.000Z");
  });

  test("addCalendarMonths adds many years of months", () => {
    expect(addCalendarMonths(utc("2025-05-20T00:00:00Z"), 120).toISOString()).toBe("2035-05-20T00:00:00.000Z");
  });

  test("addCalendarMonths refuses a result beyond the range of dates instead of returning an Invalid Date", () => {
    expect(caught(() => addCalendarMonths(utc("2025-01-01T00:00:00Z"), Number.MAX_SAFE_INTEGER)).code).toBe("invalid_argument");
    expect(caught(() => addCalendarMonths(new Date(8.64e15), 1)).code).toBe("invalid_argument");
  });

  test("addCalendarMonths goes backwards for negative months and across a year", () => {
    expect(addCalendarMonths(utc("2025-03-31T00:00:00Z"), -1).toISOString()).toBe("2025-02-28T00:00:00.000Z");
    expect(addCalendarMonths(utc("2025-01-15T00:00:00Z"), -1).toISOString()).toBe("2024-12-15T00:00:00.000Z");
  });

  test("addCalendarMonths works in UTC even near midnight", () => {
    expect(addCalendarMonths(utc("2025-01-31T23:30:00Z"), 1).toISOString()).toBe("2025-02-28T23:30:00.000Z");
    expect(addCalendarMonths(utc("2025-02-01T00:30:00Z"), 1).toISOString()).toBe("2025-03-01T00:30:00.000Z");
  });

  test("addCalendarMonths does not mutate its input", () => {
    const from = utc("2025-01-31T00:00:00Z");
    addCalendarMonths(from, 1);
    expect(from.toISOString()).toBe("2025-01-31T00:00:00.000Z");
  });

  test("addCalendarMonths rejects fractional months and invalid dates", () => {
    expect(caught(() => addCalendarMonths(utc("2025-01-01T00:00:00Z"), 1.5)).details).toEqual({ field: "months" });
    expect(caught(() => addCalendarMonths(new Date(Number.NaN), 1)).code).toBe("invalid_argument");
  });
});

describe("terms", () => {
  const from = utc("2025-01-31T09:00:00Z");

  test("expiryFor a lifetime term is null", () => {
    expect(expiryFor({ lifetime: true }, from)).toBeNull();
  });

  test("expiryFor a monthly term adds calendar months", () => {
    expect(expiryFor({ months: 1 }, from)?.toISOString()).toBe("2025-02-28T09:00:00.000Z");
    expect(expiryFor({ months: 12 }, from)?.toISOString()).toBe("2026-01-31T09:00:00.000Z");
  });

  test("expiryFor accepts 1 and 120 months and rejects 0, 121, negatives and fractions", () => {
    expect(expiryFor({ months: 120 }, from)?.toISOString()).toBe("2035-01-31T09:00:00.000Z");
    for (const months of [0, 121, -1, 1.5, Number.NaN]) {
      const error = caught(() => expiryFor({ months }, from));
      expect(error.code).toBe("invalid_argument");
      expect(error.details).toEqual({ field: "months" });
    }
  });

  test("parseTerm reads months or lifetime", () => {
    expect(parseTerm({ months: 3 })).toEqual({ months: 3 });
    expect(parseTerm({ lifetime: true })).toEqual({ lifetime: true });
    expect(parseTerm({ months: 6, lifetime: false })).toEqual({ months: 6 });
  });

  test("parseTerm rejects both months and lifetime", () => {
    const error = caught(() => parseTerm({ months: 12, lifetime: true }));
    expect(error.code).toBe("invalid_argument");
    expect(error.details).toEqual({ field: "months" });
  });

  test("parseTerm rejects neither months nor lifetime when no fallback is given", () => {
    expect(caught(() => parseTerm({})).details).toEqual({ field: "months" });
    expect(caught(() => parseTerm({ months: null, lifetime: false })).code).toBe("invalid_argument");
  });

  test("parseTerm uses the fallback when neither is given", () => {
    expect(parseTerm({}, { months: 1 })).toEqual({ months: 1 });
    expect(parseTerm({ lifetime: false }, { lifetime: true })).toEqual({ lifetime: true });
  });

  test("parseTerm ignores the fallback when months are given", () => {
    expect(parseTerm({ months: 2 }, { lifetime: true })).toEqual({ months: 2 });
  });

  test("parseTerm rejects months out of range or not a number", () => {
    for (const months of [0, 121, 2.5, "3", -4]) {
      expect(caught(() => parseTerm({ months })).details).toEqual({ field: "months" });
    }
  });

  test("parseTerm rejects a lifetime flag that is not a boolean", () => {
    expect(caught(() => parseTerm({ lifetime: "yes" })).details).toEqual({ field: "lifetime" });
  });

  test("defaultTermFor gives lifetime plans a lifetime term", () => {
    expect(defaultTermFor({ isLifetime: true, billing: "one_time" })).toEqual({ lifetime: true });
  });

  test("defaultTermFor gives monthly plans one month and yearly plans twelve", () => {
    expect(defaultTermFor({ isLifetime: false, billing: "monthly" })).toEqual({ months: 1 });
    expect(defaultTermFor({ isLifetime: false, billing: "yearly" })).toEqual({ months: 12 });
  });

  test("defaultTermFor refuses to guess for a non-lifetime one-time plan", () => {
    expect(caught(() => defaultTermFor({ isLifetime: false, billing: "one_time" })).code).toBe("invalid_argument");
  });
});

describe("status transitions", () => {
  const now = utc("2025-06-15T12:00:00Z");
  const future = utc("2026-01-01T00:00:00Z");
  const past = utc("2025-01-01T00:00:00Z");

  test("canTransition follows the status table", () => {
    const table: Record<LicenseStatus, [boolean, boolean, boolean]> = {
      active: [true, true, true],
      suspended: [true, true, true],
      expired: [false, false, true],
      cancelled: [false, false, true],
    };
    for (const status of LICENSE_STATUSES) {
      const row = (["suspend", "reactivate", "cancel"] as const).map((action) => canTransition(status, action));
      expect({ status, row }).toEqual({ status, row: table[status] });
    }
  });

  test("applyAction suspends an active license", () => {
    expect(applyAction({ status: "active", expiresAt: future }, "suspend", now)).toBe("suspended");
  });

  test("applyAction reactivates a suspended license that has not expired", () => {
    expect(applyAction({ status: "suspended", expiresAt: future }, "reactivate", now)).toBe("active");
    expect(applyAction({ status: "suspended", expiresAt: null }, "reactivate", now)).toBe("active");
  });

  test("applyAction cancels active, suspended and expired licenses", () => {
    expect(applyAction({ status: "active", expiresAt: null }, "cancel", now)).toBe("cancelled");
    expect(applyAction({ status: "suspended", expiresAt: null }, "cancel", now)).toBe("cancelled");
    expect(applyAction({ status: "active", expiresAt: past }, "cancel", now)).toBe("cancelled");
  });

  test("applyAction treats repeating the current action as a no-op", () => {
    expect(applyAction({ status: "suspended", expiresAt: null }, "suspend", now)).toBe("suspended");
    expect(applyAction({ status: "active", expiresAt: null }, "reactivate", now)).toBe("active");
    expect(applyAction({ status: "cancelled", expiresAt: null }, "cancel", now)).toBe("cancelled");
  });

  test("applyAction refuses to reactivate a cancelled license", () => {
    const error = caught(() => applyAction({ status: "cancelled", expiresAt: null }, "reactivate", now));
    expect(error.code).toBe("conflict");
    expect(error.details).toEqual({ status: "cancelled", action: "reactivate" });
  });

  test("applyAction refuses to suspend a cancelled license", () => {
    expect(caught(() => applyAction({ status: "cancelled", expiresAt: future }, "suspend", now)).code).toBe(
      "conflict",
    );
  });

  test("applyAction refuses to reactivate a license that expired by date, whatever is stored", () => {
    for (const status of ["active", "suspended"] as const) {
      const error = caught(() => applyAction({ status, expiresAt: past }, "reactivate", now));
      expect(error.code).toBe("conflict");
      expect(error.details).toEqual({ status: "expired", action: "reactivate" });
      expect(error.message).toContain("extend");
    }
  });

  test("applyAction refuses to suspend an expired license", () => {
    expect(caught(() => applyAction({ status: "expired", expiresAt: null }, "suspend", now)).code).toBe("conflict");
  });
});

describe("validation touch", () => {
  const now = utc("2025-06-15T12:00:00Z");

  test("VALIDATION_TOUCH_INTERVAL_MS is one hour", () => {
    expect(VALIDATION_TOUCH_INTERVAL_MS).toBe(3_600_000);
  });

  test("shouldTouchValidation touches a license never validated", () => {
    expect(shouldTouchValidation(null, now)).toBe(true);
  });

  test("shouldTouchValidation skips a license validated within the hour", () => {
    expect(shouldTouchValidation(new Date(now.getTime() - VALIDATION_TOUCH_INTERVAL_MS + 1), now)).toBe(false);
    expect(shouldTouchValidation(now, now)).toBe(false);
  });

  test("shouldTouchValidation touches a license validated an hour or more ago", () => {
    expect(shouldTouchValidation(new Date(now.getTime() - VALIDATION_TOUCH_INTERVAL_MS), now)).toBe(true);
    expect(shouldTouchValidation(utc("2024-01-01T00:00:00Z"), now)).toBe(true);
  });

  test("shouldTouchValidation touches a timestamp that lies in the future", () => {
    expect(shouldTouchValidation(new Date(now.getTime() + 1000), now)).toBe(true);
  });
});

describe("normalizeSiteHost", () => {
  test("normalizeSiteHost strips scheme, www, case, path and query", () => {
    expect(normalizeSiteHost("https://www.Shop.Example.com/path?x")).toBe("shop.example.com");
  });

  test("normalizeSiteHost accepts a bare host", () => {
    expect(normalizeSiteHost("shop.example.com")).toBe("shop.example.com");
    expect(normalizeSiteHost("  Shop.Example.com  ")).toBe("shop.example.com");
  });

  test("normalizeSiteHost drops the port with or without a scheme", () => {
    expect(normalizeSiteHost("http://shop.example.com:8080")).toBe("shop.example.com");
    expect(normalizeSiteHost("shop.example.com:8080/wp-admin")).toBe("shop.example.com");
    expect(normalizeSiteHost("localhost:8080")).toBe("localhost");
  });

  test("normalizeSiteHost drops a trailing dot and a fragment", () => {
    expect(normalizeSiteHost("https://shop.example.com./#top")).toBe("shop.example.com");
  });

  test("normalizeSiteHost rejects more than one trailing dot instead of turning the rest into another host", () => {
    expect(normalizeSiteHost("0..")).toBeNull();
    expect(normalizeSiteHost("1.2..")).toBeNull();
    expect(normalizeSiteHost("https://shop.example.com../")).toBeNull();
    expect(normalizeSiteHost("shop.example.com.")).toBe("shop.example.com");
  });

  test("normalizeSiteHost accepts a protocol-relative URL", () => {
    expect(normalizeSiteHost("//www.shop.example.com/")).toBe("shop.example.com");
  });

  test("normalizeSiteHost ignores credentials in the URL", () => {
    expect(normalizeSiteHost("https://user:pass@shop.example.com/")).toBe("shop.example.com");
  });

  test("normalizeSiteHost converts IDN hosts to punycode", () => {
    expect(normalizeSiteHost("https://www.München.de/")).toBe("xn--mnchen-3ya.de");
    expect(normalizeSiteHost("bücher.example")).toBe("xn--bcher-kva.example");
  });

  test("normalizeSiteHost keeps IPv6 literals in brackets and canonicalises IPv4", () => {
    expect(normalizeSiteHost("http://[::1]:8080/")).toBe("[::1]");
    expect(normalizeSiteHost("http://[2001:DB8::0001]/")).toBe("[2001:db8::1]");
    expect(normalizeSiteHost("192.168.1.10:8080")).toBe("192.168.1.10");
  });

  test("normalizeSiteHost strips repeated www. labels so that its result normalises to itself", () => {
    expect(normalizeSiteHost("https://www.www.shop.example.com/")).toBe("shop.example.com");
    expect(normalizeSiteHost("www.www.www.dev.example.com")).toBe("dev.example.com");
    expect(normalizeSiteHost("www.www.com")).toBe("www.com");
    expect(normalizeSiteHost(normalizeSiteHost("www.www.shop.example.com"))).toBe("shop.example.com");
  });

  test("normalizeSiteHost keeps www.com itself rather than reducing it to a TLD", () => {
    expect(normalizeSiteHost("https://www.com")).toBe("www.com");
  });

  test("normalizeSiteHost rejects empty and non-string input", () => {
    for (const input of ["", "   ", undefined, null, 42, {}]) expect(normalizeSiteHost(input)).toBeNull();
  });

  test("normalizeSiteHost rejects whitespace inside the URL", () => {
    expect(normalizeSiteHost("shop example.com")).toBeNull();
    expect(normalizeSiteHost("https://shop.example.com/a b")).toBeNull();
    expect(normalizeSiteHost("https://shop.\texample.com")).toBeNull();
  });

  test("normalizeSiteHost rejects javascript and other non-http schemes", () => {
    expect(normalizeSiteHost("javascript:alert(1)")).toBeNull();
    expect(normalizeSiteHost("JavaScript://shop.example.com/%0aalert(1)")).toBeNull();
    expect(normalizeSiteHost("ftp://shop.example.com")).toBeNull();
    expect(normalizeSiteHost("mailto:owner@shop.example.com")).toBeNull();
    expect(normalizeSiteHost("data:text/html,hi")).toBeNull();
    expect(normalizeSiteHost("file:///etc/passwd")).toBeNull();
  });

  test("normalizeSiteHost rejects hosts over 253 characters", () => {
    const label = "a".repeat(63);
    const host253 = `${label}.${label}.${label}.${"b".repeat(61)}`;
    expect(host253.length).toBe(253);
    expect(normalizeSiteHost(host253)).toBe(host253);
    expect(normalizeSiteHost(`c${host253}`)).toBeNull();
  });

  test("normalizeSiteHost rejects hosts without any letter or digit", () => {
    expect(normalizeSiteHost("http://-/")).toBeNull();
    expect(normalizeSiteHost("http://./")).toBeNull();
    expect(normalizeSiteHost("_.-")).toBeNull();
  });

  test("normalizeSiteHost rejects hosts with characters no DNS name has or empty labels", () => {
    expect(normalizeSiteHost("http://shop*.example.com")).toBeNull();
    expect(normalizeSiteHost("http://shop..example.com")).toBeNull();
  });

  test("normalizeSiteHost rejects unparsable URLs", () => {
    expect(normalizeSiteHost("http://")).toBeNull();
    expect(normalizeSiteHost("http://shop.example.com:99999/")).toBeNull();
    expect(normalizeSiteHost("http://[::1/")).toBeNull();
  });
});

describe("isExemptHost", () => {
  test("isExemptHost exempts localhost and its subdomains", () => {
    expect(isExemptHost("localhost")).toBe(true);
    expect(isExemptHost("shop.localhost")).toBe(true);
  });

  test("isExemptHost exempts .local and .test hosts", () => {
    expect(isExemptHost("shop.local")).toBe(true);
    expect(isExemptHost("my.shop.test")).toBe(true);
  });

  test("isExemptHost exempts staging hosts as first label or inner label", () => {
    expect(isExemptHost("staging.shop.com")).toBe(true);
    expect(isExemptHost("shop.staging.example.com")).toBe(true);
  });

  test("isExemptHost exempts dev hosts", () => {
    expect(isExemptHost("dev.example.com")).toBe(true);
  });

  test("isExemptHost exempts IPv4 and IPv6 literals", () => {
    expect(isExemptHost("127.0.0.1")).toBe(true);
    expect(isExemptHost("203.0.113.7")).toBe(true);
    expect(isExemptHost("[::1]")).toBe(true);
    expect(isExemptHost("[2001:db8::1]")).toBe(true);
    expect(isExemptHost("::1")).toBe(true);
  });

  test("isExemptHost does not exempt lookalike production hosts", () => {
    for (const host of [
      "mystaging.com",
      "staging-shop.com",
      "shop.staging",
      "developer.com",
      "devshop.com",
      "shop.dev.example.com",
      "localhost.com",
      "mylocalhost",
      "shop.localhost.com",
      "local.com",
      "shop.locals",
      "test.com",
      "shop.testing",
      "contest",
      "shop.example.com",
      "999.1.1.1",
      "1.2.3.4.com",
    ]) {
      expect({ host, exempt: isExemptHost(host) }).toEqual({ host, exempt: false });
    }
  });

  test("isExemptHost is case-insensitive and ignores a trailing dot", () => {
    expect(isExemptHost("Staging.Shop.COM")).toBe(true);
    expect(isExemptHost("shop.local.")).toBe(true);
  });

  test("isExemptHost agrees with normalizeSiteHost output", () => {
    expect(isExemptHost(normalizeSiteHost("https://www.staging.example.com/") ?? "")).toBe(true);
    expect(isExemptHost(normalizeSiteHost("http://[::1]:3000") ?? "")).toBe(true);
    expect(isExemptHost(normalizeSiteHost("http://LOCALHOST:8888/wp") ?? "")).toBe(true);
  });
});

describe("seats", () => {
  test("seatsUsed counts only non-exempt sites", () => {
    expect(seatsUsed([])).toBe(0);
    expect(seatsUsed([site("a.com"), site("shop.local"), site("b.com"), site("127.0.0.1")])).toBe(2);
  });

  test("seatsUsed trusts the recorded exempt flag", () => {
    expect(seatsUsed([site("a.com", true), site("shop.local", false)])).toBe(1);
  });

  test("decideActivation is a no-op for a host that is already active", () => {
    expect(decideActivation({ host: "a.com", sites: [site("a.com")], maxSites: 1 })).toEqual({ kind: "already_active" });
  });

  test("decideActivation is a no-op for an already active host even when the limit is reached", () => {
    const sites = [site("a.com", false, 1), site("b.com", false, 2)];
    expect(decideActivation({ host: "b.com", sites, maxSites: 1 })).toEqual({ kind: "already_active" });
  });

  test("decideActivation activates a new host while a seat is free", () => {
    expect(decideActivation({ host: "b.com", sites: [site("a.com")], maxSites: 3 })).toEqual({
      kind: "activate",
      exempt: false,
    });
    expect(decideActivation({ host: "a.com", sites: [], maxSites: 1 })).toEqual({ kind: "activate", exempt: false });
  });

  test("decideActivation refuses a new host when the seats are used and lists the seated hosts", () => {
    const sites = [site("a.com", false, 1), site("shop.local", true, 2), site("b.com", false, 3), site("c.com", false, 4)];
    expect(decideActivation({ host: "d.com", sites, maxSites: 3 })).toEqual({
      kind: "limit_reached",
      limit: 3,
      activeSites: ["a.com", "b.com", "c.com"],
    });
  });

  test("decideActivation does not count exempt sites against the limit", () => {
    const sites = [site("localhost", true, 1), site("staging.a.com", true, 2), site("dev.a.com", true, 3)];
    expect(decideActivation({ host: "a.com", sites, maxSites: 1 })).toEqual({ kind: "activate", exempt: false });
  });

  test("decideActivation always activates an exempt host, even with no seat left", () => {
    const sites = [site("a.com", false, 1)];
    expect(decideActivation({ host: "staging.a.com", sites, maxSites: 1 })).toEqual({ kind: "activate", exempt: true });
    expect(decideActivation({ host: "[::1]", sites, maxSites: 1 })).toEqual({ kind: "activate", exempt: true });
  });

  test("decideActivation treats maxSites of -1 and 0 as unlimited", () => {
    const sites = Array.from({ length: 50 }, (_, i) => site(`s${i}.com`, false, i));
    expect(decideActivation({ host: "new.com", sites, maxSites: -1 })).toEqual({ kind: "activate", exempt: false });
    expect(decideActivation({ host: "new.com", sites, maxSites: 0 })).toEqual({ kind: "activate", exempt: false });
  });

  test("siteStateForValidation is active for an activated host", () => {
    expect(siteStateForValidation({ host: "a.com", sites: [site("a.com")], maxSites: 1 })).toBe("active");
  });

  test("siteStateForValidation is active for an exempt host that was never activated", () => {
    expect(siteStateForValidation({ host: "shop.test", sites: [site("a.com")], maxSites: 1 })).toBe("active");
  });

  test("siteStateForValidation reports a free seat without activating", () => {
    expect(siteStateForValidation({ host: "b.com", sites: [site("a.com")], maxSites: 3 })).toBe("free_seat");
    expect(siteStateForValidation({ host: "b.com", sites: [], maxSites: -1 })).toBe("free_seat");
  });

  test("siteStateForValidation reports not activated when every seat is taken", () => {
    const sites = [site("a.com", false, 1), site("shop.local", true, 2)];
    expect(siteStateForValidation({ host: "b.com", sites, maxSites: 1 })).toBe("not_activated");
  });
});
