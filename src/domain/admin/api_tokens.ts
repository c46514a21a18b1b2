// Admin API tokens: shown once, stored only as a SHA-256 digest, scoped read or write, revocable, with a
// last-used time.
import { DomainError, type Clock, type Random } from "../shared/mod.ts";
import type { Actor, AuditLog } from "./mod.ts";

/** What a token may do: read (GET only) or write (everything). */
export type TokenScope = "read" | "write";

/** A stored token, as the admin sees it (never the secret). */
export interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  scope: TokenScope;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Port: admin API tokens. */
export interface ApiTokens {
  create(data: { name: string; digest: string; prefix: string; scope: TokenScope; createdBy: number | null }, now: Date): Promise<ApiToken>;
  byDigest(digest: string): Promise<ApiToken | null>;
  list(): Promise<ApiToken[]>;
  revoke(id: number, now: Date): Promise<boolean>;
  touch(id: number, now: Date): Promise<void>;
}

/** Token format: `chtl_` + 40 hex characters (160 random bits); the prefix shown is its first 12 characters. */
export const API_TOKEN_PATTERN = /^chtl_[0-9a-f]{40}$/;

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The stored digest of a token. */
export function apiTokenDigest(token: string): Promise<string> {
  return sha256Hex(token);
}

/** Creates a token and returns it in clear: the only time it is ever shown. */
export async function createApiToken(
  deps: { tokens: ApiTokens; random: Random; clock: Clock; audit: AuditLog },
  input: { name: string; scope: string; actor: Actor; createdBy: number | null },
): Promise<{ token: string; info: ApiToken }> {
  const name = input.name.trim();
  if (!name || name.length > 100) throw new DomainError("invalid_argument", "name must be 1 to 100 characters", { field: "name" });
  if (input.scope !== "read" && input.scope !== "write") throw new DomainError("invalid_argument", "scope must be read or write", { field: "scope" });
  const token = `chtl_${[...deps.random.bytes(20)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const now = deps.clock.now();
  const info = await deps.tokens.create({ name, digest: await apiTokenDigest(token), prefix: token.slice(0, 12), scope: input.scope, createdBy: input.createdBy }, now);
  await deps.audit.record({ actor: input.actor, action: "api_token.created", targetType: "api_token", targetId: info.id, details: { name, scope: input.scope, prefix: info.prefix } }, now);
  return { token, info };
}

/** Revokes a token; later requests with it are refused. */
export async function revokeApiToken(deps: { tokens: ApiTokens; clock: Clock; audit: AuditLog }, input: { id: number; actor: Actor }): Promise<void> {
  const now = deps.clock.now();
  if (!(await deps.tokens.revoke(input.id, now))) throw new DomainError("not_found", "No active token with that id");
  await deps.audit.record({ actor: input.actor, action: "api_token.revoked", targetType: "api_token", targetId: input.id }, now);
}

/** Who a bearer token is, or why not. */
export type TokenCheck = { kind: "ok"; token: ApiToken } | { kind: "missing" | "invalid" | "revoked" } | { kind: "forbidden"; token: ApiToken };

/** Checks a bearer token for a request method: read tokens may only read. Refreshes last-used at most once a minute. */
export async function checkApiToken(deps: { tokens: ApiTokens; clock: Clock }, raw: string | null, method: string): Promise<TokenCheck> {
  if (!raw) return { kind: "missing" };
  if (!API_TOKEN_PATTERN.test(raw)) return { kind: "invalid" };
  const token = await deps.tokens.byDigest(await apiTokenDigest(raw));
  if (!token) return { kind: "invalid" };
  if (token.revokedAt) return { kind: "revoked" };
  const now = deps.clock.now();
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > 60_000) await deps.tokens.touch(token.id, now);
  if (token.scope === "read" && !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase())) return { kind: "forbidden", token };
  return { kind: "ok", token };
}
