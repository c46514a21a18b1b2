import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  createKeyring,
  cryptoRandom,
  keyIdOf,
  sha256Hex,
} from "../../src/adapters/crypto/webcrypto_keyring.ts";
import {
  formatSealed,
  parseSealed,
  resealIfNeeded,
  rotateSecrets,
  type SealedSecret,
  sealedKeyId,
  type SecretStore,
} from "../../src/domain/encryption/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";

const keyA = Uint8Array.from({ length: 32 }, (_, i) => i);
const keyB = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
const keyC = Uint8Array.from({ length: 32 }, (_, i) => (i * 7) % 256);

async function decryptionFailure(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe("decryption_failed");
    return error as DomainError;
  }
  throw new Error("expected decryption to fail");
}

/** Replaces one base64url character of a sealed part with a different one that keeps the encoding canonical. */
function tamper(sealed: string, part: 2 | 3): string {
  const parts = sealed.split(".");
  const text = parts[part];
  parts[part] = (text[0] === "A" ? "B" : "A") + text.slice(1);
  return parts.join(".");
}

describe("createKeyring", () => {
  test("a sealed value opens to the same text with the same context", async () => {
    const keyring = await createKeyring({ current: keyA });
    for (const plaintext of ["CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4", "", "zwölf € 🙂", "x".repeat(10_000)]) {
      const sealed = await keyring.seal(plaintext, "license_key");
      expect(await keyring.open(sealed, "license_key")).toBe(plaintext);
    }
  });

  test("a sealed value has the v1 format with the current key id, a 12-byte IV and a 16-byte tag", async () => {
    const keyring = await createKeyring({ current: keyA });
    const sealed = await keyring.seal("abc", "c");
    const parts = parseSealed(sealed)!;
    expect(parts.version).toBe("v1");
    expect(parts.keyId).toBe(keyring.currentKeyId);
    expect(parts.iv.length).toBe(12);
    expect(parts.data.length).toBe(3 + 16);
  });

  test("sealing the same text twice gives different values because each gets a fresh IV", async () => {
    const keyring = await createKeyring({ current: keyA });
    const first = await keyring.seal("same", "c");
    const second = await keyring.seal("same", "c");
    expect(first).not.toBe(second);
    expect(parseSealed(first)!.iv).not.toEqual(parseSealed(second)!.iv);
  });

  test("a value sealed for one context does not open in another", async () => {
    const keyring = await createKeyring({ current: keyA });
    const sealed = await keyring.seal("sk-openai-key", "provider_key:openai");
    const error = await decryptionFailure(keyring.open(sealed, "provider_key:anthropic"));
    expect(error.message).not.toContain("sk-openai-key");
    await decryptionFailure(keyring.open(sealed, "license_key"));
  });

  test("a tampered ciphertext, tag or IV does not open", async () => {
    const keyring = await createKeyring({ current: keyA });
    const sealed = await keyring.seal("secret value", "c");
    await decryptionFailure(keyring.open(tamper(sealed, 3), "c"));
    await decryptionFailure(keyring.open(tamper(sealed, 2), "c"));
    const parts = parseSealed(sealed)!;
    const flippedTag = parts.data.slice();
    flippedTag[flippedTag.length - 1] ^= 1;
    await decryptionFailure(keyring.open(formatSealed(parts.keyId, parts.iv, flippedTag), "c"));
    const truncated = parts.data.slice(1);
    await decryptionFailure(keyring.open(formatSealed(parts.keyId, parts.iv, truncated), "c"));
  });

  test("a value relabelled with another known key id does not open", async () => {
    const keyring = await createKeyring({ current: keyB, previous: [keyA] });
    const parts = parseSealed(await keyring.seal("secret", "c"))!;
    await decryptionFailure(keyring.open(formatSealed(keyIdOf(keyA), parts.iv, parts.data), "c"));
  });

  test("a value sealed under a key the ring does not hold fails with decryption_failed naming only the key id", async () => {
    const old = await createKeyring({ current: keyA });
    const sealed = await old.seal("secret", "c");
    const keyring = await createKeyring({ current: keyB });
    const error = await decryptionFailure(keyring.open(sealed, "c"));
    expect(error.message).toContain(old.currentKeyId);
    expect(error.message).not.toContain("secret");
  });

  test("a malformed or plain value fails with decryption_failed", async () => {
    const keyring = await createKeyring({ current: keyA });
    await decryptionFailure(keyring.open("not sealed at all", "c"));
    await decryptionFailure(keyring.open("", "c"));
  });

  test("keys of any length but 32 bytes are refused, current or previous", async () => {
    for (const length of [0, 16, 24, 31, 33, 64]) {
      await expect(createKeyring({ current: new Uint8Array(length) })).rejects.toThrow("32 bytes");
      await expect(createKeyring({ current: keyA, previous: [keyB, new Uint8Array(length)] })).rejects.toThrow(
        "previous key #2 must be exactly 32 bytes",
      );
    }
  });

  test("key ids are eight hex characters of SHA-256 over the label and the key, and differ per key", async () => {
    const expected = createHash("sha256").update("chatello-kid:").update(keyA).digest("hex").slice(0, 8);
    expect(keyIdOf(keyA)).toBe(expected);
    expect((await createKeyring({ current: keyA })).currentKeyId).toBe(expected);
    expect((await createKeyring({ current: keyA.slice() })).currentKeyId).toBe(expected);
    expect(keyIdOf(keyB)).toMatch(/^[0-9a-f]{8}$/);
    expect(new Set([keyIdOf(keyA), keyIdOf(keyB), keyIdOf(keyC)]).size).toBe(3);
  });

  test("hasKey knows the current and previous keys only", async () => {
    const keyring = await createKeyring({ current: keyB, previous: [keyA] });
    expect(keyring.hasKey(keyIdOf(keyA))).toBe(true);
    expect(keyring.hasKey(keyIdOf(keyB))).toBe(true);
    expect(keyring.hasKey(keyIdOf(keyC))).toBe(false);
  });

  test("listing the current key again among the previous ones is harmless", async () => {
    const keyring = await createKeyring({ current: keyA, previous: [keyA, keyB, keyB] });
    expect(await keyring.open(await keyring.seal("x", "c"), "c")).toBe("x");
  });

  test("changing the caller's key buffer afterwards does not change the ring", async () => {
    const buffer = keyA.slice();
    const keyring = await createKeyring({ current: buffer });
    const sealed = await keyring.seal("x", "c");
    buffer.fill(0);
    expect(await keyring.open(sealed, "c")).toBe("x");
    expect(await keyring.open(await keyring.seal("y", "c"), "c")).toBe("y");
    expect(sealedKeyId(await keyring.seal("z", "c"))).toBe(keyIdOf(keyA));
  });
});

describe("rotation with the WebCrypto keyring", () => {
  test("a ring with the old key among its previous keys opens old values and re-seals them under the new key", async () => {
    const before = await createKeyring({ current: keyA });
    const sealed = await before.seal("sk-ant-api03-secret", "provider_key:anthropic");

    const after = await createKeyring({ current: keyB, previous: [keyA] });
    expect(await after.open(sealed, "provider_key:anthropic")).toBe("sk-ant-api03-secret");
    const resealed = await resealIfNeeded(after, sealed, "provider_key:anthropic");
    expect(sealedKeyId(resealed!)).toBe(after.currentKeyId);
    expect(await resealIfNeeded(after, resealed!, "provider_key:anthropic")).toBeNull();

    const retired = await createKeyring({ current: keyB });
    expect(await retired.open(resealed!, "provider_key:anthropic")).toBe("sk-ant-api03-secret");
    await decryptionFailure(retired.open(sealed, "provider_key:anthropic"));
  });

  test("rotateSecrets moves every stored secret to the new key so the old one can be retired", async () => {
    const before = await createKeyring({ current: keyA });
    const rows = new Map<number, string>();
    for (let id = 1; id <= 25; id++) rows.set(id, await before.seal(`CHA-${id}`, "license_key"));
    const store: SecretStore = {
      count: async () => rows.size,
      listSealed: async (afterId, batch) =>
        [...rows.keys()]
          .filter((id) => id > afterId)
          .sort((a, b) => a - b)
          .slice(0, batch)
          .map((id): SealedSecret => ({ table: "licenses", id, context: "license_key", sealed: rows.get(id)! })),
      replace: async (id, oldSealed, newSealed) => {
        if (rows.get(id) !== oldSealed) return false;
        rows.set(id, newSealed);
        return true;
      },
    };

    const during = await createKeyring({ current: keyB, previous: [keyA] });
    expect(await rotateSecrets({ keyring: during, stores: [store] }, { batchSize: 10 })).toEqual({
      scanned: 25,
      rotated: 25,
      conflicts: 0,
    });

    const retired = await createKeyring({ current: keyB });
    for (const [id, sealed] of rows) expect(await retired.open(sealed, "license_key")).toBe(`CHA-${id}`);
  });
});

describe("cryptoRandom and sha256Hex", () => {
  test("cryptoRandom gives the requested number of bytes, beyond the 64 KiB getRandomValues limit too", () => {
    expect(cryptoRandom.bytes(0).length).toBe(0);
    expect(cryptoRandom.bytes(32).length).toBe(32);
    const large = cryptoRandom.bytes(200_000);
    expect(large.length).toBe(200_000);
    expect(large.subarray(150_000).some((byte) => byte !== 0)).toBe(true);
    expect(cryptoRandom.bytes(32)).not.toEqual(cryptoRandom.bytes(32));
  });

  test("sha256Hex matches the standard test vectors", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("€")).toBe(createHash("sha256").update("€", "utf8").digest("hex"));
  });
});
