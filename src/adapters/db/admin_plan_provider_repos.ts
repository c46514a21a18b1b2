// What the admin's plan and provider-key screens write: plans read uncached and saved in full, licenses
// sold per plan, vendor provider keys (sealed, only last4 readable) and a cheap connection probe.
// The service's own readers cache: MikroPlans 5 s, DbProviderKeys' vendor keys 10 s; edits made here reach
// chat and validation calls once those caches expire.
import type { Keyring } from "../../domain/encryption/mod.ts";
import type { Plan, PlanEditor, ProviderName } from "../../domain/plans/mod.ts";
import type { Db } from "./orm.ts";
import { planColumns, toPlan } from "./licensing_repos.ts";
import { PlanRow, ProviderKeyRow } from "./schema.ts";
import { providerKeyContext } from "./secret_repos.ts";
import { rawQuery } from "./_support.ts";



/** The plan catalogue for the admin: always read from the database (an editor must see its own save). */
export class DbPlanEditor implements PlanEditor {
  constructor(private readonly db: Db) {}

  async list(): Promise<Plan[]> {
    const rows = await this.db.orm.em.fork().find(PlanRow, {}, { orderBy: { id: "asc" } });
    return rows.map(toPlan);
  }

  async byId(id: number): Promise<Plan | null> {
    const row = await this.db.orm.em.fork().findOne(PlanRow, { id });
    return row ? toPlan(row) : null;
  }

  /** Writes every column of the plan (the name stays the row's identity for payments and URLs). */
  async save(plan: Plan, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(
      PlanRow,
      { id: plan.id },
      { ...planColumns(plan), updatedAt: now },
    );
  }

  /** Licenses sold per plan id, counted as the lifetime cap counts them (every license not cancelled). */
  async soldByPlan(): Promise<Map<number, number>> {
    const rows = (await rawQuery(this.db, "select plan_id, count(*) as sold from licenses where status <> ? group by plan_id", ["cancelled"])) as Array<{ plan_id: unknown; sold: unknown }>;
    return new Map(rows.map((r) => [Number(r.plan_id), Number(r.sold)]));
  }
}

/** A vendor key as the admin may see it: never the key, only its last four characters. */
export interface VendorKeyInfo {
  provider: ProviderName;
  last4: string;
  baseUrl: string | null;
  updatedAt: Date;
}

/** The vendor's own provider keys (owner "vendor"), sealed with the keyring under the provider's context. */
export class DbVendorKeys {
  constructor(private readonly db: Db, private readonly keyring: Keyring) {}

  async list(): Promise<VendorKeyInfo[]> {
    const rows = await this.db.orm.em.fork().find(ProviderKeyRow, { owner: "vendor" }, { orderBy: { provider: "asc" } });
    return rows.map((r) => ({ provider: r.provider as ProviderName, last4: r.last4, baseUrl: r.baseUrl ?? null, updatedAt: r.updatedAt }));
  }

  /** Stores or replaces the key; a replaced key keeps its base URL. Returns whether one was replaced. */
  async set(provider: ProviderName, apiKey: string, now: Date): Promise<{ replaced: boolean; last4: string }> {
    const em = this.db.orm.em.fork();
    const sealed = await this.keyring.seal(apiKey, providerKeyContext(provider));
    const last4 = apiKey.slice(-4);
    const existing = await em.findOne(ProviderKeyRow, { owner: "vendor", provider });
    if (existing) {
      existing.keySealed = sealed;
      existing.last4 = last4;
      existing.updatedAt = now;
    } else {
      em.create(ProviderKeyRow, { owner: "vendor", customer: null, provider, keySealed: sealed, last4, baseUrl: null, createdAt: now, updatedAt: now });
    }
    await em.flush();
    return { replaced: existing !== null, last4 };
  }

  /** Deletes the key; returns the last four characters of the removed key, or null when there was none. */
  async remove(provider: ProviderName): Promise<string | null> {
    const em = this.db.orm.em.fork();
    const existing = await em.findOne(ProviderKeyRow, { owner: "vendor", provider });
    if (!existing) return null;
    await em.nativeDelete(ProviderKeyRow, { id: existing.id });
    return existing.last4;
  }

  /** The usable key, opened (for the connection test only; never rendered). */
  async open(provider: ProviderName): Promise<{ apiKey: string; baseUrl: string | null } | null> {
    const row = await this.db.orm.em.fork().findOne(ProviderKeyRow, { owner: "vendor", provider });
    return row ? { apiKey: await this.keyring.open(row.keySealed, providerKeyContext(provider)), baseUrl: row.baseUrl ?? null } : null;
  }
}

/** The outcome of a connection test: whether the provider accepted the key, and its HTTP status when it answered. */
export interface ProbeResult {
  ok: boolean;
  status: number | null;
  problem: "rejected" | "timeout" | "unreachable" | null;
}

/** The Anthropic API version sent with the probe (the same the chat adapter sends). */
const ANTHROPIC_VERSION = "2023-06-01";

/**
 * Calls the cheapest authenticated endpoint of a provider: listing models (free, no tokens). OpenAI and
 * DeepSeek take `GET {base}/models` with a Bearer key; Anthropic `GET {base}/v1/models` with x-api-key.
 * The answer's body is discarded unread: a provider's error text may echo part of the key.
 */
export async function probeProvider(
  input: { provider: ProviderName; apiKey: string; baseUrl: string },
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<ProbeResult> {
  const base = input.baseUrl.replace(/\/+$/, "");
  const anthropic = input.provider === "anthropic";
  const url = anthropic ? `${base}/v1/models` : `${base}/models`;
  const headers: Record<string, string> = anthropic
    ? { "x-api-key": input.apiKey, "anthropic-version": ANTHROPIC_VERSION }
    : { authorization: `Bearer ${input.apiKey}` };
  try {
    const response = await (options.fetch ?? fetch)(url, {
      method: "GET",
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    await response.body?.cancel().catch(() => {});
    return { ok: response.ok, status: response.status, problem: response.ok ? null : "rejected" };
  } catch (error) {
    const name = (error as { name?: string })?.name;
    return { ok: false, status: null, problem: name === "TimeoutError" || name === "AbortError" ? "timeout" : "unreachable" };
  }
}
