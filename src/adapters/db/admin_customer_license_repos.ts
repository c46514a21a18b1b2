// Admin queries and writes for customers and licenses: record edits, cascading deletes, effective-status
// filtering and the lookups the admin pages join by hand.
import type { Customer, CustomerImpact, CustomerStore, NewCustomer } from "../../domain/customers/mod.ts";
import type { License, LicenseStatus, LicenseStore } from "../../domain/licensing/mod.ts";
import { DomainError } from "../../domain/shared/mod.ts";
import { isUniqueViolation, withRowLock, rawQuery } from "./_support.ts";
import { matchingIds, newCustomerColumns, toCustomer, toLicense } from "./licensing_repos.ts";
import type { Db } from "./orm.ts";
import { CustomerRow, LicenseRow, PlanRow } from "./schema.ts";




const EMAIL_TAKEN = () => new DomainError("conflict", "A customer with this e-mail already exists", { field: "email" });

/** Customer writes for admins; the unique index on the lower-cased e-mail settles races as a conflict. */
export class DbCustomerStore implements CustomerStore {
  constructor(private readonly db: Db) {}

  async insert(data: NewCustomer, now: Date): Promise<Customer> {
    const em = this.db.orm.em.fork();
    const row = em.create(CustomerRow, newCustomerColumns(data, now));
    try {
      await em.flush();
    } catch (error) {
      if (isUniqueViolation(error)) throw EMAIL_TAKEN();
      throw error;
    }
    return toCustomer(row);
  }

  async update(id: number, data: NewCustomer, now: Date): Promise<Customer | null> {
    const em = this.db.orm.em.fork();
    const row = await em.findOne(CustomerRow, { id });
    if (!row) return null;
    row.email = data.email.toLowerCase();
    row.name = data.name;
    row.company = data.company ?? null;
    row.notes = data.notes ?? null;
    row.updatedAt = now;
    try {
      await em.flush();
    } catch (error) {
      if (isUniqueViolation(error)) throw EMAIL_TAKEN();
      throw error;
    }
    return toCustomer(row);
  }

  async remove(id: number): Promise<boolean> {
    // The foreign keys cascade to licenses, their sites, usage, quota rows and the customer's BYOK keys.
    return (await this.db.orm.em.fork().nativeDelete(CustomerRow, { id })) > 0;
  }

  async impact(id: number): Promise<CustomerImpact> {
    const conn = this.db.orm.em.getConnection();
    const [licenses, sites, usage] = await Promise.all([
      conn.execute("select count(*) as n from licenses where customer_id = ?", [id]),
      conn.execute(
        "select count(*) as n from site_activations s join licenses l on l.id = s.license_id where l.customer_id = ? and s.deactivated_at is null",
        [id],
      ),
      conn.execute("select count(*) as n from usage_events e join licenses l on l.id = e.license_id where l.customer_id = ?", [id]),
    ]);
    const n = (rows: unknown) => Number((rows as Array<{ n: unknown }>)[0]?.n ?? 0);
    return { licenses: n(licenses), activeSites: n(sites), usageEvents: n(usage) };
  }
}

/** License writes for admins: term, plan (cap-checked under a plan-row lock) and deletion. */
export class DbLicenseStore implements LicenseStore {
  constructor(private readonly db: Db) {}

  async setTerm(id: number, expiresAt: Date | null, status: LicenseStatus, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(LicenseRow, { id }, { expiresAt, status, updatedAt: now });
  }

  async setPlan(id: number, planId: number, now: Date, cap: { planId: number; max: number } | null): Promise<void> {
    if (!cap) {
      await this.db.orm.em.fork().nativeUpdate(LicenseRow, { id }, { plan: planId, updatedAt: now });
      return;
    }
    await withRowLock(this.db, PlanRow, cap.planId, async (em) => {
      const sold = await em.count(LicenseRow, { plan: cap.planId, status: { $ne: "cancelled" } });
      if (sold >= cap.max) throw new DomainError("limit_reached", "Lifetime licenses sold out", { field: "plan", cap: cap.max, sold });
      await em.nativeUpdate(LicenseRow, { id }, { plan: planId, updatedAt: now });
    });
  }

  async remove(id: number): Promise<boolean> {
    return (await this.db.orm.em.fork().nativeDelete(LicenseRow, { id })) > 0;
  }
}

/** Read side of the customer and license pages. */
export class AdminCustomerLicenseQueries {
  constructor(private readonly db: Db) {}

  /**
   * Licenses filtered by effective status at `now` (a license past its expiry counts as expired whatever is
   * stored), plan, and a search over key prefix and customer e-mail.
   */
  async listLicenses(options: {
    offset: number;
    limit: number;
    now: Date;
    status?: LicenseStatus;
    planId?: number;
    search?: string;
  }): Promise<{ items: License[]; total: number }> {
    const and: Record<string, unknown>[] = [];
    const { now } = options;
    if (options.status === "expired") and.push({ $or: [{ status: "expired" }, { expiresAt: { $lte: now } }] });
    else if (options.status) and.push({ status: options.status }, { $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] });
    if (options.planId) and.push({ plan: options.planId });
    if (options.search) {
      const [byPrefix, customers] = await Promise.all([
        matchingIds(this.db, "licenses", ["key_prefix"], options.search),
        matchingIds(this.db, "customers", ["email"], options.search),
      ]);
      and.push({ $or: [{ id: { $in: byPrefix } }, { customer: { $in: customers } }] });
    }
    const where = and.length ? { $and: and } : {};
    const [rows, total] = await this.db.orm.em
      .fork()
      .findAndCount(LicenseRow, where as never, { orderBy: { id: "desc" }, offset: options.offset, limit: options.limit });
    return { items: rows.map(toLicense), total };
  }

  /** A customer's licenses, newest first. */
  async licensesOf(customerId: number): Promise<License[]> {
    const rows = await this.db.orm.em.fork().find(LicenseRow, { customer: customerId }, { orderBy: { id: "desc" } });
    return rows.map(toLicense);
  }

  /** Customers by id, for labelling license rows. */
  async customersByIds(ids: number[]): Promise<Map<number, Customer>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const rows = await this.db.orm.em.fork().find(CustomerRow, { id: { $in: unique } });
    return new Map(rows.map((r) => [r.id, toCustomer(r)]));
  }

  /** Number of licenses per customer. */
  async licenseCounts(customerIds: number[]): Promise<Map<number, number>> {
    return this.countBy("licenses", "customer_id", customerIds, "");
  }

  /** Active site activations per license. */
  async activeSiteCounts(licenseIds: number[]): Promise<Map<number, number>> {
    return this.countBy("site_activations", "license_id", licenseIds, "deactivated_at is null and ");
  }

  private async countBy(table: string, column: string, ids: number[], condition: string): Promise<Map<number, number>> {
    if (ids.length === 0) return new Map();
    const rows = await rawQuery(this.db, `select ${column} as k, count(*) as n from ${table} where ${condition}${column} in (${ids.map(() => "?").join(",")}) group by ${column}`, ids);
    return new Map((rows as Array<{ k: unknown; n: unknown }>).map((r) => [Number(r.k), Number(r.n)]));
  }
}
