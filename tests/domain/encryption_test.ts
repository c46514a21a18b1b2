import { describe, expect, test } from "bun:test";
import {
  formatSealed,
  type Keyring,
  parseSealed,
  resealIfNeeded,
  rotateSecrets,
  type SealedSecret,
  sealedKeyId,
  type SecretStore,
} from "../../src/domain/encryption/mod.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TAG = new Uint8Array(16);

/** A keyring with no cryptography: the "ciphertext" is the context and plaintext in clear, behind a fake tag. */
function fakeKeyring(currentKeyId: string, previousKeyIds: string[] = []): Keyring & { seals: number } {
  const known = new Set([currentKeyId, ...previousKeyIds]);
  let counter = 0;
  const keyring = {
    currentKeyId,
    seals: 0,
    hasKey: (keyId: string) => known.has(keyId),
    async seal(plaintext: string, context: string) {
      keyring.seals += 1;
      const iv = new Uint8Array(12);
      iv[0] = ++counter;
      const body = encoder.encode(JSON.stringify([context, plaintext]));
      return formatSealed(currentKeyId, iv, new Uint8Array([...TAG, ...body]));
    },
    async open(sealed: string, context: string) {
      const parts = parseSealed(sealed);
      if (parts === null || !known.has(parts.keyId)) throw new DomainError("decryption_failed", "cannot open");
      const [sealedContext, plaintext] = JSON.parse(decoder.decode(parts.data.subarray(16))) as [string, string];
      if (sealedContext !== context) throw new DomainError("decryption_failed", "wrong context");
      return plaintext;
    },
  };
  return keyring;
}

/** Seals a value under an arbitrary key id with the fake keyring's scheme. */
async function sealUnder(keyId: string, plaintext: string, context: string): Promise<string> {
  return fakeKeyring(keyId).seal(plaintext, context);
}

interface MemoryStore extends SecretStore {
  rows: Map<number, string>;
  listCalls: Array<{ afterId: number; batch: number }>;
  beforeReplace?: (id: number) => void;
}

function memoryStore(table: string, context: string, rows: Array<[number, string]>): MemoryStore {
  const store: MemoryStore = {
    rows: new Map(rows),
    listCalls: [],
    async count() {
      return store.rows.size;
    },
    async listSealed(afterId, batch) {
      store.listCalls.push({ afterId, batch });
      return [...store.rows.entries()]
        .filter(([id]) => id > afterId)
        .sort(([a], [b]) => a - b)
        .slice(0, batch)
        .map(([id, sealed]): SealedSecret => ({ table, id, context, sealed }));
    },
    async replace(id, oldSealed, newSealed) {
      store.beforeReplace?.(id);
      if (store.rows.get(id) !== oldSealed) return false;
      store.rows.set(id, newSealed);
      return true;
    },
  };
  return store;
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error("expected a rejection");
}

describe("sealed format", () => {
  const iv = Uint8Array.from({ length: 12 }, (_, i) => i * 21);
  const data = Uint8Array.from({ length: 37 }, (_, i) => 255 - i * 3);

  test("formatSealed and parseSealed round-trip the key id, IV and data", () => {
    const sealed = formatSealed("k1a2b3c4", iv, data);
    expect(sealed.startsWith("v1.k1a2b3c4.")).toBe(true);
    expect(sealed).toMatch(/^v1\.k1a2b3c4\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const parts = parseSealed(sealed);
    expect(parts).not.toBeNull();
    expect(parts!.version).toBe("v1");
    expect(parts!.keyId).toBe("k1a2b3c4");
    expect([...parts!.iv]).toEqual([...iv]);
    expect([...parts!.data]).toEqual([...data]);
  });

  test("sealedKeyId names the key of a sealed value and is null for anything else", () => {
    expect(sealedKeyId(formatSealed("abc", iv, data))).toBe("abc");
    expect(sealedKeyId("plain text")).toBeNull();
    expect(sealedKeyId("")).toBeNull();
  });

  test("parseSealed rejects values that are not well-formed v1", () => {
    const good = formatSealed("abc", iv, data);
    const [, , ivText, dataText] = good.split(".");
    const bad = [
      "",
      "v1",
      "v1.abc",
      `v1.abc.${ivText}`,
      `${good}.extra`,
      `v2.abc.${ivText}.${dataText}`,
      `V1.abc.${ivText}.${dataText}`,
      `v1..${ivText}.${dataText}`,
      `v1.a b.${ivText}.${dataText}`,
      `v1.abc.${ivText}=.${dataText}`,
      `v1.abc.${ivText}.${dataText}+`,
      `v1.abc.${ivText}.${dataText.slice(0, -1)}$`,
      `v1.abc.${ivText.slice(0, -2)}.${dataText}`,
      `v1.abc.${ivText}.AAAA`,
      `v1.abc.${ivText}.A`,
    ];
    for (const value of bad) expect(parseSealed(value)).toBeNull();
  });

  test("parseSealed accepts one spelling per value, so a flipped unused bit is not the same sealed value", () => {
    // 17 bytes end in a base64 character with two unused bits; "B" sets one of them.
    const sealed = formatSealed("abc", iv, new Uint8Array(17));
    const dataText = sealed.split(".")[3];
    expect(dataText.endsWith("A")).toBe(true);
    expect(parseSealed(`${sealed.slice(0, -1)}B`)).toBeNull();
  });

  test("formatSealed refuses a key id that would break the format, a short IV or a missing tag", () => {
    expect(() => formatSealed("a.b", iv, data)).toThrow(DomainError);
    expect(() => formatSealed("", iv, data)).toThrow(DomainError);
    expect(() => formatSealed("abc", new Uint8Array(8), data)).toThrow(DomainError);
    expect(() => formatSealed("abc", iv, new Uint8Array(15))).toThrow(DomainError);
  });
});

describe("resealIfNeeded", () => {
  test("resealIfNeeded answers null for a value already under the current key", async () => {
    const keyring = fakeKeyring("new", ["old"]);
    const sealed = await keyring.seal("secret", "license_key");
    keyring.seals = 0;
    expect(await resealIfNeeded(keyring, sealed, "license_key")).toBeNull();
    expect(keyring.seals).toBe(0);
  });

  test("resealIfNeeded re-seals a value under an older key with the current one and the same context", async () => {
    const keyring = fakeKeyring("new", ["old"]);
    const sealed = await sealUnder("old", "secret", "provider_key:openai");
    const resealed = await resealIfNeeded(keyring, sealed, "provider_key:openai");
    expect(resealed).not.toBeNull();
    expect(sealedKeyId(resealed!)).toBe("new");
    expect(await keyring.open(resealed!, "provider_key:openai")).toBe("secret");
  });

  test("resealIfNeeded fails with decryption_failed for a key that is not in the keyring", async () => {
    const keyring = fakeKeyring("new", ["old"]);
    const error = await rejection(resealIfNeeded(keyring, await sealUnder("gone", "secret", "c"), "c"));
    expect(error.code).toBe("decryption_failed");
    expect(error.message).toContain("gone");
    expect(error.message).not.toContain("secret");
  });

  test("resealIfNeeded fails with decryption_failed for a malformed value without echoing it", async () => {
    const error = await rejection(resealIfNeeded(fakeKeyring("new"), "sk-plaintext-that-was-never-sealed", "c"));
    expect(error.code).toBe("decryption_failed");
    expect(error.message).not.toContain("sk-plaintext");
  });

  test("resealIfNeeded fails when the value was sealed for another context", async () => {
    const keyring = fakeKeyring("new", ["old"]);
    const sealed = await sealUnder("old", "secret", "provider_key:openai");
    const error = await rejection(resealIfNeeded(keyring, sealed, "license_key"));
    expect(error.code).toBe("decryption_failed");
  });

  test("resealIfNeeded turns a foreign error from the keyring into decryption_failed without its message", async () => {
    const keyring: Keyring = {
      ...fakeKeyring("new", ["old"]),
      async open() {
        throw new Error("boom: plaintext hunter2 and key material here");
      },
    };
    const error = await rejection(resealIfNeeded(keyring, await sealUnder("old", "hunter2", "c"), "c"));
    expect(error.code).toBe("decryption_failed");
    expect(error.message).not.toContain("hunter2");
    expect(error.message).not.toContain("boom");
  });
});

describe("rotateSecrets", () => {
  async function fixture() {
    const keyring = fakeKeyring("new", ["old"]);
    const licenses = memoryStore("licenses", "license_key", [
      [1, await sealUnder("old", "CHA-1", "license_key")],
      [2, await keyring.seal("CHA-2", "license_key")],
      [5, await sealUnder("old", "CHA-5", "license_key")],
      [7, await sealUnder("old", "CHA-7", "license_key")],
      [9, await keyring.seal("CHA-9", "license_key")],
    ]);
    const providerKeys = memoryStore("provider_keys", "provider_key:openai", [
      [3, await sealUnder("old", "sk-3", "provider_key:openai")],
    ]);
    return { keyring, licenses, providerKeys };
  }

  test("rotateSecrets re-seals every value under an old key and leaves current ones alone", async () => {
    const { keyring, licenses, providerKeys } = await fixture();
    const untouched = licenses.rows.get(2);
    const result = await rotateSecrets({ keyring, stores: [licenses, providerKeys] });
    expect(result).toEqual({ scanned: 6, rotated: 4, conflicts: 0 });
    for (const store of [licenses, providerKeys]) {
      for (const sealed of store.rows.values()) expect(sealedKeyId(sealed)).toBe("new");
    }
    expect(licenses.rows.get(2)).toBe(untouched);
    expect(await keyring.open(licenses.rows.get(7)!, "license_key")).toBe("CHA-7");
    expect(await keyring.open(providerKeys.rows.get(3)!, "provider_key:openai")).toBe("sk-3");
  });

  test("rotateSecrets walks each store in batches of ascending id", async () => {
    const { keyring, licenses } = await fixture();
    await rotateSecrets({ keyring, stores: [licenses] }, { batchSize: 2 });
    expect(licenses.listCalls).toEqual([
      { afterId: 0, batch: 2 },
      { afterId: 2, batch: 2 },
      { afterId: 7, batch: 2 },
    ]);
  });

  test("rotateSecrets asks for one more batch when the last one was full", async () => {
    const { keyring, licenses } = await fixture();
    await rotateSecrets({ keyring, stores: [licenses] }, { batchSize: 5 });
    expect(licenses.listCalls).toEqual([
      { afterId: 0, batch: 5 },
      { afterId: 9, batch: 5 },
    ]);
  });

  test("rotateSecrets reports progress after each batch against the total of all stores", async () => {
    const { keyring, licenses, providerKeys } = await fixture();
    const progress: Array<[number, number]> = [];
    await rotateSecrets(
      { keyring, stores: [licenses, providerKeys] },
      { batchSize: 2, onProgress: (done, total) => progress.push([done, total]) },
    );
    expect(progress).toEqual([
      [2, 6],
      [4, 6],
      [5, 6],
      [6, 6],
    ]);
  });

  test("rotateSecrets does not overwrite a value that changed after it was listed", async () => {
    const { keyring, licenses } = await fixture();
    const concurrent = await keyring.seal("CHA-5-new", "license_key");
    licenses.beforeReplace = (id) => {
      if (id === 5) licenses.rows.set(5, concurrent);
    };
    const result = await rotateSecrets({ keyring, stores: [licenses] });
    expect(result).toEqual({ scanned: 5, rotated: 2, conflicts: 1 });
    expect(licenses.rows.get(5)).toBe(concurrent);
  });

  test("rotateSecrets run a second time finds nothing left to rotate", async () => {
    const { keyring, licenses, providerKeys } = await fixture();
    await rotateSecrets({ keyring, stores: [licenses, providerKeys] });
    keyring.seals = 0;
    expect(await rotateSecrets({ keyring, stores: [licenses, providerKeys] })).toEqual({
      scanned: 6,
      rotated: 0,
      conflicts: 0,
    });
    expect(keyring.seals).toBe(0);
  });

  test("rotateSecrets handles stores with nothing in them", async () => {
    const progress: number[] = [];
    const result = await rotateSecrets(
      { keyring: fakeKeyring("new"), stores: [memoryStore("empty", "c", [])] },
      { onProgress: (done) => progress.push(done) },
    );
    expect(result).toEqual({ scanned: 0, rotated: 0, conflicts: 0 });
    expect(progress).toEqual([]);
  });

  test("rotateSecrets stops at a value it cannot open and names its row but not its content", async () => {
    const keyring = fakeKeyring("new", ["old"]);
    const store = memoryStore("licenses", "license_key", [
      [1, await sealUnder("old", "CHA-1", "license_key")],
      [2, await sealUnder("retired", "CHA-TOPSECRET", "license_key")],
      [3, await sealUnder("old", "CHA-3", "license_key")],
    ]);
    const error = await rejection(rotateSecrets({ keyring, stores: [store] }));
    expect(error.code).toBe("decryption_failed");
    expect(error.message).toContain("licenses #2");
    expect(error.message).not.toContain("TOPSECRET");
    expect(error.details).toMatchObject({ table: "licenses", id: 2, keyId: "retired" });
    expect(sealedKeyId(store.rows.get(1)!)).toBe("new");
    expect(sealedKeyId(store.rows.get(3)!)).toBe("old");
  });

  test("rotateSecrets refuses a store that lists ids out of order rather than looping forever", async () => {
    const keyring = fakeKeyring("new");
    const sealed = await keyring.seal("x", "c");
    const looping: SecretStore = {
      count: async () => 1,
      listSealed: async () => [{ table: "t", id: 1, context: "c", sealed }],
      replace: async () => true,
    };
    const error = await rejection(rotateSecrets({ keyring, stores: [looping] }, { batchSize: 1 }));
    expect(error.code).toBe("invalid_argument");
  });

  test("rotateSecrets rejects a batch size that is not a positive integer", async () => {
    for (const batchSize of [0, -1, 1.5, Number.NaN]) {
      const error = await rejection(rotateSecrets({ keyring: fakeKeyring("new"), stores: [] }, { batchSize }));
      expect(error.code).toBe("invalid_argument");
    }
  });
});
