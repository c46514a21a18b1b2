// Bearer admin API tokens for /api/admin/*: missing, unknown or revoked → 401; a read token on a route
// that changes something → 403. The admin UI's session cookie is not accepted here (no CSRF surface).
import { checkApiToken, type Actor, type ApiToken, type ApiTokens } from "../../domain/admin/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";

/** Paths of the admin JSON API. */
export function isAdminApiPath(path: string): boolean {
  return path === "/api/admin" || path.startsWith("/api/admin/");
}

/** A refused admin API request. */
export class ApiTokenDenied extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The token a request authenticated with. */
export interface TokenCaller {
  token: ApiToken;
  actor: Actor;
}

/** Builds the guard. */
export function createAdminApiGuard(deps: { tokens: ApiTokens; clock: Clock }) {
  const callers = new WeakMap<Request, TokenCaller>();

  async function authenticate(request: Request, clientIp: string): Promise<TokenCaller> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
    const check = await checkApiToken(deps, match ? match[1] : null, request.method);
    switch (check.kind) {
      case "missing":
        throw new ApiTokenDenied(401, "token_missing", "Admin API token required (Authorization: Bearer chtl_...)");
      case "invalid":
        throw new ApiTokenDenied(401, "token_invalid", "Invalid admin API token");
      case "revoked":
        throw new ApiTokenDenied(401, "token_revoked", "This admin API token was revoked");
      case "forbidden":
        throw new ApiTokenDenied(403, "token_read_only", "This token has the read scope and cannot change anything");
      case "ok": {
        const caller: TokenCaller = {
          token: check.token,
          actor: { type: "token", id: String(check.token.id), label: `${check.token.name} (${check.token.prefix}…)`, clientIp },
        };
        callers.set(request, caller);
        return caller;
      }
    }
  }

  /** The token of a request (the guard ran before every admin API route). */
  function tokenOf(request: Request): TokenCaller {
    const caller = callers.get(request);
    if (!caller) throw new Error("admin API guard did not run for this route");
    return caller;
  }

  return { authenticate, tokenOf };
}
