// Admin accounts and their sessions (only the SHA-256 of a session token is stored).
import type { AdminAccounts, AdminSession, AdminUser } from "../../domain/admin/mod.ts";
import type { Db } from "./orm.ts";
import { AdminSessionRow, AdminUserRow } from "./schema.ts";

type Row<T> = T extends { "~entity": infer E } ? E : never;

function toUser(row: Row<typeof AdminUserRow>): AdminUser {
  return { id: row.id, email: row.email, name: row.name, disabled: row.disabled, createdAt: row.createdAt };
}

/** Admin accounts and sessions in the database. */
export class DbAdminAccounts implements AdminAccounts {
  constructor(private readonly db: Db) {}

  async credentials(email: string): Promise<{ user: AdminUser; passwordHash: string } | null> {
    const row = await this.db.orm.em.fork().findOne(AdminUserRow, { email: email.trim().toLowerCase() });
    return row ? { user: toUser(row), passwordHash: row.passwordHash } : null;
  }

  async byId(id: number): Promise<AdminUser | null> {
    const row = await this.db.orm.em.fork().findOne(AdminUserRow, { id });
    return row ? toUser(row) : null;
  }

  async list(): Promise<AdminUser[]> {
    return (await this.db.orm.em.fork().find(AdminUserRow, {}, { orderBy: { id: "asc" } })).map(toUser);
  }

  async setPassword(id: number, passwordHash: string, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(AdminUserRow, { id }, { passwordHash, updatedAt: now });
  }

  async touchSignIn(id: number, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(AdminUserRow, { id }, { lastLoginAt: now });
  }

  async createSession(session: AdminSession, meta: { clientIp: string | null; userAgent: string | null }, now: Date): Promise<void> {
    const em = this.db.orm.em.fork();
    em.create(AdminSessionRow, {
      id: session.id,
      admin: session.adminId,
      expiresAt: session.expiresAt,
      createdAt: now,
      clientIp: meta.clientIp,
      userAgent: meta.userAgent?.slice(0, 255) ?? null,
    });
    await em.flush();
  }

  async session(id: string): Promise<AdminSession | null> {
    const row = await this.db.orm.em.fork().findOne(AdminSessionRow, { id });
    return row ? { id: row.id, adminId: (row.admin as unknown as { id: number }).id, expiresAt: row.expiresAt } : null;
  }

  async extendSession(id: string, expiresAt: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(AdminSessionRow, { id }, { expiresAt });
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.orm.em.fork().nativeDelete(AdminSessionRow, { id });
  }

  async deleteSessionsOf(adminId: number, exceptId?: string): Promise<void> {
    await this.db.orm.em.fork().nativeDelete(AdminSessionRow, exceptId ? { admin: adminId, id: { $ne: exceptId } } : { admin: adminId });
  }
}
