/** License key format: `CHA-` + four groups of 8 uppercase hex digits (128 random bits). */
import { DomainError, type Random } from "../shared/mod.ts";

const KEY_BYTES = 16;
// ASCII-only classes on purpose: toUpperCase maps some non-ASCII letters (e.g. "ﬀ") to hex digits.
const KEY_PATTERN = /^[Cc][Hh][Aa]-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{8}$/;

/** A fresh license key from 16 bytes of the Random port. */
export function generateLicenseKey(random: Random): string {
  const bytes = random.bytes(KEY_BYTES);
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) {
    throw new Error(`Random port returned ${bytes?.length ?? "no"} bytes, ${KEY_BYTES} expected`);
  }
  const hex = toHex(bytes).toUpperCase();
  return `CHA-${hex.slice(0, 8)}-${hex.slice(8, 16)}-${hex.slice(16, 24)}-${hex.slice(24, 32)}`;
}

/** The normalised key (trimmed, uppercased), or null when the input is not exactly a key. */
export function parseLicenseKey(input: unknown): string | null {
  if (typeof input !== "string") return null;
  const trimmed = input.trim();
  return KEY_PATTERN.test(trimmed) ? trimmed.toUpperCase() : null;
}

/** The displayable start of a key (`CHA-` + first group), safe to show and log. */
export function licenseKeyPrefix(key: string): string {
  return requireKey(key).slice(0, 12);
}

/** Lowercase hex SHA-256 of the normalised key: the only form in which keys are looked up. */
export async function licenseKeyDigest(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(requireKey(key)));
  return toHex(new Uint8Array(digest));
}

function requireKey(key: string): string {
  const normalized = parseLicenseKey(key);
  // Digesting a malformed string would silently produce a lookup that can never match.
  if (normalized === null) {
    throw new DomainError("invalid_argument", "Malformed license key", { field: "license_key" });
  }
  return normalized;
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
