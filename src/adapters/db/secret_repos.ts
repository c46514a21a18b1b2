// Sealed columns: vendor provider keys stored from the environment, and the stores key rotation walks.
import type { Keyring, SealedSecret, SecretStore } from "../../domain/encryption/mod.ts";
import { isUniqueViolation } from "./_support.ts";
import type { Db } from "./orm.ts";
import { LicenseRow, ProviderKeyRow } from "./schema.ts";

/** The context a provider key is sealed under (binds the ciphertext to its provider). */
export function providerKeyContext(provider: string): string {
  return `provider_key:${provider}`;
}

/**
 * Stores a vendor key given in the environment the first time it is seen; afterwards the database copy
 * wins (the admin issue adds the screen to change it). Returns true when a key was stored.
 */
export async function storeVendorKeyIfAbsent(
  db: Db,
  keyring: Keyring,
  input: { provider: string; apiKey: string; baseUrl: string | null },
  now: Date,
): Promise<boolean> {
  const em = db.orm.em.fork();
  if (await em.count(ProviderKeyRow, { owner: "vendor", provider: input.provider })) return false;
  em.create(ProviderKeyRow, {
    owner: "vendor",
    customer: null,
    provider: input.provider,
    keySealed: await keyring.seal(input.apiKey, providerKeyContext(input.provider)),
    last4: input.apiKey.slice(-4),
    baseUrl: input.baseUrl,
    createdAt: now,
    updatedAt: now,
  });
  try {
    await em.flush();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false; // another instance stored it first
    throw error;
  }
}

/** Rotation store over licenses.key_sealed. */
export function licenseKeyStore(db: Db): SecretStore {
  return {
    count: () => db.orm.em.fork().count(LicenseRow, {}),
    async listSealed(afterId, batch): Promise<SealedSecret[]> {
      const rows = await db.orm.em
        .fork()
        .find(LicenseRow, { id: { $gt: afterId } }, { orderBy: { id: "asc" }, limit: batch, fields: ["id", "keySealed"] });
      return rows.map((r) => ({ table: "licenses", id: r.id, context: "license_key", sealed: r.keySealed }));
    },
    async replace(id, oldSealed, newSealed) {
      return (await db.orm.em.fork().nativeUpdate(LicenseRow, { id, keySealed: oldSealed }, { keySealed: newSealed })) > 0;
    },
  };
}

/** Rotation store over provider_keys.key_sealed (vendor and customer keys). */
export function providerKeyStore(db: Db): SecretStore {
  return {
    count: () => db.orm.em.fork().count(ProviderKeyRow, {}),
    async listSealed(afterId, batch): Promise<SealedSecret[]> {
      const rows = await db.orm.em
        .fork()
        .find(ProviderKeyRow, { id: { $gt: afterId } }, { orderBy: { id: "asc" }, limit: batch, fields: ["id", "provider", "keySealed"] });
      return rows.map((r) => ({ table: "provider_keys", id: r.id, context: providerKeyContext(r.provider), sealed: r.keySealed }));
    },
    async replace(id, oldSealed, newSealed) {
      return (await db.orm.em.fork().nativeUpdate(ProviderKeyRow, { id, keySealed: oldSealed }, { keySealed: newSealed })) > 0;
    },
  };
}
