// Use cases: an admin sets or removes the vendor's own provider key. Keys are opaque, so only their shape
// is checked; nobody ever reads one back (the store keeps only a sealed copy and its last four characters).
import type { ProviderName } from "../plans/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import type { Actor, AuditLog } from "./mod.ts";

/** Port: the vendor's provider keys as an admin writes them. */
export interface VendorKeyStore {
  set(provider: ProviderName, apiKey: string, now: Date): Promise<{ replaced: boolean; last4: string }>;
  /** The last four characters of the removed key, or null when there was none. */
  remove(provider: ProviderName): Promise<string | null>;
}

/** Why a typed key is refused, or null when it looks like a key. */
export function vendorKeyProblem(apiKey: string): string | null {
  if (apiKey === "") return "Paste the API key.";
  if (apiKey.length < 8 || apiKey.length > 512) return "An API key is 8 to 512 characters long.";
  if (/[\s\u0000-\u001f\u007f]/.test(apiKey)) return "An API key has no spaces or control characters.";
  return null;
}

/** Stores or replaces the vendor key of a provider and records it (with the last four characters only). */
export async function setVendorKey(
  deps: { vendorKeys: VendorKeyStore; clock: Clock; audit: AuditLog },
  input: { provider: ProviderName; apiKey: string; actor: Actor },
): Promise<{ replaced: boolean; last4: string }> {
  const problem = vendorKeyProblem(input.apiKey);
  if (problem) throw new DomainError("invalid_argument", problem, { field: "api_key" });
  const now = deps.clock.now();
  const result = await deps.vendorKeys.set(input.provider, input.apiKey, now);
  await deps.audit.record(
    { actor: input.actor, action: "provider_key.set", targetType: "provider_key", targetId: input.provider, details: { provider: input.provider, last4: result.last4, replaced: result.replaced } },
    now,
  );
  return result;
}

/** Removes the vendor key of a provider; not_found when none is configured. */
export async function removeVendorKey(
  deps: { vendorKeys: VendorKeyStore; clock: Clock; audit: AuditLog },
  input: { provider: ProviderName; actor: Actor },
): Promise<{ last4: string }> {
  const last4 = await deps.vendorKeys.remove(input.provider);
  if (last4 === null) throw new DomainError("not_found", `No ${input.provider} key is configured`);
  await deps.audit.record(
    { actor: input.actor, action: "provider_key.removed", targetType: "provider_key", targetId: input.provider, details: { provider: input.provider, last4 } },
    deps.clock.now(),
  );
  return { last4 };
}
