// Property-based tests of date arithmetic: calendar months for license terms and extensions, quota windows,
// usage months and report days, across month ends, leap years and window boundaries.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  addCalendarMonths,
  effectiveStatus,
  EXTENSION_MONTHS,
  expiryFor,
  extendedExpiry,
  LICENSE_STATUSES,
  parseTerm,
} from "../../src/domain/licensing/mod.ts";
import { windowEnd, windowStart, type QuotaWindow } from "../../src/domain/quota/mod.ts";
import { addDays, daysOf, parseDay, parseReportQuery, periodsOf, utcDay, weekStart } from "../../src/domain/reports/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";
import { monthStart, nextMonthStart } from "../../src/domain/usage/mod.ts";

const RUNS = 300;
const DAY_MS = 86_400_000;

/** Dates over the four-digit years (ISO-8601's plain range), where every rule must hold. */
const anyDate = fc.date({ min: new Date("0001-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true });
/** Dates a running service meets. */
const serviceDate = fc.date({ min: new Date("1990-01-01T00:00:00.000Z"), max: new Date("2200-12-31T23:59:59.999Z"), noInvalidDate: true });

/** Month ends, 28th/29th of February and the first of a month: where calendar arithmetic goes wrong. */
const edgeDate = fc
  .record({
    year: fc.oneof(fc.integer({ min: 1, max: 9999 }), fc.constantFrom(1900, 2000, 2023, 2024, 2100, 2400)),
    month: fc.integer({ min: 0, max: 11 }),
    day: fc.constantFrom(1, 28, 29, 30, 31),
    ms: fc.oneof(fc.constant(0), fc.constant(DAY_MS - 1), fc.integer({ min: 0, max: DAY_MS - 1 })),
  })
  .map(({ year, month, day, ms }) => {
    const date = new Date(0);
    date.setUTCFullYear(year, month, Math.min(day, daysIn(year, month)));
    return new Date(date.getTime() + ms);
  });
const someDate = fc.oneof(anyDate, edgeDate);

// The oracle: the Gregorian calendar written out, independent of Date's own month arithmetic.
function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysIn(year: number, month: number): number {
  return [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month];
}

function monthIndex(date: Date): number {
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

function timeOfDay(date: Date): number {
  return ((date.getTime() % DAY_MS) + DAY_MS) % DAY_MS;
}

function dayNumber(date: Date): number {
  return Math.floor(date.getTime() / DAY_MS);
}

describe("addCalendarMonths properties", () => {
  test("moves by exactly n calendar months, clamps to the month's last day and keeps the time of day", () => {
    fc.assert(
      fc.property(someDate, fc.integer({ min: -1200, max: 1200 }), (from, n) => {
        const to = addCalendarMonths(from, n);
        fc.pre(to.getUTCFullYear() >= 1 && to.getUTCFullYear() <= 9999);
        expect(monthIndex(to)).toBe(monthIndex(from) + n);
        expect(to.getUTCDate()).toBe(Math.min(from.getUTCDate(), daysIn(to.getUTCFullYear(), to.getUTCMonth())));
        expect(timeOfDay(to)).toBe(timeOfDay(from));
      }),
      { numRuns: 1000 },
    );
  });

  test("adding zero months is the identity and the input date is never modified", () => {
    fc.assert(
      fc.property(someDate, fc.integer({ min: -24, max: 24 }), (from, n) => {
        const before = from.getTime();
        expect(addCalendarMonths(from, 0).getTime()).toBe(before);
        addCalendarMonths(from, n);
        expect(from.getTime()).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });

  test("is strictly increasing in the number of months", () => {
    fc.assert(
      fc.property(serviceDate, fc.integer({ min: -240, max: 240 }), fc.integer({ min: 1, max: 240 }), (from, n, more) => {
        expect(addCalendarMonths(from, n + more).getTime()).toBeGreaterThan(addCalendarMonths(from, n).getTime());
      }),
      { numRuns: RUNS },
    );
  });

  // Not strictly by instant: clamping keeps the time of day, so Jan 30 23:00 + 1 month (Feb 28 23:00) ends
  // later than Jan 31 01:00 + 1 month (Feb 28 01:00). The calendar day never goes backwards.
  test("a later start never gives an earlier end day", () => {
    fc.assert(
      fc.property(someDate, someDate, fc.integer({ min: -240, max: 240 }), (a, b, n) => {
        const [early, late] = a <= b ? [a, b] : [b, a];
        const [x, y] = [addCalendarMonths(early, n), addCalendarMonths(late, n)];
        fc.pre(y.getUTCFullYear() <= 9999 && x.getUTCFullYear() >= 1);
        expect(dayNumber(x)).toBeLessThanOrEqual(dayNumber(y));
      }),
      { numRuns: RUNS },
    );
  });

  test("going back the same number of months returns to the start for days up to the 28th", () => {
    fc.assert(
      fc.property(serviceDate, fc.integer({ min: -600, max: 600 }), (from, n) => {
        fc.pre(from.getUTCDate() <= 28);
        expect(addCalendarMonths(addCalendarMonths(from, n), -n).getTime()).toBe(from.getTime());
      }),
      { numRuns: RUNS },
    );
  });

  test("two steps never end later than one step of the same total, and land in the same month", () => {
    fc.assert(
      fc.property(serviceDate, fc.integer({ min: -120, max: 120 }), fc.integer({ min: -120, max: 120 }), (from, a, b) => {
        const stepped = addCalendarMonths(addCalendarMonths(from, a), b);
        const direct = addCalendarMonths(from, a + b);
        expect(monthIndex(stepped)).toBe(monthIndex(direct));
        expect(stepped.getTime()).toBeLessThanOrEqual(direct.getTime());
      }),
      { numRuns: RUNS },
    );
  });

  test("month ends clamp to the last day: Jan 31 + 1 is Feb 28 or 29, Feb 29 + 12 is Feb 28, + 48 is Feb 29 in a leap year", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9990 }), fc.integer({ min: 0, max: DAY_MS - 1 }), (year, ms) => {
        const jan31 = new Date(0);
        jan31.setUTCFullYear(year, 0, 31);
        const plusOne = addCalendarMonths(new Date(jan31.getTime() + ms), 1);
        expect([plusOne.getUTCMonth(), plusOne.getUTCDate(), timeOfDay(plusOne)]).toEqual([1, isLeap(year) ? 29 : 28, ms]);

        const leapYear = year - (year % 4) + 4;
        fc.pre(isLeap(leapYear) && leapYear + 4 <= 9999);
        const feb29 = new Date(0);
        feb29.setUTCFullYear(leapYear, 1, 29);
        const nextYear = addCalendarMonths(feb29, 12);
        expect([nextYear.getUTCFullYear(), nextYear.getUTCMonth(), nextYear.getUTCDate()]).toEqual([leapYear + 1, 1, 28]);
        const fourYears = addCalendarMonths(feb29, 48);
        expect([fourYears.getUTCMonth(), fourYears.getUTCDate()]).toEqual([1, isLeap(leapYear + 4) ? 29 : 28]);
      }),
      { numRuns: RUNS },
    );
  });

  test("never returns an invalid date: a result out of range is refused with a DomainError", () => {
    fc.assert(
      fc.property(
        fc.date({ noInvalidDate: true }),
        fc.oneof(fc.integer({ min: -1200, max: 1200 }), fc.integer(), fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)),
        (from, n) => {
          let result: Date;
          try {
            result = addCalendarMonths(from, n);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            expect((error as DomainError).code).toBe("invalid_argument");
            return;
          }
          expect(Number.isNaN(result.getTime())).toBe(false);
          expect(monthIndex(result)).toBe(monthIndex(from) + n);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test("refuses fractional, infinite and NaN month counts and invalid dates", () => {
    fc.assert(
      fc.property(serviceDate, fc.oneof(fc.double({ noInteger: true }), fc.constantFrom(Infinity, -Infinity, Number.NaN)), (from, n) => {
        expect(() => addCalendarMonths(from, n)).toThrow(DomainError);
        expect(() => addCalendarMonths(new Date(Number.NaN), 1)).toThrow(DomainError);
      }),
      { numRuns: 100 },
    );
  });
});

describe("license term properties", () => {
  test("a term of 1 to 120 months expires that many calendar months later, between 28 and 31 days per month", () => {
    fc.assert(
      fc.property(someDate, fc.integer({ min: 1, max: 120 }), (from, months) => {
        const expiry = expiryFor({ months }, from);
        fc.pre(expiry !== null && expiry.getUTCFullYear() <= 9999);
        expect(expiry!.getTime()).toBe(addCalendarMonths(from, months).getTime());
        const days = (expiry!.getTime() - from.getTime()) / DAY_MS;
        expect(days).toBeGreaterThanOrEqual(28 * months - 3);
        expect(days).toBeLessThanOrEqual(31 * months);
        expect(expiry!.getTime()).toBeGreaterThan(from.getTime());
      }),
      { numRuns: RUNS },
    );
  });

  test("a lifetime term never expires and other month counts are refused", () => {
    fc.assert(
      fc.property(serviceDate, fc.oneof(fc.integer().filter((n) => n < 1 || n > 120), fc.double({ noInteger: true })), (from, months) => {
        expect(expiryFor({ lifetime: true }, from)).toBeNull();
        expect(() => expiryFor({ months }, from)).toThrow(DomainError);
        expect(() => parseTerm({ months })).toThrow(DomainError);
      }),
      { numRuns: RUNS },
    );
  });

  test("a license is expired from its expiry instant on, and stays expired later", () => {
    fc.assert(
      fc.property(serviceDate, serviceDate, fc.nat(10 * 366 * DAY_MS), fc.constantFrom(...LICENSE_STATUSES), (expiresAt, now, later, status) => {
        const license = { status, expiresAt };
        const at = effectiveStatus(license, now);
        expect(at).toBe(now.getTime() >= expiresAt.getTime() ? "expired" : status);
        if (at === "expired") expect(effectiveStatus(license, new Date(now.getTime() + later))).toBe("expired");
        expect(effectiveStatus({ status, expiresAt: null }, now)).toBe(status);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("quota window properties", () => {
  const windows: QuotaWindow[] = ["minute", "hour", "month"];
  const window = fc.constantFrom(...windows);

  test("each window contains its instant, ends where the next one starts, and minute ⊂ hour ⊂ month", () => {
    fc.assert(
      fc.property(someDate, window, (now, w) => {
        const start = windowStart(w, now);
        const end = windowEnd(w, now);
        expect(start.getTime()).toBeLessThanOrEqual(now.getTime());
        expect(end.getTime()).toBeGreaterThan(now.getTime());
        expect(windowStart(w, start).getTime()).toBe(start.getTime());
        expect(windowStart(w, end).getTime()).toBe(end.getTime());
        expect(windowStart(w, new Date(end.getTime() - 1)).getTime()).toBe(start.getTime());
        const [minute, hour, month] = windows.map((x) => windowStart(x, now).getTime());
        expect(month).toBeLessThanOrEqual(hour);
        expect(hour).toBeLessThanOrEqual(minute);
        expect(windowEnd("minute", now).getTime()).toBeLessThanOrEqual(windowEnd("hour", now).getTime());
        expect(windowEnd("hour", now).getTime()).toBeLessThanOrEqual(windowEnd("month", now).getTime());
      }),
      { numRuns: 1000 },
    );
  });

  test("minute and hour windows are 60 s and 3600 s on exact UTC boundaries", () => {
    fc.assert(
      fc.property(someDate, (now) => {
        const minute = windowStart("minute", now);
        expect(windowEnd("minute", now).getTime() - minute.getTime()).toBe(60_000);
        expect([minute.getUTCSeconds(), minute.getUTCMilliseconds()]).toEqual([0, 0]);
        const hour = windowStart("hour", now);
        expect(windowEnd("hour", now).getTime() - hour.getTime()).toBe(3_600_000);
        expect([hour.getUTCMinutes(), hour.getUTCSeconds(), hour.getUTCMilliseconds()]).toEqual([0, 0, 0]);
        expect([hour.getUTCFullYear(), hour.getUTCMonth(), hour.getUTCDate(), hour.getUTCHours()]).toEqual([
          now.getUTCFullYear(),
          now.getUTCMonth(),
          now.getUTCDate(),
          now.getUTCHours(),
        ]);
      }),
      { numRuns: RUNS },
    );
  });

  test("the month window is the UTC calendar month of the instant, as long as the oracle calendar says", () => {
    fc.assert(
      fc.property(someDate, (now) => {
        const start = windowStart("month", now);
        const end = windowEnd("month", now);
        expect(start.getTime()).toBe(monthStart(now).getTime());
        expect(end.getTime()).toBe(nextMonthStart(now).getTime());
        expect([start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate(), timeOfDay(start)]).toEqual([
          now.getUTCFullYear(),
          now.getUTCMonth(),
          1,
          0,
        ]);
        expect((end.getTime() - start.getTime()) / DAY_MS).toBe(daysIn(now.getUTCFullYear(), now.getUTCMonth()));
        expect(end.getTime()).toBe(addCalendarMonths(start, 1).getTime());
      }),
      { numRuns: 1000 },
    );
  });
});

describe("report day properties", () => {
  const day = someDate.map(utcDay);

  test("every range the report query accepts has a day after its end, and walks day by day to it", () => {
    const start = fc.oneof(day, fc.constantFrom("9999-12-30", "9999-12-31", "9999-01-05", "0001-01-01", "2024-02-29"));
    const range = fc.tuple(start, fc.integer({ min: -3, max: 370 })).map(([from, length]) => [from, addDays(from, length)] as const);
    fc.assert(
      fc.property(range, fc.constantFrom("day", "week"), ([from, to], group) => {
        const query = parseReportQuery({ from, to, group }, "2025-06-15");
        if (Object.keys(query.errors).length > 0) return;
        const end = parseDay(addDays(query.range.to, 1));
        expect(end?.getTime()).toBe(parseDay(query.range.to)!.getTime() + DAY_MS);
        const days = daysOf(query.range);
        expect(days[days.length - 1]).toBe(query.range.to);
        expect(days.length).toBeLessThanOrEqual(367);
      }),
      { numRuns: 1000 },
    );
  });

  test("the last days of year 9999 still walk as a range, but a report may not end on 9999-12-31", () => {
    expect(daysOf({ from: "9999-12-29", to: "9999-12-31" })).toEqual(["9999-12-29", "9999-12-30", "9999-12-31"]);
    expect(periodsOf({ from: "9999-12-27", to: "9999-12-31" }, "week")).toEqual(["9999-12-27"]);
    expect(parseReportQuery({ from: "9999-12-01", to: "9999-12-31" }, "2025-01-01").errors.to).toBeDefined();
    expect(parseReportQuery({ from: "9999-12-01", to: "9999-12-30" }, "2025-01-01").errors).toEqual({});
  });

  test("a UTC day parses to its midnight and prints back to itself", () => {
    fc.assert(
      fc.property(someDate, (at) => {
        const text = utcDay(at);
        const midnight = parseDay(text);
        expect(midnight?.getTime()).toBe(at.getTime() - timeOfDay(at));
        expect(utcDay(midnight!)).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });

  test("day-shaped text that names no calendar day (Feb 29 of a common year, day 31 of a 30-day month) is refused", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 99 }), (year, month, dayOfMonth) => {
        const text = `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(dayOfMonth).padStart(2, "0")}`;
        const real = dayOfMonth >= 1 && dayOfMonth <= daysIn(year, month - 1);
        expect(parseDay(text) !== null).toBe(real);
      }),
      { numRuns: RUNS },
    );
  });

  test("adding days and taking them away again returns the same day; n days apart is n days of the range", () => {
    fc.assert(
      fc.property(day, fc.integer({ min: -400, max: 400 }), (start, n) => {
        const moved = addDays(start, n);
        fc.pre(parseDay(moved) !== null && moved.length === 10);
        expect(addDays(moved, -n)).toBe(start);
        expect((parseDay(moved)!.getTime() - parseDay(start)!.getTime()) / DAY_MS).toBe(n);
        const range = n >= 0 ? { from: start, to: moved } : { from: moved, to: start };
        const days = daysOf(range);
        expect(days.length).toBe(Math.abs(n) + 1);
        expect(days[0]).toBe(range.from);
        expect(days[days.length - 1]).toBe(range.to);
      }),
      { numRuns: RUNS },
    );
  });

  test("a week starts on the Monday on or before the day; weekly periods are consecutive Mondays", () => {
    fc.assert(
      fc.property(day, fc.integer({ min: 0, max: 60 }), (from, length) => {
        const to = addDays(from, length);
        fc.pre(parseDay(to) !== null);
        const monday = weekStart(from);
        expect(parseDay(monday)!.getUTCDay()).toBe(1);
        const back = (parseDay(from)!.getTime() - parseDay(monday)!.getTime()) / DAY_MS;
        expect(back).toBeGreaterThanOrEqual(0);
        expect(back).toBeLessThan(7);
        const weeks = periodsOf({ from, to }, "week");
        expect(weeks[0]).toBe(monday);
        for (let i = 1; i < weeks.length; i++) expect(weeks[i]).toBe(addDays(weeks[i - 1], 7));
        expect(weeks[weeks.length - 1]).toBe(weekStart(to));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("extension properties", () => {
  test("an extension counts from the later of now and the expiry, and a lifetime license stays lifetime", () => {
    fc.assert(
      fc.property(serviceDate, serviceDate, fc.constantFrom(...EXTENSION_MONTHS), (current, now, months) => {
        const extended = extendedExpiry(current, now, months)!;
        const base = current > now ? current : now;
        expect(extended.getTime()).toBe(addCalendarMonths(base, months).getTime());
        expect(extended.getTime()).toBeGreaterThan(now.getTime());
        expect(extended.getTime()).toBeGreaterThan(current.getTime());
        expect(extendedExpiry(null, now, months)).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });
});
