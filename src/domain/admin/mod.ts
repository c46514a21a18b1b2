/** Admin accounts and the audit trail of every administrative action. */

/** An admin account (the password hash never leaves the adapter). */
export interface AdminUser {
  id: number;
  email: string;
  name: string;
  disabled: boolean;
  createdAt: Date;
}

/** Port: admin accounts. */
export interface AdminUsers {
  count(): Promise<number>;
  byEmail(email: string): Promise<AdminUser | null>;
  create(data: { email: string; name: string; passwordHash: string }, now: Date): Promise<AdminUser>;
}

/** Who did something: an admin, an API token, the CLI, the service itself, or a license (plugin calls). */
export interface Actor {
  type: "admin" | "token" | "cli" | "system" | "license";
  id?: string | null;
  label?: string | null;
  clientIp?: string | null;
}

/** One audit entry. */
export interface AuditEntry {
  actor: Actor;
  action: string;
  targetType?: string | null;
  targetId?: string | number | null;
  details?: Record<string, unknown>;
}

/** Port: append-only audit log. */
export interface AuditLog {
  record(entry: AuditEntry, now: Date): Promise<void>;
}

/** The actor of CLI commands. */
export const CLI_ACTOR: Actor = Object.freeze({ type: "cli", label: "cli" });

/** The actor of work the service does on its own (seeding, sweeps). */
export const SYSTEM_ACTOR: Actor = Object.freeze({ type: "system", label: "system" });

/** Shortest admin password accepted. */
export const MIN_ADMIN_PASSWORD_LENGTH = 12;

export {
  changeOwnPassword,
  csrfTokenOf,
  generateSessionToken,
  sessionIdOf,
  SESSION_RENEW_BEFORE_MS,
  SESSION_TTL_MS,
  SIGN_IN_ACCOUNT_POLICY,
  SIGN_IN_ADDRESS_POLICY,
  signIn,
  validateSession,
  type AdminAccounts,
  type AdminSession,
  type PasswordHasher,
  type SignIn,
} from "./sessions.ts";
export {
  API_TOKEN_PATTERN,
  apiTokenDigest,
  checkApiToken,
  createApiToken,
  revokeApiToken,
  type ApiToken,
  type ApiTokens,
  type TokenCheck,
  type TokenScope,
} from "./api_tokens.ts";
export { removeVendorKey, setVendorKey, vendorKeyProblem, type VendorKeyStore } from "./vendor_keys.ts";
