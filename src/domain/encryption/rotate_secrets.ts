/** Use case: re-seal every stored secret that is not under the keyring's current key. */

import { DomainError } from "../shared/mod.ts";
import { type Keyring, resealIfNeeded } from "./_sealed.ts";

/** One stored sealed value, and the context it was sealed with. */
export interface SealedSecret {
  table: string;
  id: number;
  context: string;
  sealed: string;
}

/**
 * Port: one sealed column of one table, walked by ascending positive id (so a row appears at most once).
 * A table with two sealed columns is two stores; rows whose column is null are not listed.
 */
export interface SecretStore {
  /** How many sealed values the column holds now; only used to report progress. */
  count(): Promise<number>;
  /** Up to `batch` values with `id > afterId`, in ascending id order. */
  listSealed(afterId: number, batch: number): Promise<SealedSecret[]>;
  /** Compare-and-swap: writes `newSealed` only if the row still holds `oldSealed`; false when it did not. */
  replace(id: number, oldSealed: string, newSealed: string): Promise<boolean>;
}

/** Options of `rotateSecrets`. */
export interface RotateSecretsOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** What `rotateSecrets` did: values looked at, values re-sealed, and values changed by someone else meanwhile. */
export interface RotateSecretsResult {
  scanned: number;
  rotated: number;
  conflicts: number;
}

const DEFAULT_BATCH_SIZE = 100;

/**
 * Walks every store in batches and re-seals, via compare-and-swap, each value not under the current key.
 * Stops at the first value that does not open, before the operator can retire a key it still needs;
 * running it again resumes cheaply because values already under the current key are only read.
 */
export async function rotateSecrets(
  deps: { keyring: Keyring; stores: SecretStore[] },
  options: RotateSecretsOptions = {},
): Promise<RotateSecretsResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new DomainError("invalid_argument", "batchSize must be a positive integer");
  }
  let total = 0;
  for (const store of deps.stores) total += await store.count();

  const result: RotateSecretsResult = { scanned: 0, rotated: 0, conflicts: 0 };
  for (const store of deps.stores) {
    let afterId = 0;
    for (;;) {
      const batch = await store.listSealed(afterId, batchSize);
      for (const secret of batch) {
        // A store that repeats or goes backwards would make this loop forever.
        if (secret.id <= afterId) {
          const problem = `secret store for ${secret.table} did not list ids in ascending order`;
          throw new DomainError("invalid_argument", problem);
        }
        afterId = secret.id;
        result.scanned += 1;
        const resealed = await reseal(deps.keyring, secret);
        if (resealed === null) continue;
        // False: a concurrent write changed or removed the row since it was listed; its value wins.
        if (await store.replace(secret.id, secret.sealed, resealed)) result.rotated += 1;
        else result.conflicts += 1;
      }
      // Rows inserted meanwhile can push the count past the first estimate.
      if (batch.length > 0) options.onProgress?.(result.scanned, Math.max(total, result.scanned));
      if (batch.length < batchSize) break;
    }
  }
  return result;
}

async function reseal(keyring: Keyring, secret: SealedSecret): Promise<string | null> {
  try {
    return await resealIfNeeded(keyring, secret.sealed, secret.context);
  } catch (error) {
    if (!(error instanceof DomainError) || error.code !== "decryption_failed") throw error;
    throw new DomainError("decryption_failed", `cannot re-seal ${secret.table} #${secret.id}: ${error.message}`, {
      ...error.details,
      table: secret.table,
      id: secret.id,
    });
  }
}
