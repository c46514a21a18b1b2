import type { ProviderName } from "../plans/mod.ts";

/** A provider key ready to use, and the base URL it belongs to (null = the configured default). */
export interface UsableKey {
  apiKey: string;
  baseUrl: string | null;
}

/** What a customer sees of a stored key: never more than its last four characters. */
export interface StoredKeyInfo {
  provider: ProviderName;
  last4: string;
  createdAt: Date;
}

/** Port: vendor keys and customers' own keys (BYOK), stored encrypted. */
export interface ProviderKeys {
  vendorKey(provider: ProviderName): Promise<UsableKey | null>;
  customerKey(customerId: number, provider: ProviderName): Promise<string | null>;
  setCustomerKey(customerId: number, provider: ProviderName, apiKey: string, now: Date): Promise<void>;
  deleteCustomerKey(customerId: number, provider: ProviderName): Promise<boolean>;
  listCustomerKeys(customerId: number): Promise<StoredKeyInfo[]>;
}
