/** Sealed secrets: the port that seals and opens them, their string format, and re-sealing under the current key. */

import { DomainError } from "../shared/mod.ts";
import { decodeBase64url, encodeBase64url } from "./_base64url.ts";

/**
 * Port: authenticated encryption of secrets at rest under a ring of keys (one current, older ones for reading).
 * `context` is bound as additional authenticated data, so a value copied to another column does not open.
 */
export interface Keyring {
  readonly currentKeyId: string;
  seal(plaintext: string, context: string): Promise<string>;
  open(sealed: string, context: string): Promise<string>;
  hasKey(keyId: string): boolean;
}

/** The parts of a sealed string `v1.<keyId>.<iv>.<ciphertext+tag>`. */
export interface SealedParts {
  version: string;
  keyId: string;
  iv: Uint8Array<ArrayBuffer>;
  data: Uint8Array<ArrayBuffer>;
}

/** Version tag of the current sealed format: AES-256-GCM, 12-byte IV, 16-byte tag appended to the ciphertext. */
export const SEALED_VERSION = "v1";

/** Length in bytes of the AES-GCM nonce of the v1 format. */
export const SEALED_IV_BYTES = 12;

/** Length in bytes of the AES-GCM authentication tag of the v1 format. */
export const SEALED_TAG_BYTES = 16;

// Key ids sit between dots in the sealed string, so they must not contain one.
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Builds the sealed string for a key id, IV and ciphertext-with-tag. */
export function formatSealed(keyId: string, iv: Uint8Array, data: Uint8Array): string {
  if (!KEY_ID.test(keyId)) throw new DomainError("invalid_argument", "key id must be 1-64 characters of [A-Za-z0-9_-]");
  if (iv.length !== SEALED_IV_BYTES) throw new DomainError("invalid_argument", `IV must be ${SEALED_IV_BYTES} bytes`);
  if (data.length < SEALED_TAG_BYTES) throw new DomainError("invalid_argument", "ciphertext is shorter than its tag");
  return `${SEALED_VERSION}.${keyId}.${encodeBase64url(iv)}.${encodeBase64url(data)}`;
}

/** Splits a sealed string into its parts; null when it is not a well-formed v1 value. */
export function parseSealed(sealed: string): SealedParts | null {
  const parts = sealed.split(".");
  if (parts.length !== 4) return null;
  const [version, keyId, ivText, dataText] = parts;
  if (version !== SEALED_VERSION || !KEY_ID.test(keyId)) return null;
  const iv = decodeBase64url(ivText);
  const data = decodeBase64url(dataText);
  if (iv === null || data === null) return null;
  if (iv.length !== SEALED_IV_BYTES || data.length < SEALED_TAG_BYTES) return null;
  return { version, keyId, iv, data };
}

/** The id of the key a sealed string was sealed under; null when it is not a well-formed sealed value. */
export function sealedKeyId(sealed: string): string | null {
  return parseSealed(sealed)?.keyId ?? null;
}

/**
 * Re-seals a value under the keyring's current key: null when it already is, otherwise the new sealed string.
 * Throws `DomainError("decryption_failed")` when the value is malformed, its key is gone, or it does not open.
 */
export async function resealIfNeeded(keyring: Keyring, sealed: string, context: string): Promise<string | null> {
  const keyId = sealedKeyId(sealed);
  if (keyId === null) throw new DomainError("decryption_failed", "sealed value is malformed");
  if (keyId === keyring.currentKeyId) return null;
  if (!keyring.hasKey(keyId)) {
    throw new DomainError("decryption_failed", `sealed under key ${keyId}, which is not in the keyring`, { keyId });
  }
  let plaintext: string;
  try {
    plaintext = await keyring.open(sealed, context);
  } catch (error) {
    if (error instanceof DomainError && error.code === "decryption_failed") throw error;
    // Any other error's message could carry anything; only the fact of failure is safe to pass on.
    throw new DomainError("decryption_failed", `sealed value under key ${keyId} did not open`, { keyId });
  }
  return keyring.seal(plaintext, context);
}
