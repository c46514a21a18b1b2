/** Encryption of secrets at rest: sealed values, the keyring port, and rotation to a new key. */

export {
  formatSealed,
  type Keyring,
  parseSealed,
  resealIfNeeded,
  SEALED_IV_BYTES,
  SEALED_TAG_BYTES,
  SEALED_VERSION,
  type SealedParts,
  sealedKeyId,
} from "./_sealed.ts";
export {
  rotateSecrets,
  type RotateSecretsOptions,
  type RotateSecretsResult,
  type SealedSecret,
  type SecretStore,
} from "./rotate_secrets.ts";
