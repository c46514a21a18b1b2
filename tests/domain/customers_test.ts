import { describe, expect, test } from "bun:test";
import { nameFromEmail, newCustomerFromEmail, normalizeEmail } from "../../src/domain/customers/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";

describe("normalizeEmail", () => {
  test("normalizeEmail trims and lowercases the whole address", () => {
    expect(normalizeEmail("  John.Doe@Example.COM \n")).toBe("john.doe@example.com");
  });

  test("normalizeEmail keeps plus tags and subdomains", () => {
    expect(normalizeEmail("a+shop@mail.example.co.uk")).toBe("a+shop@mail.example.co.uk");
  });

  test("normalizeEmail rejects an address without an at sign", () => {
    expect(normalizeEmail("john.example.com")).toBeNull();
  });

  test("normalizeEmail rejects an address with two at signs", () => {
    expect(normalizeEmail("a@b@example.com")).toBeNull();
  });

  test("normalizeEmail rejects an empty local part or domain", () => {
    expect(normalizeEmail("@example.com")).toBeNull();
    expect(normalizeEmail("john@")).toBeNull();
    expect(normalizeEmail("")).toBeNull();
    expect(normalizeEmail("   ")).toBeNull();
  });

  test("normalizeEmail rejects whitespace inside the address", () => {
    expect(normalizeEmail("john doe@example.com")).toBeNull();
    expect(normalizeEmail("john@exa mple.com")).toBeNull();
    expect(normalizeEmail("john@example.com\tx")).toBeNull();
  });

  test("normalizeEmail rejects a domain without a dot or with an empty label", () => {
    expect(normalizeEmail("john@localhost")).toBeNull();
    expect(normalizeEmail("john@.example.com")).toBeNull();
    expect(normalizeEmail("john@example..com")).toBeNull();
    expect(normalizeEmail("john@example.com.")).toBeNull();
  });

  test("normalizeEmail rejects an address over 254 characters but accepts one of exactly 254", () => {
    const domain = `${"d".repeat(63)}.${"e".repeat(63)}.${"f".repeat(61)}.com`; // 193 chars
    const local254 = "l".repeat(254 - domain.length - 1);
    expect(local254.length).toBe(60);
    expect(normalizeEmail(`${local254}@${domain}`)).toBe(`${local254}@${domain}`);
    expect(normalizeEmail(`${local254}x@${domain}`)).toBeNull();
    expect(normalizeEmail(`${local254}@x${domain}`)).toBeNull();
  });

  test("normalizeEmail rejects a local part over 64 characters", () => {
    expect(normalizeEmail(`${"a".repeat(64)}@example.com`)).not.toBeNull();
    expect(normalizeEmail(`${"a".repeat(65)}@example.com`)).toBeNull();
  });

  test("normalizeEmail rejects non-string input", () => {
    expect(normalizeEmail(undefined as unknown as string)).toBeNull();
    expect(normalizeEmail(42 as unknown as string)).toBeNull();
  });
});

describe("nameFromEmail", () => {
  test("nameFromEmail returns the local part of the address", () => {
    expect(nameFromEmail("john.doe@example.com")).toBe("john.doe");
  });

  test("nameFromEmail keeps the case it is given", () => {
    expect(nameFromEmail(" Jane@Example.com ")).toBe("Jane");
  });

  test("nameFromEmail returns the whole input when there is no at sign", () => {
    expect(nameFromEmail("jane")).toBe("jane");
  });
});

describe("newCustomerFromEmail", () => {
  test("newCustomerFromEmail names the customer after the local part of the normalised address", () => {
    expect(newCustomerFromEmail(" Mario.Rossi@Example.IT ")).toEqual({
      email: "mario.rossi@example.it",
      name: "mario.rossi",
      company: null,
      notes: null,
    });
  });

  test("newCustomerFromEmail uses a given name, trimmed", () => {
    expect(newCustomerFromEmail("mario@example.it", "  Mario Rossi ").name).toBe("Mario Rossi");
  });

  test("newCustomerFromEmail falls back to the local part when the given name is blank", () => {
    expect(newCustomerFromEmail("mario@example.it", "   ").name).toBe("mario");
  });

  test("newCustomerFromEmail throws invalid_argument naming the email field on a bad address", () => {
    let caught: unknown;
    try {
      newCustomerFromEmail("not-an-email");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).code).toBe("invalid_argument");
    expect((caught as DomainError).details).toEqual({ field: "email" });
  });
});
