/** The `Keyring` port on WebCrypto AES-256-GCM, plus the process's secure randomness and SHA-256 helpers. */

import { constantTimeEqual } from "@oslojs/crypto/subtle";
import {
  formatSealed,
  type Keyring,
  parseSealed,
  SEALED_IV_BYTES,
  SEALED_TAG_BYTES,
} from "../../domain/encryption/mod.ts";
import { DomainError, type Random } from "../../domain/shared/mod.ts";

/** Length in bytes of every key the keyring accepts (AES-256). */
export const KEY_BYTES = 32;

const KEY_ID_PREFIX = new TextEncoder().encode("chatello-kid:");

/** Random bytes from the platform CSPRNG. */
export const cryptoRandom: Random = {
  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    // getRandomValues refuses more than 65536 bytes per call.
    for (let offset = 0; offset < length; offset += 65536) {
      crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, length)));
    }
    return bytes;
  },
};

/** Lowercase hex SHA-256 of a string's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

/** The public id of a key: a short digest under a fixed label, stable across restarts and useless to an attacker. */
export function keyIdOf(key: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(KEY_ID_PREFIX).update(key).digest("hex").slice(0, 8);
}

/** Builds a keyring that seals under `current` and still opens values sealed under any of `previous`. */
export async function createKeyring(options: { current: Uint8Array; previous?: Uint8Array[] }): Promise<Keyring> {
  const keys = new Map<string, CryptoKey>();
  const rawById = new Map<string, Uint8Array>();
  const currentKeyId = await addKey(keys, rawById, options.current, "current key");
  for (const [index, key] of (options.previous ?? []).entries()) {
    await addKey(keys, rawById, key, `previous key #${index + 1}`);
  }

  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const currentKey = keys.get(currentKeyId)!;

  return {
    currentKeyId,
    hasKey: (keyId) => keys.has(keyId),
    async seal(plaintext, context) {
      const iv = crypto.getRandomValues(new Uint8Array(SEALED_IV_BYTES));
      const data = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(context), tagLength: SEALED_TAG_BYTES * 8 },
        currentKey,
        encoder.encode(plaintext),
      );
      return formatSealed(currentKeyId, iv, new Uint8Array(data));
    },
    async open(sealed, context) {
      const parts = parseSealed(sealed);
      if (parts === null) throw new DomainError("decryption_failed", "sealed value is malformed");
      const key = keys.get(parts.keyId);
      if (key === undefined) {
        throw new DomainError("decryption_failed", `sealed under key ${parts.keyId}, which is not in the keyring`, {
          keyId: parts.keyId,
        });
      }
      try {
        const plaintext = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: parts.iv, additionalData: encoder.encode(context), tagLength: SEALED_TAG_BYTES * 8 },
          key,
          parts.data,
        );
        return decoder.decode(plaintext);
      } catch {
        // GCM cannot tell a wrong key from a wrong context or tampering, and neither should the message.
        throw new DomainError(
          "decryption_failed",
          `sealed value under key ${parts.keyId} failed authentication (wrong context or altered data)`,
          { keyId: parts.keyId },
        );
      }
    },
  };
}

async function addKey(
  keys: Map<string, CryptoKey>,
  rawById: Map<string, Uint8Array>,
  raw: Uint8Array,
  label: string,
): Promise<string> {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) {
    throw new DomainError("invalid_argument", `${label} must be exactly ${KEY_BYTES} bytes`);
  }
  const keyId = keyIdOf(raw);
  const known = rawById.get(keyId);
  if (known !== undefined) {
    // The same key listed twice is harmless; two keys sharing a 32-bit id would be ambiguous to open.
    if (constantTimeEqual(known, raw)) return keyId;
    throw new DomainError("invalid_argument", `${label} has the same key id as another key; generate a new key`);
  }
  // A private copy, so a caller reusing its buffer cannot change a key under the ring.
  const copy = new Uint8Array(raw);
  rawById.set(keyId, copy);
  // Non-extractable, so the raw bytes cannot be read back out of the CryptoKey.
  keys.set(keyId, await crypto.subtle.importKey("raw", copy, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]));
  return keyId;
}
