import { describe, expect, test } from "bun:test";
import { licenseKeyDigestSync } from "../../src/adapters/crypto/key_digest.ts";
import { generateLicenseKey, licenseKeyDigest, parseLicenseKey } from "../../src/domain/licensing/mod.ts";
import { cryptoRandom } from "../../src/adapters/crypto/webcrypto_keyring.ts";

describe("native license-key digest", () => {
  test("licenseKeyDigestSync gives the domain's digest for every normalised key, so lookups keep matching", async () => {
    for (let i = 0; i < 200; i++) {
      const key = generateLicenseKey(cryptoRandom);
      const lower = `  ${key.toLowerCase()} `;
      const normalized = parseLicenseKey(lower)!;
      expect(licenseKeyDigestSync(normalized)).toBe(await licenseKeyDigest(lower));
    }
  });

  test("a known key has the published SHA-256", () => {
    // `printf 'CHA-00000000-00000000-00000000-00000000' | sha256sum`
    const expected = "6ff51b1496fc36eea14f2b9e20e25faf4e578d1c8032dac9e23aac59477fa6d8";
    expect(licenseKeyDigestSync("CHA-00000000-00000000-00000000-00000000")).toBe(expected);
  });
});
