// Admin sign-in and sessions, after Lucia's current recipe: a random token in the cookie, only its SHA-256
// stored, sliding expiry; a CSRF token derived from the session token; throttled failed sign-ins.
import { DomainError, retryAfterSeconds, type Clock, type Random, type Throttle, type ThrottlePolicy } from "../shared/mod.ts";
import { MIN_ADMIN_PASSWORD_LENGTH, type Actor, type AdminUser, type AuditLog } from "./mod.ts";

/** How long a session lives without use. */
export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** A session used with less than this left is extended to a full TTL again (sliding expiry). */
export const SESSION_RENEW_BEFORE_MS = 15 * 24 * 60 * 60 * 1000;
/** Failed sign-ins per account before it is throttled (the next one is refused). */
export const SIGN_IN_ACCOUNT_POLICY: ThrottlePolicy = { limit: 5, windowMs: 15 * 60 * 1000 };
/** Failed sign-ins per client address before it is throttled. */
export const SIGN_IN_ADDRESS_POLICY: ThrottlePolicy = { limit: 20, windowMs: 15 * 60 * 1000 };

/** A stored session (its id is the SHA-256 of the token the cookie carries). */
export interface AdminSession {
  id: string;
  adminId: number;
  expiresAt: Date;
}

/** Port: admin accounts with their credentials and sessions. */
export interface AdminAccounts {
  credentials(email: string): Promise<{ user: AdminUser; passwordHash: string } | null>;
  byId(id: number): Promise<AdminUser | null>;
  list(): Promise<AdminUser[]>;
  setPassword(id: number, passwordHash: string, now: Date): Promise<void>;
  touchSignIn(id: number, now: Date): Promise<void>;
  createSession(session: AdminSession, meta: { clientIp: string | null; userAgent: string | null }, now: Date): Promise<void>;
  session(id: string): Promise<AdminSession | null>;
  extendSession(id: string, expiresAt: Date): Promise<void>;
  deleteSession(id: string): Promise<void>;
  deleteSessionsOf(adminId: number, exceptId?: string): Promise<void>;
}

/** Port: password hashing (argon2id in the adapter). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

/** A new session token: 160 random bits, hex. */
export function generateSessionToken(random: Random): string {
  return hex(random.bytes(20));
}

/** The stored id of a session token (the token itself never reaches the database). */
export function sessionIdOf(token: string): Promise<string> {
  return sha256Hex(token);
}

/** The CSRF token of a session: derived from its secret token, so only the signed-in page can know it. */
export function csrfTokenOf(sessionToken: string): Promise<string> {
  return sha256Hex(`csrf:${sessionToken}`);
}

/** The outcome of a sign-in attempt. */
export type SignIn =
  | { kind: "signed_in"; user: AdminUser; token: string; expiresAt: Date }
  | { kind: "invalid" }
  | { kind: "throttled"; retryAfterSeconds: number };

type SignInDeps = { accounts: AdminAccounts; hasher: PasswordHasher; throttle: Throttle; random: Random; clock: Clock; audit: AuditLog };

/**
 * Checks e-mail and password. Failures count per account and per client address in the shared database;
 * past either limit the attempt is refused before the password is even checked. A success clears nothing
 * but starts a fresh session (a new token: no session fixation).
 */
export async function signIn(
  deps: SignInDeps,
  input: { email: string; password: string; clientIp: string; userAgent: string | null },
): Promise<SignIn> {
  const now = deps.clock.now();
  const email = input.email.trim().toLowerCase();
  const accountBucket = `sign_in_account:${email}`;
  const addressBucket = `sign_in_address:${input.clientIp}`;
  const [account, address] = await Promise.all([deps.throttle.peek(accountBucket, now), deps.throttle.peek(addressBucket, now)]);
  const blocked = [
    account && account.hits >= SIGN_IN_ACCOUNT_POLICY.limit ? account.resetAt : null,
    address && address.hits >= SIGN_IN_ADDRESS_POLICY.limit ? address.resetAt : null,
  ].filter((d): d is Date => d != null);
  if (blocked.length) {
    const until = new Date(Math.max(...blocked.map((d) => d.getTime())));
    return { kind: "throttled", retryAfterSeconds: retryAfterSeconds(until, now) };
  }
  const found = await deps.accounts.credentials(email);
  // A missing account still pays for a hash check, so timing does not reveal which e-mails exist.
  const ok = found ? await deps.hasher.verify(input.password, found.passwordHash) : (await deps.hasher.verify(input.password, DUMMY_HASH), false);
  if (!found || !ok || found.user.disabled) {
    await Promise.all([
      deps.throttle.hit(accountBucket, SIGN_IN_ACCOUNT_POLICY.windowMs, now),
      deps.throttle.hit(addressBucket, SIGN_IN_ADDRESS_POLICY.windowMs, now),
    ]);
    await deps.audit.record({ actor: { type: "admin", label: email, clientIp: input.clientIp }, action: "admin.sign_in_failed", targetType: "admin", targetId: email }, now);
    return { kind: "invalid" };
  }
  const token = generateSessionToken(deps.random);
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await deps.accounts.createSession({ id: await sessionIdOf(token), adminId: found.user.id, expiresAt }, { clientIp: input.clientIp, userAgent: input.userAgent }, now);
  await deps.accounts.touchSignIn(found.user.id, now);
  await deps.audit.record({ actor: { type: "admin", id: String(found.user.id), label: found.user.email, clientIp: input.clientIp }, action: "admin.signed_in", targetType: "admin", targetId: found.user.id }, now);
  return { kind: "signed_in", user: found.user, token, expiresAt };
}

/** An argon2id hash of a random string, checked against when the account does not exist. */
export const DUMMY_HASH = "$argon2id$v=19$m=65536,t=2,p=1$jVn3zRpQSn++CCEW2d2V7F3HNVnfAaiNRnSUTgye/fY$V3t81Q1fkajEEIqvpUm6GIIZFJZ6zG4+9ln37lZbMUI";

/** The signed-in admin of a session token, extending the session when it is half used; null when invalid. */
export async function validateSession(
  deps: { accounts: AdminAccounts; clock: Clock },
  token: string,
): Promise<{ user: AdminUser; session: AdminSession; renewed: boolean } | null> {
  if (!/^[0-9a-f]{40}$/.test(token)) return null;
  const id = await sessionIdOf(token);
  const session = await deps.accounts.session(id);
  if (!session) return null;
  const now = deps.clock.now();
  if (session.expiresAt.getTime() <= now.getTime()) {
    await deps.accounts.deleteSession(id);
    return null;
  }
  const user = await deps.accounts.byId(session.adminId);
  if (!user || user.disabled) return null;
  if (session.expiresAt.getTime() - now.getTime() < SESSION_RENEW_BEFORE_MS) {
    const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
    await deps.accounts.extendSession(id, expiresAt);
    return { user, session: { ...session, expiresAt }, renewed: true };
  }
  return { user, session, renewed: false };
}

/** Changes the signed-in admin's own password and signs out their other sessions. */
export async function changeOwnPassword(
  deps: { accounts: AdminAccounts; hasher: PasswordHasher; clock: Clock; audit: AuditLog },
  input: { user: AdminUser; sessionId: string; current: string; next: string; actor: Actor },
): Promise<void> {
  const found = await deps.accounts.credentials(input.user.email);
  if (!found || !(await deps.hasher.verify(input.current, found.passwordHash))) {
    throw new DomainError("invalid_argument", "The current password is not right", { field: "current_password" });
  }
  if (input.next.length < MIN_ADMIN_PASSWORD_LENGTH) {
    throw new DomainError("invalid_argument", `The new password needs at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`, { field: "new_password" });
  }
  const now = deps.clock.now();
  await deps.accounts.setPassword(input.user.id, await deps.hasher.hash(input.next), now);
  await deps.accounts.deleteSessionsOf(input.user.id, input.sessionId);
  await deps.audit.record({ actor: input.actor, action: "admin.password_changed", targetType: "admin", targetId: input.user.id }, now);
}
