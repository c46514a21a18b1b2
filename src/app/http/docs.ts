// API documentation: the OpenAPI 3 document at /swagger/json and Swagger UI at /swagger, with the Swagger
// UI assets served by the service itself, so the docs work with no internet access.
import { openapi } from "@elysiajs/openapi";
import { Elysia, t } from "elysia";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { unavailableResponse } from "./errors.ts";
import { openAiError } from "./openai_shapes.ts";

// Swagger UI is started from a file, not an inline script, so the page's CSP can forbid inline script.
// The document URL is relative to /swagger, as the plugin's own page had it (works behind a path prefix).
const SWAGGER_INIT = 'window.addEventListener("load", function () { window.ui = SwaggerUIBundle({ dom_id: "#swagger-ui", url: "swagger/json" }); });\n';

// Swagger UI's own files are imported as files (a path inside the binary, or into node_modules from source) and
// read when asked for. As text imports they were strings held for the process's life, for a page an operator
// opens rarely: 1.8 MB of the heap's count in the binary, 3.4 MB from source (the bundle holds non-Latin-1
// characters, so JavaScriptCore stores it in UTF-16).
const ASSETS = new Map<string, { type: string; body: () => BodyInit }>([
  ["swagger-ui-bundle.js", { type: "text/javascript; charset=utf-8", body: () => Bun.file(swaggerBundle) }],
  ["swagger-ui.css", { type: "text/css; charset=utf-8", body: () => Bun.file(swaggerCss) }],
  ["swagger-init.js", { type: "text/javascript; charset=utf-8", body: () => SWAGGER_INIT }],
]);

/** Headers of the Swagger page: only our own scripts and styles (checked in Chromium), no framing, no sniffing. */
const SWAGGER_PAGE_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

const SWAGGER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chatello API</title>
<link rel="stylesheet" href="/swagger/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/swagger/assets/swagger-ui-bundle.js"></script>
<script src="/swagger/assets/swagger-init.js"></script>
</body>
</html>
`;

/** The contract's error body, shared by every documented error answer. */
export const ErrorBody = t.Object(
  { error: t.String({ description: "Human message (old plugins match on it)" }), code: t.String({ description: "Stable snake_case code" }) },
  { additionalProperties: true },
);

/** ErrorBody with a response description and examples (the same shape; only the documentation differs). */
export function errorResponse(description: string, ...examples: Record<string, unknown>[]) {
  return t.Object(ErrorBody.properties, { additionalProperties: true, description, ...(examples.length ? { examples } : {}) });
}

/** OpenAI's error envelope, as /v1 answers every error. */
export function openAiErrorResponse(description: string, ...examples: Record<string, unknown>[]) {
  return t.Object(
    {
      error: t.Object(
        { message: t.String(), type: t.String(), code: t.Union([t.String(), t.Null()]), param: t.Optional(t.Union([t.String(), t.Null()])) },
        { additionalProperties: true },
      ),
    },
    { additionalProperties: true, description, ...(examples.length ? { examples } : {}) },
  );
}

/** The answers of every licensed route before it runs: 401 from the key check, 429 from the bad-key throttle. */
export const LICENSE_ERRORS = {
  401: errorResponse(
    "License missing, unknown, inactive or expired",
    { error: "License key required", code: "license_missing" },
    { error: "Invalid or inactive license", code: "license_invalid", status: null },
    { error: "Invalid or inactive license", code: "license_inactive", status: "suspended" },
    { error: "License expired", code: "license_expired", expires_at: "2026-01-31T00:00:00.000Z" },
  ),
  429: errorResponse("Too many invalid license keys from this address (Retry-After says when to retry)", {
    error: "Too many invalid license keys from this address, try again later",
    code: "too_many_invalid_keys",
    reset_time: "2026-03-15T12:10:00.000Z",
  }),
};

/** The answers of every route that reads a JSON body. */
export const BODY_ERRORS = {
  400: errorResponse("Malformed JSON", { error: "JSON data required", code: "invalid_json" }),
  413: errorResponse("Body over 1 MiB", { error: "Request body too large (limit 1 MiB)", code: "payload_too_large", limit_bytes: 1048576 }),
  422: errorResponse("A field of the wrong type or out of range", { error: "Invalid request: site_url: Expected string", code: "invalid_request", field: "site_url" }),
};

/**
 * A ready Response from a route with `response` schemas: Elysia sends Response objects as they are (it only
 * validates plain values against the schemas), so the type system is told it never reaches that check.
 */
export function asIs(response: Response): never {
  return response as never;
}

type Security = Array<Record<string, string[]>>;
/** Security of the plugin API. */
export const LICENSE_SECURITY: Security = [{ licenseKey: [] }];
/** Security of /v1: the key in X-License-Key or as a bearer token (how OpenAI SDKs send it). */
export const V1_SECURITY: Security = [{ licenseKey: [] }, { licenseBearer: [] }];
/** Security of the old dashboard's JSON routes: the admin session; changes also need the CSRF header. */
export const ADMIN_SESSION_READ: Security = [{ adminSession: [] }];
export const ADMIN_SESSION_WRITE: Security = [{ adminSession: [], adminCsrf: [] }];

/** The route fields the document fix-up reads. */
type RouteLike = { method: string; path: string; hooks?: { body?: unknown } };

const SSE_CONTENT = {
  schema: { type: "string", description: "Server-sent events (`data: {...}` lines), ending when the provider's stream ends" },
  example: 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n',
};

/**
 * Completes the generated document where the generator cannot:
 * - request bodies: the app's own body parser (the global onParse hook) makes the generator leave every
 *   `requestBody.content` empty, so each route's `body` schema is put back as application/json (not
 *   required when the schema is optional);
 * - streaming answers: an operation whose `detail` has `"x-streaming": true` also documents its 200 as
 *   `text/event-stream` (the generator knows one content type per status);
 * - the 500 every route can answer (`internal_error`, never a stack trace), added where not declared;
 * - the 503 of a database that does not answer, on every route that uses it (added to a 503 the route
 *   declares for another reason).
 */
const INTERNAL_ERROR = {
  description: "Unexpected failure: the answer names no cause and carries no stack trace (see the service log by X-Request-Id)",
  content: {
    "application/json": {
      schema: { type: "object", required: ["error", "code"], properties: { error: { type: "string" }, code: { type: "string" } } },
      example: { error: "Internal server error", code: "internal_error" },
    },
  },
};

/** Operations that never touch the database (the health check documents its own 503). */
const WITHOUT_DATABASE = new Set(["get /", "get /metrics", "get /api/health"]);

const UNAVAILABLE_TEXT = "The database does not answer (down, restarting, locked by another process, or full): try again after Retry-After seconds";

/** The unavailable database's 503 (in OpenAI's envelope on /v1), or that answer added to the route's own 503. */
function withUnavailable(declared: any, openAi: boolean): any {
  const answer = unavailableResponse();
  const example = openAi ? openAiError(answer.status, answer.body) : answer.body;
  const headers = { "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer", example: Number(answer.headers["retry-after"]) } } };
  if (!declared) {
    // The shared error bodies, as the generator writes them (a plain JSON copy of the TypeBox schema).
    const schema = (openAi ? openAiErrorResponse : errorResponse)(UNAVAILABLE_TEXT, example);
    return { description: UNAVAILABLE_TEXT, headers, content: { "application/json": { schema: JSON.parse(JSON.stringify(schema)) } } };
  }
  const schema = declared.content?.["application/json"]?.schema;
  if (schema) schema.examples = [...(Array.isArray(schema.examples) ? schema.examples : []), example];
  return { ...declared, description: `${declared.description}; or: ${UNAVAILABLE_TEXT}`, headers: { ...declared.headers, ...headers } };
}

function completeDocument(document: any, routes: RouteLike[]): any {
  const copy = structuredClone(document);
  for (const route of routes) {
    const operation = copy.paths?.[route.path.replace(/:([^/]+)/g, "{$1}")]?.[route.method.toLowerCase()];
    const body = route.hooks?.body as Record<string | symbol, unknown> | undefined;
    if (!operation?.requestBody || !body || typeof body !== "object") continue;
    if (Object.keys(operation.requestBody.content ?? {}).length > 0) continue;
    const optional = Object.getOwnPropertySymbols(body).some((key) => String(key) === "Symbol(TypeBox.Optional)");
    operation.requestBody = { ...operation.requestBody, required: !optional, content: { "application/json": { schema: JSON.parse(JSON.stringify(body)) } } };
  }
  for (const [path, item] of Object.entries<any>(copy.paths ?? {})) {
    for (const [method, operation] of Object.entries<any>(item ?? {})) {
      const ok = operation?.["x-streaming"] ? operation.responses?.["200"] : undefined;
      if (ok?.content && !ok.content["text/event-stream"]) ok.content["text/event-stream"] = SSE_CONTENT;
      if (!operation?.responses) continue;
      if (!operation.responses["500"]) operation.responses["500"] = INTERNAL_ERROR;
      if (!WITHOUT_DATABASE.has(`${method} ${path}`)) operation.responses["503"] = withUnavailable(operation.responses["503"], path.startsWith("/v1/"));
    }
  }
  return copy;
}

/** The docs plugin; `version` is the service's. */
export function createDocs(version: string) {
  const docs = new Elysia({ name: "docs" });
  // Every route of the whole application: the plugins share one router history (protected in the types).
  const allRoutes = () => (docs as unknown as { getGlobalRoutes(): RouteLike[] }).getGlobalRoutes();
  return docs
    .get("/swagger/assets/:name", ({ params }) => {
      const asset = ASSETS.get(params.name);
      if (!asset) return new Response("Not found", { status: 404, headers: { "content-type": "text/plain" } });
      return new Response(asset.body(), { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" } });
    }, { detail: { hide: true } })
    // Our own page instead of the plugin's, whose inline script a CSP would have to allow.
    .get("/swagger", () => new Response(SWAGGER_PAGE, { headers: SWAGGER_PAGE_HEADERS }), { detail: { hide: true } })
    .onAfterHandle(({ path, response }) => {
      if (path !== "/swagger/json" || !response || typeof response !== "object" || response instanceof Response) return;
      return completeDocument(response, allRoutes());
    })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: null,
        exclude: { paths: [/^\/admin(\/|$)/, /^\/swagger(\/|$)/, "/favicon.ico"] },
        documentation: {
          info: {
            title: "Chatello API",
            version,
            description:
              "License validation and site activation for WordPress plugins, the AI proxy (`/api/chat` and the " +
              "OpenAI-compatible `/v1`), usage, bring-your-own-key, and the admin API. Errors are " +
              '`{"error": "...", "code": "stable_code", ...}` (OpenAI\'s envelope on /v1).',
          },
          tags: [
            { name: "Service", description: "Service information and health" },
            { name: "Licenses", description: "Plugin API: validation and site activation (X-License-Key)" },
            { name: "AI", description: "The AI proxy (X-License-Key, or the key as bearer token on /v1)" },
            { name: "Usage", description: "Usage and limits of the calling license" },
            { name: "BYOK", description: "The customer's own provider keys" },
            { name: "Admin", description: "Admin API (bearer admin API token)" },
            { name: "Payments", description: "Payment provider notifications (signed webhooks)" },
            { name: "Admin (compatibility)", description: "The old dashboard's JSON routes (admin session)" },
          ],
          components: {
            securitySchemes: {
              licenseKey: { type: "apiKey", in: "header", name: "X-License-Key", description: "A license key, CHA-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX" },
              adminToken: { type: "http", scheme: "bearer", description: "An admin API token (chtl_...), created in the admin or with `token create`" },
              licenseBearer: { type: "http", scheme: "bearer", description: "On /v1 only: the license key as bearer token (the OpenAI SDKs' API key)" },
              adminSession: { type: "apiKey", in: "cookie", name: "chatello_admin", description: "The admin UI's session cookie (sign in at /admin/login)" },
              adminCsrf: { type: "apiKey", in: "header", name: "X-CSRF-Token", description: "The admin session's CSRF token, required on changes" },
            },
          },
        },
      }),
    );
}
