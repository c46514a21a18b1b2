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
import { domainErrorResponse, errorBody } from "./errors.ts";

/** Largest request body accepted, as the contract says. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Everything the HTTP layer needs; built by the composition root. */
export type AppDeps = PluginApiDeps &
  ChatApiDeps &
  UsageApiDeps &
  AdminAreaDeps & {
    logger: Logger;
    accounts: AdminAccounts;
    hasher: PasswordHasher;
    audit: AuditLog;
    random: Random;
    publicUrl: string;
    trustProxy: boolean;
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

// Parse problems are only marked while parsing (Elysia would wrap a thrown error as a generic parse error);
// the transform hook raises them, so licensed routes answer 401 before 400, as the contract orders them.
const INVALID_JSON = Object.freeze({ invalidJson: true });
const TOO_LARGE = Object.freeze({ tooLarge: true });

/** Reads a body up to the limit even without Content-Length (chunked uploads cannot bypass it). */
async function readLimited(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new PayloadTooLarge();
  if (!request.body) return "";
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
  return e.all?.[0]?.summary ?? e.valueError?.message ?? "Invalid request";
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
    deps.logger.error("unhandled error", {
      request_id: set.headers["x-request-id"],
      path,
      method: request.method,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    set.status = 500;
    return errorBody("Internal server error", "internal_error");
  }

  const app = new Elysia()
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
        return errorBody("Request body too large (limit 1 MiB)", "payload_too_large", { limit_bytes: MAX_BODY_BYTES });
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
      try {
        return JSON.parse(text);
      } catch {
        return INVALID_JSON;
      }
    })
    .onTransform(async ({ request, body, path, server, set }) => {
      if (body === TOO_LARGE) throw new PayloadTooLarge();
      if (requiresLicense(path)) await guard.authenticate(request, server);
      if (isAdminApiPath(path)) await apiGuard.authenticate(request, ipOf(request));
      if (requiresAdmin(path)) await adminGuard.authenticate(request, path, set.headers as Record<string, string>, ipOf(request), body);
      else if (path === "/admin/login" && request.method === "POST" && !sameOrigin(request, deps.publicUrl)) {
        throw new AdminDenied(403, "Cross-origin request refused");
      }
      if (body === INVALID_JSON) throw new InvalidJson();
    })
    .onError((context) => {
      const { error, set, path } = context;
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
    .onAfterResponse(({ request, set, path }) => {
      const begin = started.get(request);
      deps.logger.debug("request", {
        request_id: set.headers["x-request-id"],
        method: request.method,
        path,
        status: set.status,
        ms: begin == null ? undefined : Math.round((performance.now() - begin) * 10) / 10,
      });
    })
    .use(createDocs(deps.version))
    .use(createAdminBaseRoutes(deps, adminGuard.adminOf, ipOf))
    .use(createAdminAreaRoutes(deps, adminGuard.adminOf))
    .use(createAdminApiRoutes(deps, apiGuard.tokenOf))
    .use(createPaymentRoutes(deps, (request) => rawBodies.get(request) ?? ""))
    .use(createPluginApiRoutes(deps, guard.licenseOf))
    .use(createChatRoutes(deps, guard.licenseOf, (request) => arrived.get(request) ?? deps.clock.now().getTime()))
    .use(createUsageRoutes(deps, guard.licenseOf));

  for (const route of app.routes) {
    const methods = routes.get(route.path) ?? new Set<string>();
    methods.add(route.method.toUpperCase());
    routes.set(route.path, methods);
  }
  return app;
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
