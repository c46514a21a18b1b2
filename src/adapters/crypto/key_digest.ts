// The license-key digest of the licensing domain, computed synchronously with the runtime's native SHA-256:
// WebCrypto's promise and buffer copies cost more than the hash itself on every authenticated request.
import { createHash } from "node:crypto";

/** Lowercase hex SHA-256 of an already normalised key (`parseLicenseKey`), equal to `licenseKeyDigest`. */
export function licenseKeyDigestSync(normalizedKey: string): string {
  return createHash("sha256").update(normalizedKey).digest("hex");
}
