/** E-mail rules: customers are found by address, so one canonical form decides uniqueness. */
import { DomainError } from "../shared/mod.ts";
import type { NewCustomer } from "./_types.ts";

// RFC 5321 caps a forward path at 254 octets and a local part at 64.
const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;
// Whitespace and control characters never belong in an address and are a common copy-paste artefact.
const FORBIDDEN = /[\s\u0000-\u001f\u007f]/;

/** The canonical form of an address (trimmed, lowercased), or null when it is not a plausible address. */
export function normalizeEmail(input: string): string | null {
  if (typeof input !== "string") return null;
  // Lowercasing the whole address, local part included, is what makes uniqueness case-insensitive.
  const email = input.trim().toLowerCase();
  if (email.length === 0 || email.length > MAX_EMAIL_LENGTH || FORBIDDEN.test(email)) return null;
  const parts = email.split("@");
  if (parts.length !== 2) return null;
  const [local, domain] = parts;
  if (local.length === 0 || local.length > MAX_LOCAL_LENGTH) return null;
  const labels = domain.split(".");
  if (labels.length < 2 || labels.some((label) => label.length === 0)) return null;
  return email;
}

/** The local part of an address, used as the display name of a customer created from a bare e-mail. */
export function nameFromEmail(email: string): string {
  const trimmed = email.trim();
  const at = trimmed.lastIndexOf("@");
  return at < 0 ? trimmed : trimmed.slice(0, at);
}

/** A new customer from an address and an optional name; throws invalid_argument (field "email") on a bad address. */
export function newCustomerFromEmail(email: string, name?: string): NewCustomer {
  const normalized = normalizeEmail(email);
  if (normalized === null) {
    throw new DomainError("invalid_argument", "Invalid e-mail address", { field: "email" });
  }
  const given = typeof name === "string" ? name.trim() : "";
  return {
    email: normalized,
    name: given !== "" ? given : nameFromEmail(normalized),
    company: null,
    notes: null,
  };
}
