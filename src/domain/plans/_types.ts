/** Types of the plans module; re-exported by mod.ts. */

/** How a plan is paid for: a renewing subscription or a single purchase. */
export type BillingKind = "monthly" | "yearly" | "one_time";

/** Every billing kind, for validating untrusted input. */
export const BILLING_KINDS: readonly BillingKind[] = Object.freeze(["monthly", "yearly", "one_time"]);

/** The AI providers the proxy can route to. */
export type ProviderName = "openai" | "anthropic" | "deepseek";

/** Every provider, in the order they are offered to plugins. */
export const PROVIDERS: readonly ProviderName[] = Object.freeze(["openai", "anthropic", "deepseek"]);

/** Usage limits of a plan; 0 means unlimited for the first four, and maxSites -1 means unlimited. */
export interface PlanLimits {
  monthlyRequests: number;
  requestsPerMinute: number;
  requestsPerHour: number;
  monthlyBudgetEur: number;
  maxSites: number;
}

/** A plan as stored: price, limits, features and the models a license on it may call. */
export interface Plan {
  id: number;
  name: string;
  displayName: string;
  priceEur: number;
  billing: BillingKind;
  isLifetime: boolean;
  lifetimeCap: number | null;
  limits: PlanLimits;
  features: string[];
  aiIncluded: boolean;
  allowedModels: Record<ProviderName, string[]>;
  defaultProvider: ProviderName;
  /** Tried with its default model when the chosen provider fails before answering; null = no fallback. */
  fallbackProvider: ProviderName | null;
  defaultModels: Record<ProviderName, string>;
  maxTokens: number;
  active: boolean;
}

/** A plan before the store has given it an id. */
export type NewPlan = Omit<Plan, "id">;

/** Port: read access to the plan catalogue. */
export interface Plans {
  list(): Promise<Plan[]>;
  byName(name: string): Promise<Plan | null>;
  byId(id: number): Promise<Plan | null>;
}
