// Admin accounts and their sessions (only the SHA-256 of a session token is stored).
import type { AdminAccounts, AdminSession, AdminUser, ApiToken, ApiTokens } from "../../domain/admin/mod.ts";
import type { Db } from "./orm.ts";
import { AdminApiTokenRow, AdminSessionRow, AdminUserRow } from "./schema.ts";

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

type TokenRow = Row<typeof AdminApiTokenRow>;

function toToken(row: TokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    prefix: row.tokenPrefix,
    scope: row.scope as ApiToken["scope"],
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt ?? null,
    revokedAt: row.revokedAt ?? null,
  };
}

/** Admin API tokens (the digest only; the token itself was shown once at creation). */
export class DbApiTokens implements ApiTokens {
  constructor(private readonly db: Db) {}

  async create(data: { name: string; digest: string; prefix: string; scope: ApiToken["scope"]; createdBy: number | null }, now: Date): Promise<ApiToken> {
    const em = this.db.orm.em.fork();
    const row = em.create(AdminApiTokenRow, {
      name: data.name,
      tokenDigest: data.digest,
      tokenPrefix: data.prefix,
      scope: data.scope,
      createdBy: data.createdBy,
      createdAt: now,
      lastUsedAt: null,
      revokedAt: null,
    });
    await em.flush();
    return toToken(row);
  }

  async byDigest(digest: string): Promise<ApiToken | null> {
    const row = await this.db.orm.em.fork().findOne(AdminApiTokenRow, { tokenDigest: digest });
    return row ? toToken(row) : null;
  }

  async list(): Promise<ApiToken[]> {
    return (await this.db.orm.em.fork().find(AdminApiTokenRow, {}, { orderBy: { id: "desc" } })).map(toToken);
  }

  async revoke(id: number, now: Date): Promise<boolean> {
    return (await this.db.orm.em.fork().nativeUpdate(AdminApiTokenRow, { id, revokedAt: null }, { revokedAt: now })) > 0;
  }

  async touch(id: number, now: Date): Promise<void> {
    await this.db.orm.em.fork().nativeUpdate(AdminApiTokenRow, { id }, { lastUsedAt: now });
  }
}
