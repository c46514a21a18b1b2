// Protects every /admin page and fragment and the old dashboard's JSON routes: the session cookie,
// CSRF on every state change, same-origin requests only, and the security headers of admin pages.
import {
  csrfTokenOf,
  validateSession,
  type Actor,
  type AdminAccounts,
  type AdminUser,
} from "../../../domain/admin/mod.ts";
import { constantTimeEqual, type Clock } from "../../../domain/shared/mod.ts";

/** Name of the admin session cookie. */
export const SESSION_COOKIE = "chatello_admin";

/** Paths anyone may reach: the sign-in form and the static assets it needs. */
export function isPublicAdminPath(path: string): boolean {
  return path === "/admin/login" || path.startsWith("/admin/assets/");
}

// The router also matches a path with a trailing slash (`/api/create_license/`), so the compatibility
// prefixes must too, or such a request would skip the guard.
const COMPAT_ADMIN_PATH = /^\/api\/(customer|create_license)(\/|$)/;

/** Paths that need a signed-in admin: every admin page and fragment, and the compatibility JSON routes. */
export function requiresAdmin(path: string): boolean {
  if (isPublicAdminPath(path)) return false;
  return isAdminPath(path);
}

/** Paths whose answers carry the admin security headers. */
export function isAdminPath(path: string): boolean {
  return path === "/admin" || path.startsWith("/admin/") || COMPAT_ADMIN_PATH.test(path);
}

/** The signed-in admin of a request. */
export interface AdminCaller {
  user: AdminUser;
  sessionId: string;
  csrf: string;
  actor: Actor;
}

/** A refused admin request: a redirect to the sign-in page, or a 401/403 answer. */
export class AdminDenied extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly location: string | null = null,
  ) {
    super(reason);
  }
}

/** Reads one cookie from a request. */
export function cookieOf(request: Request, name: string): string | null {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join("="));
    } catch {
      return null; // broken percent-encoding: treated like any cookie we never issued
    }
  }
  return null;
}

/** True when the service is reached over HTTPS (then cookies are Secure and HSTS is sent). */
export function isHttps(request: Request, publicUrl: string, trustProxy: boolean): boolean {
  if (publicUrl.startsWith("https://")) return true;
  if (new URL(request.url).protocol === "https:") return true;
  return trustProxy && request.headers.get("x-forwarded-proto") === "https";
}

/** The Set-Cookie value of a session (HttpOnly, SameSite=Lax, Secure over HTTPS). */
export function sessionCookie(token: string, expiresAt: Date, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Expires=${expiresAt.toUTCString()}${secure ? "; Secure" : ""}`;
}

/** The Set-Cookie value that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? "; Secure" : ""}`;
}

/** Security headers of admin pages: no inline script, no framing, no sniffing, no referrer leaks. */
export function adminSecurityHeaders(https: boolean): Record<string, string> {
  return {
    "content-security-policy":
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    ...(https ? { "strict-transport-security": "max-age=31536000; includeSubDomains" } : {}),
  };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A state change must come from this service's own pages: the Origin (or Referer) must be ours when the
 * browser sends one. This covers the sign-in form too, which has no session yet.
 */
export function sameOrigin(request: Request, publicUrl: string): boolean {
  const referer = request.headers.get("referer");
  // A Referer that is not a URL is foreign, not a crash.
  const origin = request.headers.get("origin") ?? (referer ? (URL.canParse(referer) ? new URL(referer).origin : "invalid") : null);
  if (!origin || origin === "null") return origin == null;
  const own = new Set([new URL(publicUrl).origin, new URL(request.url).origin]);
  const host = request.headers.get("host");
  if (host) own.add(`${new URL(request.url).protocol}//${host}`);
  return own.has(origin);
}

/** Builds the admin guard. */
export function createAdminGuard(deps: { accounts: AdminAccounts; clock: Clock; publicUrl: string; trustProxy: boolean }) {
  const callers = new WeakMap<Request, AdminCaller>();

  /**
   * Authenticates a protected admin request, extending its session when half used (the new cookie is
   * added to `headers`), and checks CSRF on state changes. Throws AdminDenied.
   */
  async function authenticate(request: Request, path: string, headers: Record<string, string>, clientIp: string, body: unknown): Promise<AdminCaller> {
    const token = cookieOf(request, SESSION_COOKIE);
    const valid = token ? await validateSession(deps, token) : null;
    if (!valid || !token) {
      const page = request.method === "GET" && !request.headers.get("hx-request") && path.startsWith("/admin");
      const next = encodeURIComponent(new URL(request.url).pathname + new URL(request.url).search);
      throw new AdminDenied(401, "Sign in required", page ? `/admin/login?next=${next}` : null);
    }
    const csrf = await csrfTokenOf(token);
    if (!SAFE_METHODS.has(request.method)) {
      if (!sameOrigin(request, deps.publicUrl)) throw new AdminDenied(403, "Cross-origin request refused");
      const sent = request.headers.get("x-csrf-token") ?? (body && typeof body === "object" ? String((body as Record<string, unknown>)._csrf ?? "") : "");
      if (!sent || !constantTimeEqual(sent, csrf)) throw new AdminDenied(403, "Missing or invalid CSRF token");
    }
    if (valid.renewed) headers["set-cookie"] = sessionCookie(token, valid.session.expiresAt, isHttps(request, deps.publicUrl, deps.trustProxy));
    const caller: AdminCaller = {
      user: valid.user,
      sessionId: valid.session.id,
      csrf,
      actor: { type: "admin", id: String(valid.user.id), label: valid.user.email, clientIp },
    };
    callers.set(request, caller);
    return caller;
  }

  /** The admin authenticated for this request (routes run only after `authenticate` succeeded). */
  function adminOf(request: Request): AdminCaller {
    const caller = callers.get(request);
    if (!caller) throw new Error("admin guard did not run for this route");
    return caller;
  }

  return { authenticate, adminOf };
}
