// The HTTP application: global behaviour of the contract (request ids, CORS, JSON errors for 400/404/405/
// 413/422, no stack traces) around the route modules.
import { Elysia } from "elysia";
import { DomainError } from "../../domain/shared/mod.ts";
import type { Logger } from "../logger.ts";
import type { AdminAccounts, AuditLog, PasswordHasher } from "../../domain/admin/mod.ts";
import type { Random } from "../../domain/shared/mod.ts";
import { adminSecurityHeaders, AdminDenied, createAdminGuard, isAdminPath, isHttps, requiresAdmin, sameOrigin } from "./admin/admin_guard.ts";
import type { AdminAreaDeps } from "./admin/area_deps.ts";
import { createAdminBaseRoutes } from "./admin/base_routes.ts";
import { createAdminAreaRoutes } from "./admin/routes.ts";
import { html } from "./admin/render.ts";
import { createAdminApiGuard, ApiTokenDenied, isAdminApiPath } from "./admin_api_guard.ts";
import { createAdminApiRoutes } from "./admin_api/routes.ts";
import { createPaymentRoutes } from "./payments_api.ts";
import { createDocs } from "./docs.ts";
import { createPluginApiRoutes, type PluginApiDeps } from "./api.ts";
import { createChatRoutes, type ChatApiDeps } from "./chat_api.ts";
import { openAiError } from "./openai_shapes.ts";
import { createUsageRoutes, type UsageApiDeps } from "./usage_api.ts";
import { createLicenseGuard, LicenseDenied, requiresLicense } from "./license_guard.ts";
import { domainErrorResponse, errorBody, unavailableResponse } from "./errors.ts";
import { isDatabaseError } from "../metrics.ts";
import { isDatabaseUnavailable } from "../../adapters/db/availability.ts";
import { createMetricsRoute, type MetricsRouteDeps } from "./metrics_route.ts";

/** Largest request body accepted, as the contract says. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Everything the HTTP layer needs; built by the composition root. */
export type AppDeps = PluginApiDeps &
  ChatApiDeps &
  UsageApiDeps &
  AdminAreaDeps &
  MetricsRouteDeps & {
    logger: Logger;
    accounts: AdminAccounts;
    hasher: PasswordHasher;
    audit: AuditLog;
    random: Random;
    publicUrl: string;
    trustProxy: boolean;
    /** True once a shutdown began: answers then close their connection, so no client reuses it. */
    draining?: () => boolean;
    /** Secrets of the payment webhooks (PADDLE_WEBHOOK_SECRET, PAYMENT_WEBHOOK_SECRET); null answers 503. */
    paddleWebhookSecret?: string | null;
    paymentWebhookSecret?: string | null;
  };

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "Content-Type, X-License-Key, Authorization",
  "access-control-expose-headers": "X-Request-Id, Retry-After",
  "access-control-max-age": "600",
};

/** Plugin-facing paths answer any origin; the admin UI and admin API send no CORS headers at all. */
export function isPluginApiPath(path: string): boolean {
  return path === "/" || /^\/(api\/(health|validate|activate|deactivate|usage|limits|chat|keys)(\/|$)|v1\/)/.test(path);
}

class PayloadTooLarge extends Error {}
class InvalidJson extends Error {}
class TooDeep extends Error {}

/**
 * Deepest nesting a JSON body may have. JSON.parse takes far deeper documents, but validating or walking
 * them recursively then overflows the stack (a RangeError, answered 500); no request of this API nests
 * anywhere near this deep.
 */
export const MAX_JSON_DEPTH = 128;

/** True when the JSON text opens more than `limit` arrays or objects inside one another (strings skipped). */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // a backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > limit) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

// Parse problems are only marked while parsing (Elysia would wrap a thrown error as a generic parse error);
// the transform hook raises them, so licensed routes answer 401 before 400, as the contract orders them.
const INVALID_JSON = Object.freeze({ invalidJson: true });
const TOO_LARGE = Object.freeze({ tooLarge: true });
const TOO_DEEP = Object.freeze({ tooDeep: true });

/** Reads a body up to the limit even without Content-Length (chunked uploads cannot bypass it). */
async function readLimited(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new PayloadTooLarge();
  if (!request.body) return "";
  // With a declared length within the limit the server delivers exactly that many bytes, so the body is read
  // whole: reading it as a stream allocates a large buffer per request (about 100 KB of garbage per call).
  if (request.headers.has("content-length")) return request.text();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new PayloadTooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  // A caller's id is kept only when it is short and plain, so it cannot inject anything into logs.
  return given && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}

function fieldOf(error: unknown): string {
  const e = error as { valueError?: { path?: string }; all?: Array<{ path?: string }> };
  const path = e.valueError?.path ?? e.all?.[0]?.path ?? "";
  return path.replace(/^\//, "").replace(/\//g, ".") || "body";
}

function messageOf(error: unknown): string {
  const e = error as { valueError?: { message?: string }; all?: Array<{ message?: string; summary?: string }> };
  const message = e.all?.[0]?.summary ?? e.valueError?.message ?? "Invalid request";
  // Elysia's summary of a wrongly typed value quotes the value ("... but found: sk-..."), which may be a
  // secret sent in the wrong shape: an error body never echoes what was sent.
  return message.replace(/\s*but found:[\s\S]*$/, "");
}

/** Builds the whole HTTP application around its dependencies. */
export function createApp(deps: AppDeps) {
  const routes = new Map<string, Set<string>>();
  const started = new WeakMap<Request, number>();
  // The exact bytes of each parsed body, for signature checks (Paddle and payment webhooks sign the raw body).
  const rawBodies = new WeakMap<Request, string>();
  // Arrival on the service's clock: the proxy's overhead counts from here (auth and parsing included).
  const arrived = new WeakMap<Request, number>();
  const guard = createLicenseGuard(deps);
  const adminGuard = createAdminGuard(deps);
  const apiGuard = createAdminApiGuard(deps);
  const ips = new WeakMap<Request, string>();
  const ipOf = (request: Request) => ips.get(request) ?? "unknown";
  let unavailableLoggedAt = -Infinity;
  type ErrorContext = { code: unknown; error: unknown; request: Request; set: { status?: number | string; headers: Record<string, any> }; path: string };
  // One error answer for every route: the contract's body, with the status set on `set`.
  function errorAnswer({ code, error, request, set, path }: ErrorContext): Record<string, unknown> {
    if (error instanceof LicenseDenied) {
      set.status = error.status;
      Object.assign(set.headers, error.headers);
      return error.body;
    }
    if (error instanceof PayloadTooLarge) {
      set.status = 413;
      return errorBody("Request body too large (limit 1 MiB)", "payload_too_large", { limit_bytes: MAX_BODY_BYTES });
    }
    if (error instanceof TooDeep) {
      set.status = 400;
      return errorBody(`JSON nested too deeply (limit ${MAX_JSON_DEPTH} levels)`, "invalid_json", { limit_depth: MAX_JSON_DEPTH });
    }
    if (error instanceof InvalidJson || code === "PARSE") {
      set.status = 400;
      return errorBody("JSON data required", "invalid_json");
    }
    if (code === "VALIDATION") {
      const field = fieldOf(error);
      set.status = 422;
      return errorBody(`Invalid request: ${field}: ${messageOf(error)}`, "invalid_request", { field });
    }
    if (code === "NOT_FOUND") {
      const allowed = allowedMethods(routes, path);
      if (allowed.length > 0) {
        set.status = 405;
        set.headers.allow = allowed.join(", ");
        return errorBody("Method not allowed", "method_not_allowed", { allowed });
      }
      set.status = 404;
      return errorBody("Not found", "not_found");
    }
    if (error instanceof DomainError) {
      const mapped = domainErrorResponse(error);
      set.status = mapped.status;
      return mapped.body;
    }
    if (isDatabaseUnavailable(error)) {
      deps.metrics.countDbError("http request");
      // One line per outage interval, not one per refused request.
      const now = performance.now();
      if (now - unavailableLoggedAt > 10_000) {
        unavailableLoggedAt = now;
        deps.logger.warn("database unavailable: answering 503", { path, error: error instanceof Error ? error.message : String(error) });
      }
      const unavailable = unavailableResponse();
      set.status = unavailable.status;
      Object.assign(set.headers, unavailable.headers);
      return unavailable.body;
    }
    if (isDatabaseError(error)) deps.metrics.countDbError("http request");
    deps.logger.error("unhandled error", {
      request_id: set.headers["x-request-id"],
      path,
      method: request.method,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    set.status = 500;
    return errorBody("Internal server error", "internal_error");
  }

  const logRequests = deps.logger.level === "debug" || deps.logger.level === "info";
  // No normalisation: every response schema allows additional properties, so mirroring would only cost time.
  const app = new Elysia({ normalize: false })
    .onRequest(({ request, set, server }) => {
      started.set(request, performance.now());
      ips.set(request, deps.clientIpOf(request, server));
      arrived.set(request, deps.clock.now().getTime());
      set.headers["x-request-id"] = requestIdOf(request);
      const path = new URL(request.url).pathname;
      if (isAdminPath(path)) Object.assign(set.headers, adminSecurityHeaders(isHttps(request, deps.publicUrl, deps.trustProxy)));
      if (isPluginApiPath(path)) {
        Object.assign(set.headers, CORS_HEADERS);
        if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: set.headers as Record<string, string> });
      }
      if (Number(request.headers.get("content-length") ?? "0") > MAX_BODY_BYTES) {
        set.status = 413;
        const body = errorBody("Request body too large (limit 1 MiB)", "payload_too_large", { limit_bytes: MAX_BODY_BYTES });
        // Answered before routing, so the /v1 routes' envelope is applied here (onError does it for the rest).
        return path.startsWith("/v1/") ? openAiError(413, body) : body;
      }
    })
    .onParse(async ({ request, contentType }) => {
      const type = (contentType ?? "").toLowerCase();
      if (type && !type.includes("json") && !type.startsWith("text/plain")) return;
      let text: string;
      try {
        text = await readLimited(request);
      } catch (error) {
        if (error instanceof PayloadTooLarge) return TOO_LARGE;
        throw error;
      }
      rawBodies.set(request, text);
      if (text.trim() === "") return undefined;
      if (nestedDeeperThan(text, MAX_JSON_DEPTH)) return TOO_DEEP;
      try {
        return JSON.parse(text);
      } catch {
        return INVALID_JSON;
      }
    })
    .onTransform(async ({ request, body, path, server, set }) => {
      if (body === TOO_LARGE) throw new PayloadTooLarge();
      if (requiresLicense(path)) await guard.authenticate(request, server, { forValidation: path === "/api/validate" });
      if (isAdminApiPath(path)) await apiGuard.authenticate(request, ipOf(request));
      if (requiresAdmin(path)) await adminGuard.authenticate(request, path, set.headers as Record<string, string>, ipOf(request), body);
      else if (path === "/admin/login" && request.method === "POST" && !sameOrigin(request, deps.publicUrl)) {
        throw new AdminDenied(403, "Cross-origin request refused");
      }
      if (body === INVALID_JSON) throw new InvalidJson();
      if (body === TOO_DEEP) throw new TooDeep();
    })
    .onAfterHandle(({ set }) => {
      if (deps.draining?.()) set.headers.connection = "close";
    })
    .onError((context) => {
      const { error, set, path } = context;
      if (deps.draining?.()) set.headers.connection = "close";
      if (error instanceof ApiTokenDenied) {
        set.status = error.status;
        if (error.status === 401) set.headers["www-authenticate"] = 'Bearer realm="chatello-admin-api"';
        return errorBody(error.message, error.code);
      }
      if (error instanceof AdminDenied) {
        if (error.location) return new Response(null, { status: 303, headers: { ...(set.headers as Record<string, string>), location: error.location } });
        set.status = error.status;
        if (path.startsWith("/admin")) {
          const hint = error.status === 401 ? ' <a href="/admin/login">Sign in</a>' : "";
          return html(`<!doctype html><title>${error.status}</title><p>${error.reason}.${hint}</p>`, error.status, set.headers as Record<string, string>);
        }
        return errorBody(error.reason, error.status === 401 ? "admin_session_required" : "forbidden");
      }
      const body = errorAnswer(context as unknown as ErrorContext);
      // The OpenAI-compatible routes answer every error in OpenAI's envelope, with the same statuses.
      return context.path.startsWith("/v1/") ? openAiError(Number(context.set.status), body) : body;
    })
    .onAfterResponse((context) => {
      const { request, set, path } = context;
      const { route, response } = context as { route?: string; response?: unknown };
      const begin = started.get(request);
      const ms = begin == null ? 0 : performance.now() - begin;
      // A handler's own Response carries its status; `set.status` holds the status of everything else.
      const status = response instanceof Response ? response.status : Number(set.status ?? 200) || 200;
      const pattern = route || "unmatched";
      deps.metrics.observeRequest(pattern, request.method, status, ms / 1000);
      if (!logRequests) return;
      // Plain scalars only (the logger then skips its deep walk); never a key, token, cookie or query string.
      deps.logger.info("request", {
        request_id: set.headers["x-request-id"],
        method: request.method,
        route: pattern,
        path,
        status,
        duration_ms: Math.round(ms * 100) / 100,
        license_id: guard.callerOf(request)?.license.id,
        token_id: isAdminApiPath(path) ? callerId(() => apiGuard.tokenOf(request).token.id) : undefined,
        admin_id: isAdminPath(path) ? callerId(() => adminGuard.adminOf(request).user.id) : undefined,
      });
    })
    .use(createDocs(deps.version))
    .use(createMetricsRoute(deps, ipOf))
    .use(createAdminBaseRoutes(deps, adminGuard.adminOf, ipOf))
    .use(createAdminAreaRoutes(deps, adminGuard.adminOf))
    .use(createAdminApiRoutes(deps, apiGuard.tokenOf))
    .use(createPaymentRoutes(deps, (request) => rawBodies.get(request) ?? ""))
    .use(createPluginApiRoutes(deps, guard.licenseOf))
    .use(
      createChatRoutes(
        deps,
        guard.licenseOf,
        (request) => arrived.get(request) ?? deps.clock.now().getTime(),
        (request) => started.get(request) ?? performance.now(),
      ),
    )
    .use(createUsageRoutes(deps, guard.licenseOf));

  for (const route of app.routes) {
    const methods = routes.get(route.path) ?? new Set<string>();
    methods.add(route.method.toUpperCase());
    routes.set(route.path, methods);
  }
  return app;
}

/** The id of a request's admin or token, when its guard admitted it (the guards throw otherwise). */
function callerId(of: () => number | string): number | string | undefined {
  try {
    return of();
  } catch {
    return undefined;
  }
}

function allowedMethods(routes: Map<string, Set<string>>, path: string): string[] {
  const found = new Set<string>();
  for (const [pattern, methods] of routes) {
    const regex = new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\?:[A-Za-z_]+/g, "[^/]+")}/?$`);
    if (regex.test(path)) for (const m of methods) found.add(m);
  }
  if (found.size > 0 && !found.has("OPTIONS") && isPluginApiPath(path)) found.add("OPTIONS");
  return [...found].sort();
}
