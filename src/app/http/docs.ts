// API documentation: the OpenAPI 3 document at /swagger/json and Swagger UI at /swagger, with the Swagger
// UI assets served by the service itself, so the docs work with no internet access.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "text" };
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };

const ASSETS: Record<string, { type: string; body: string }> = {
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", body: swaggerBundle as unknown as string },
  "swagger-ui.css": { type: "text/css; charset=utf-8", body: swaggerCss as unknown as string },
};

/** The docs plugin; `version` is the service's. */
export function createDocs(version: string) {
  return new Elysia({ name: "docs" })
    .get("/swagger/assets/:name", ({ params }) => {
      const asset = ASSETS[params.name];
      if (!asset) return new Response("Not found", { status: 404, headers: { "content-type": "text/plain" } });
      return new Response(asset.body, { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" } });
    }, { detail: { hide: true } })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        swagger: { cdn: "/swagger/assets/swagger-ui-bundle.js", theme: "/swagger/assets/swagger-ui.css", autoDarkMode: false },
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
            { name: "Admin (compatibility)", description: "The old dashboard's JSON routes (admin session)" },
          ],
          components: {
            securitySchemes: {
              licenseKey: { type: "apiKey", in: "header", name: "X-License-Key", description: "A license key, CHA-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX" },
              adminToken: { type: "http", scheme: "bearer", description: "An admin API token (chtl_...), created in the admin or with `token create`" },
            },
          },
        },
      }),
    );
}
