/** Use case: an admin edits a plan's price, limits, features and model routing. */
import type { Actor, AuditLog } from "../admin/mod.ts";
import { DomainError, type Clock } from "../shared/mod.ts";
import { validatePlan } from "./_rules.ts";
import type { Plan, PlanLimits, ProviderName } from "./_types.ts";

/** Port: the plan catalogue as an admin edits it (read uncached, written in full). */
export interface PlanEditor {
  byId(id: number): Promise<Plan | null>;
  save(plan: Plan, now: Date): Promise<void>;
}

/** The fields of a plan an admin may change; its name, billing kind and lifetime flag stay as sold. */
export interface PlanChanges {
  displayName: string;
  priceEur: number;
  limits: PlanLimits;
  features: string[];
  aiIncluded: boolean;
  allowedModels: Record<ProviderName, string[]>;
  defaultModels: Record<ProviderName, string>;
  defaultProvider: ProviderName;
  fallbackProvider: ProviderName | null;
  maxTokens: number;
  lifetimeCap: number | null;
}

/** What an edit did: saved (with the dotted paths that changed) or refused with the invalid fields. */
export type PlanUpdate =
  | { kind: "updated"; plan: Plan; changed: string[] }
  | { kind: "invalid"; fields: string[] };

/** Longest display name the catalogue stores. */
export const MAX_DISPLAY_NAME_LENGTH = 100;

/**
 * Applies an admin's changes to a plan: validated as a whole with validatePlan, saved, and audited as
 * `plan.updated` with each changed field's old and new value. Nothing changed means nothing written.
 */
export async function updatePlan(
  deps: { planEditor: PlanEditor; audit: AuditLog; clock: Clock },
  input: { id: number; changes: PlanChanges; actor: Actor },
): Promise<PlanUpdate> {
  const current = await deps.planEditor.byId(input.id);
  if (!current) throw new DomainError("not_found", "No such plan", { field: "id" });
  const c = input.changes;
  const next: Plan = {
    ...current,
    displayName: c.displayName,
    priceEur: c.priceEur,
    limits: { ...c.limits },
    features: [...c.features],
    aiIncluded: c.aiIncluded,
    allowedModels: { ...c.allowedModels },
    defaultModels: { ...c.defaultModels },
    defaultProvider: c.defaultProvider,
    fallbackProvider: c.fallbackProvider,
    maxTokens: c.maxTokens,
    lifetimeCap: c.lifetimeCap,
  };
  const { id: _id, ...candidate } = next;
  const fields = validatePlan(candidate);
  if (typeof next.displayName === "string" && next.displayName.length > MAX_DISPLAY_NAME_LENGTH && !fields.includes("displayName")) {
    fields.push("displayName");
  }
  if (fields.length > 0) return { kind: "invalid", fields };

  const changes = diffPlans(current, next);
  const changed = Object.keys(changes);
  if (changed.length === 0) return { kind: "updated", plan: current, changed };
  const now = deps.clock.now();
  await deps.planEditor.save(next, now);
  await deps.audit.record(
    { actor: input.actor, action: "plan.updated", targetType: "plan", targetId: current.id, details: { plan: current.name, changed, changes } },
    now,
  );
  return { kind: "updated", plan: next, changed };
}

/** Old and new value of every editable field that differs, keyed by dotted path (limits one by one). */
function diffPlans(before: Plan, after: Plan): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  const compare = (path: string, a: unknown, b: unknown) => {
    if (stableJson(a) !== stableJson(b)) out[path] = { from: a, to: b };
  };
  for (const key of Object.keys(after.limits) as (keyof PlanLimits)[]) compare(`limits.${key}`, before.limits[key], after.limits[key]);
  for (const key of ["displayName", "priceEur", "features", "aiIncluded", "allowedModels", "defaultModels", "defaultProvider", "fallbackProvider", "maxTokens", "lifetimeCap"] as const) {
    compare(key, before[key], after[key]);
  }
  return out;
}

/** JSON with object keys sorted, so two equal allow-lists compare equal whatever order their keys came in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}
