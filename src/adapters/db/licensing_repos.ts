// MikroORM implementations of the licensing ports: plans, customers, licenses and site activations.
import type { EntityManager } from "@mikro-orm/core";
import type { Customer, Customers, NewCustomer } from "../../domain/customers/mod.ts";
import {
  decideActivation,
  type ActivationResult,
  type License,
  type Licenses,
  type LicenseStatus,
  type SiteActivation,
  type SiteActivations,
  type ValidationReads,
} from "../../domain/licensing/mod.ts";
import type { NewPlan, Plan, Plans, ProviderName } from "../../domain/plans/mod.ts";
import { DomainError } from "../../domain/shared/mod.ts";
import { NO_USAGE, roundEur } from "../../domain/usage/mod.ts";
import { isUniqueViolation, readDate, readJson, readOptionalDate, withRowLock, rawQuery, rawPreparedRead, sqlDate } from "./_support.ts";
import { isDatabaseUnavailable } from "./availability.ts";
import type { Db } from "./orm.ts";
import { CustomerRow, LicenseRow, PlanRow, SiteActivationRow } from "./schema.ts";

type Row<T> = T extends { "~entity": infer E } ? E : never;
type PlanEntity = Row<typeof PlanRow>;
type CustomerEntity = Row<typeof CustomerRow>;
type LicenseEntity = Row<typeof LicenseRow>;
type SiteEntity = Row<typeof SiteActivationRow>;

/** A plans row as the domain's Plan. */
export function toPlan(row: PlanEntity): Plan {
  return {
    id: row.id,
    name: row.name,
    displayName: row.displayName,
    priceEur: Number(row.priceEur),
    billing: row.billing as Plan["billing"],
    isLifetime: row.isLifetime,
    lifetimeCap: row.lifetimeCap ?? null,
    limits: {
      monthlyRequests: row.monthlyRequests,
      requestsPerMinute: row.requestsPerMinute,
      requestsPerHour: row.requestsPerHour,
      monthlyBudgetEur: Number(row.monthlyBudgetEur),
      maxSites: row.maxSites,
    },
    features: row.features,
    aiIncluded: row.aiIncluded,
    allowedModels: row.allowedModels as Plan["allowedModels"],
    defaultProvider: row.defaultProvider as ProviderName,
    fallbackProvider: (row.fallbackProvider as ProviderName | null) ?? null,
    defaultModels: row.defaultModels as Plan["defaultModels"],
    maxTokens: row.maxTokens,
    active: row.active,
  };
}

/** The plans columns of a plan (everything but id and timestamps). */
export function planColumns(plan: NewPlan) {
  return {
    name: plan.name,
    displayName: plan.displayName,
    priceEur: plan.priceEur,
    billing: plan.billing,
    isLifetime: plan.isLifetime,
    lifetimeCap: plan.lifetimeCap,
    ...plan.limits,
    features: plan.features,
    aiIncluded: plan.aiIncluded,
    allowedModels: plan.allowedModels,
    defaultProvider: plan.defaultProvider,
    fallbackProvider: plan.fallbackProvider,
    defaultModels: plan.defaultModels,
    maxTokens: plan.maxTokens,
    active: plan.active,
  };
}

/** Plans, read through a short cache: validation reads the plan on every call and plans rarely change. */
export class MikroPlans implements Plans {
  private cache: { at: number; plans: Plan[] } | null = null;
  constructor(private readonly db: Db, private readonly cacheMs = 5_000) {}

  async list(): Promise<Plan[]> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < this.cacheMs) return this.cache.plans;
    const rows = await this.db.orm.em.fork().find(PlanRow, {}, { orderBy: { id: "asc" } });
    const plans = rows.map(toPlan);
    this.cache = { at: now, plans };
    return plans;
  }

  async byName(name: string): Promise<Plan | null> {
    return (await this.list()).find((p) => p.name === name.trim().toLowerCase()) ?? null;
  }

  async byId(id: number): Promise<Plan | null> {
    return (await this.list()).find((p) => p.id === id) ?? null;
  }

  /** Inserts the plans that do not exist yet (by name); existing plans keep the admins' edits. */
  async seed(plans: NewPlan[], now: Date): Promise<string[]> {
    const em = this.db.orm.em.fork();
    const existing = new Set((await em.find(PlanRow, {}, { fields: ["name"] })).map((r) => r.name));
    const missing = plans.filter((p) => !existing.has(p.name));
    for (const plan of missing) em.create(PlanRow, { ...planColumns(plan), createdAt: now, updatedAt: now });
    await em.flush();
    this.cache = null;
    return missing.map((p) => p.name);
  }
}

/** A customers row as the domain's Customer. */
export function toCustomer(row: CustomerEntity): Customer {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    company: row.company ?? null,
    notes: row.notes ?? null,
    status: row.status as Customer["status"],
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The customers columns of a new, active customer (e-mail lower-cased: the unique index is case-insensitive). */
export function newCustomerColumns(data: NewCustomer, now: Date) {
  return {
    email: data.email.toLowerCase(),
    name: data.name,
    company: data.company ?? null,
    notes: data.notes ?? null,
    status: "active",
    createdAt: now,
    updatedAt: now,
  };
}

/** Customers; e-mails arrive lower-cased from the domain, so the unique index is case-insensitive. */
export class MikroCustomers implements Customers {
  constructor(private readonly db: Db) {}

  async findByEmail(email: string): Promise<Customer | null> {
    const row = await this.db.orm.em.fork().findOne(CustomerRow, { email: email.toLowerCase() });
    return row ? toCustomer(row) : null;
  }

  async byId(id: number): Promise<Customer | null> {
    const row = await this.db.orm.em.fork().findOne(CustomerRow, { id });
    return row ? toCustomer(row) : null;
  }

  async findOrCreate(data: NewCustomer, now: Date): Promise<{ customer: Customer; created: boolean }> {
    const found = await this.findByEmail(data.email);
    if (found) return { customer: found, created: false };
    try {
      const em = this.db.orm.em.fork();
      const row = em.create(CustomerRow, newCustomerColumns(data, now));
      await em.flush();
      return { customer: toCustomer(row), created: true };
    } catch (error) {
      // Another request created the same customer between our read and insert: reuse it.
      if (!isUniqueViolation(error)) throw error;
      const winner = await this.findByEmail(data.email);
      if (!winner) throw error;
      return { customer: winner, created: false };
    }
  }

  async list(options: { offset: number; limit: number; search?: string }): Promise<{ items: Customer[]; total: number }> {
    const where = options.search ? { id: { $in: await matchingIds(this.db, "customers", ["email", "name"], options.search) } } : {};
    const [rows, total] = await this.db.orm.em
      .fork()
      .findAndCount(CustomerRow, where, { orderBy: { id: "desc" }, offset: options.offset, limit: options.limit });
    return { items: rows.map(toCustomer), total };
  }
}

/** Most rows a text search considers (an admin narrows a search rather than paging through thousands). */
const SEARCH_LIMIT = 1000;

/**
 * Ids of the rows of `table` where one of `columns` contains `text`, case-insensitively. instr() exists on
 * SQLite and MariaDB and has no wildcards, so "mario_" or "50%" search for themselves (LIKE escapes differ
 * between the two dialects). Plain SQL, because raw fragments as ORM filter keys proved unreliable.
 */
export async function matchingIds(db: Db, table: string, columns: string[], text: string): Promise<number[]> {
  for (const name of [table, ...columns]) if (!/^[a-z_]+$/.test(name)) throw new Error(`not an identifier: ${name}`);
  const needle = text.trim().toLowerCase();
  const rows = await db.orm.em
    .getConnection()
    .execute(
      `select id from ${table} where ${columns.map((c) => `instr(lower(${c}), ?) > 0`).join(" or ")} order by id desc limit ${SEARCH_LIMIT}`,
      columns.map(() => needle),
    );
  return (rows as Array<{ id: unknown }>).map((r) => Number(r.id));
}

/** A licenses row (loaded through the ORM) as the domain's License. */
export function toLicense(row: LicenseEntity): License {
  return {
    id: row.id,
    keyDigest: row.keyDigest,
    keySealed: row.keySealed,
    keyPrefix: row.keyPrefix,
    customerId: (row.customer as unknown as { id: number }).id,
    planId: (row.plan as unknown as { id: number }).id,
    status: row.status as LicenseStatus,
    domain: row.domain ?? null,
    expiresAt: row.expiresAt ?? null,
    activatedAt: row.activatedAt ?? null,
    lastValidatedAt: row.lastValidatedAt ?? null,
    metadata: row.metadata ?? {},
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

type RawRow = Record<string, unknown>;

// The hot path (every plugin call) reads with plain SQL: the ORM's hydration costs ~10x the query itself.
function licenseFromRaw(r: RawRow): License {
  return {
    id: Number(r.id),
    keyDigest: String(r.key_digest),
    keySealed: String(r.key_sealed),
    keyPrefix: String(r.key_prefix),
    customerId: Number(r.customer_id),
    planId: Number(r.plan_id),
    status: r.status as LicenseStatus,
    domain: (r.domain as string | null) ?? null,
    expiresAt: readOptionalDate(r.expires_at),
    activatedAt: readOptionalDate(r.activated_at),
    lastValidatedAt: readOptionalDate(r.last_validated_at),
    metadata: readJson(r.metadata, {}),
    createdAt: readDate(r.created_at),
    updatedAt: readDate(r.updated_at),
  };
}

/** An active site from a raw row. */
function siteFromRaw(r: RawRow): SiteActivation {
  return {
    id: Number(r.id),
    licenseId: Number(r.license_id),
    host: String(r.host),
    exempt: Boolean(Number(r.exempt)),
    activatedAt: readDate(r.activated_at),
  };
}

// The validation read: the license row with one row per active site (or one row of NULL site columns) and
// its month counter (NULLs when the license has not used the month yet). Parameters: the month's start, the
// key digest.
const VALIDATION_READ = `select l.*, s.id as s_id, s.host as s_host, s.exempt as s_exempt, s.activated_at as s_activated_at,
  q.requests as v_requests, q.tokens as v_tokens, q.cost_eur as v_cost
from licenses l
left join site_activations s on s.license_id = l.id and s.deactivated_at is null
left join quota_counters q on q.license_id = l.id and q.period = 'month' and q.period_start = ?
where l.key_digest = ?`;

/** Licenses. Lookups go through the key digest; the sealed key is only opened to show it to an admin. */
export class MikroLicenses implements Licenses {
  /**
   * MariaDB only: there each statement costs a network round trip, and readForValidation's one joined
   * statement answers in about half the time of the three reads. On SQLite the three cost less than the join.
   */
  readonly byDigestForValidation?: Licenses["byDigestForValidation"];

  constructor(private readonly db: Db) {
    if (db.dialect === "mariadb") this.byDigestForValidation = (digest, monthStart) => this.readForValidation(digest, monthStart);
  }

  async byDigest(digest: string): Promise<License | null> {
    const rows = await rawPreparedRead(this.db, "select * from licenses where key_digest = ?", [digest]);
    return rows[0] ? licenseFromRaw(rows[0]) : null;
  }

  /** The license with its active sites and its counter of the month starting at `monthStart`, in one statement. */
  async readForValidation(digest: string, monthStart: Date): Promise<{ license: License; reads: ValidationReads } | null> {
    const rows: RawRow[] = await rawPreparedRead(this.db, VALIDATION_READ, [sqlDate(this.db, monthStart), digest]);
    const first = rows[0];
    if (!first) return null;
    const license = licenseFromRaw(first);
    const sites = rows
      .filter((r) => r.s_id != null)
      .map((r) => siteFromRaw({ id: r.s_id, license_id: license.id, host: r.s_host, exempt: r.s_exempt, activated_at: r.s_activated_at }))
      .sort((a, b) => a.id - b.id);
    const usage =
      first.v_requests == null ? { ...NO_USAGE } : { requests: Number(first.v_requests), tokens: Number(first.v_tokens), costEur: roundEur(Number(first.v_cost)) };
    return { license, reads: { sites, usage, monthStart } };
  }

  async byId(id: number): Promise<License | null> {
    const row = await this.db.orm.em.fork().findOne(LicenseRow, { id }, { disableIdentityMap: true });
    return row ? toLicense(row) : null;
  }

  async insert(data: Omit<License, "id">, cap?: { planId: number; max: number } | null): Promise<License> {
    const create = async (em: EntityManager) => {
      if (cap) {
        const sold = await em.count(LicenseRow, { plan: cap.planId, status: { $ne: "cancelled" } });
        if (sold >= cap.max) {
          throw new DomainError("limit_reached", "Lifetime licenses sold out", { field: "plan", cap: cap.max, sold });
        }
      }
      const row = em.create(LicenseRow, {
        keyDigest: data.keyDigest,
        keySealed: data.keySealed,
        keyPrefix: data.keyPrefix,
        customer: data.customerId,
        plan: data.planId,
        status: data.status,
        domain: data.domain,
        expiresAt: data.expiresAt,
        activatedAt: data.activatedAt,
        lastValidatedAt: data.lastValidatedAt,
        metadata: data.metadata,
        createdAt: data.createdAt,
        updatedAt: data.updatedAt,
      });
      await em.flush();
      return toLicense(row);
    };
    // A capped plan is locked for the count-then-insert, so concurrent sales cannot pass the cap together.
    if (cap) return withRowLock(this.db, PlanRow, cap.planId, (em) => create(em));
    return create(this.db.orm.em.fork());
  }

  async updateStatus(id: number, status: LicenseStatus, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(LicenseRow, { id }, { status, updatedAt: now });
  }

  /**
   * Best effort: the last-validated time is informational, so a database that takes no writes right now
   * (an SQLite file locked by another process, full or read-only) must not turn a validation into a 503.
   */
  async touchValidated(id: number, now: Date): Promise<void> {
    try {
      await this.db.orm.em.fork().nativeUpdate(LicenseRow, { id }, { lastValidatedAt: now });
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
    }
  }

  async list(options: {
    offset: number;
    limit: number;
    status?: LicenseStatus;
    planId?: number;
    search?: string;
  }): Promise<{ items: License[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (options.status) where.status = options.status;
    if (options.planId) where.plan = options.planId;
    const em = this.db.orm.em.fork();
    if (options.search) {
      // By key prefix or by the customer's e-mail (both looked up first, bounded).
      const [byPrefix, customers] = await Promise.all([
        matchingIds(this.db, "licenses", ["key_prefix"], options.search),
        matchingIds(this.db, "customers", ["email"], options.search),
      ]);
      where.$or = [{ id: { $in: byPrefix } }, { customer: { $in: customers } }];
    }
    const [rows, total] = await em.findAndCount(LicenseRow, where as never, { orderBy: { id: "desc" }, offset: options.offset, limit: options.limit });
    return { items: rows.map(toLicense), total };
  }
}

function toSite(row: SiteEntity): SiteActivation {
  return {
    id: row.id,
    licenseId: (row.license as unknown as { id: number }).id,
    host: row.host,
    exempt: row.exempt,
    activatedAt: row.activatedAt,
  };
}

/** Site activations; seat decisions run under a lock on the license row, so seats never oversubscribe. */
export class MikroSiteActivations implements SiteActivations {
  constructor(private readonly db: Db) {}

  async activeFor(licenseId: number): Promise<SiteActivation[]> {
    // Sorted here: SQLite's ORDER BY made this per-validation statement three times slower.
    const rows: RawRow[] = await rawQuery(
      this.db,
      "select id, license_id, host, exempt, activated_at from site_activations where license_id = ? and deactivated_at is null",
      [licenseId],
    );
    return rows.map(siteFromRaw).sort((a, b) => a.id - b.id);
  }

  async activate(licenseId: number, host: string, maxSites: number, now: Date): Promise<ActivationResult> {
    return withRowLock(this.db, LicenseRow, licenseId, async (em, license) => {
      if (!license) throw new DomainError("not_found", "License not found");
      const rows = await em.find(SiteActivationRow, { license: licenseId }, { orderBy: { id: "asc" } });
      const active = rows.filter((r) => r.deactivatedAt == null).map(toSite);
      const decision = decideActivation({ host, sites: active, maxSites });
      if (decision.kind === "limit_reached") return decision;
      if (decision.kind === "already_active") return { kind: "already_active", sites: active };
      const released = rows.find((r) => r.host === host);
      if (released) {
        released.deactivatedAt = null;
        released.activatedAt = now;
        released.exempt = decision.exempt;
      } else {
        em.create(SiteActivationRow, { license: licenseId, host, exempt: decision.exempt, activatedAt: now, deactivatedAt: null });
      }
      const licenseRow = license as LicenseEntity;
      licenseRow.activatedAt ??= now;
      if (!licenseRow.domain && !decision.exempt) licenseRow.domain = host;
      licenseRow.updatedAt = now;
      await em.flush();
      const after = await em.find(SiteActivationRow, { license: licenseId, deactivatedAt: null }, { orderBy: { id: "asc" } });
      return { kind: "activated", sites: after.map(toSite) };
    });
  }

  async deactivate(licenseId: number, host: string, now: Date): Promise<boolean> {
    const changed = await this.db.orm.em
      .fork()
      .nativeUpdate(SiteActivationRow, { license: licenseId, host, deactivatedAt: null }, { deactivatedAt: now });
    return changed > 0;
  }
}
