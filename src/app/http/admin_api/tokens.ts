// Admin API: admin API tokens — list (never the secret), create (the secret shown once), revoke.
import { Elysia, t } from "elysia";
import { createApiToken, revokeApiToken, type ApiToken } from "../../../domain/admin/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, iso, IsoTime, notFound, NullableIsoTime, Order, Paged, PageQuery, slicePage, sortRows, writeErrors, Int } from "./_shared.ts";

const TokenJson = t.Object({
  id: Int(),
  name: t.String(),
  prefix: t.String({ description: "the first 12 characters, to recognise it" }),
  scope: t.String(),
  active: t.Boolean(),
  created_at: IsoTime,
  last_used_at: NullableIsoTime,
  revoked_at: NullableIsoTime,
});

function tokenJson(token: ApiToken) {
  return {
    id: token.id,
    name: token.name,
    prefix: token.prefix,
    scope: token.scope,
    active: token.revokedAt === null,
    created_at: token.createdAt.toISOString(),
    last_used_at: iso(token.lastUsedAt),
    revoked_at: iso(token.revokedAt),
  };
}

/** API tokens in the admin API. */
export function createTokensApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  return new Elysia({ name: "admin-api-tokens" })
    .get(
      "/api/admin/tokens",
      async ({ query }) => {
        let rows = (await deps.tokens.list()).map(tokenJson);
        if (query.active !== undefined) rows = rows.filter((r) => r.active === query.active);
        if (query.scope) rows = rows.filter((r) => r.scope === query.scope);
        return slicePage(sortRows(rows, query.sort ?? "id", query.order ?? "desc"), query);
      },
      {
        query: t.Object({
          ...PageQuery,
          active: t.Optional(t.Boolean()),
          scope: t.Optional(t.Union([t.Literal("read"), t.Literal("write")])),
          sort: t.Optional(t.Union([t.Literal("id"), t.Literal("name"), t.Literal("created_at"), t.Literal("last_used_at")])),
          order: Order,
        }),
        response: { 200: Paged(TokenJson), ...errors() },
        detail: detail("List admin API tokens", "Never the secret, only its prefix."),
      },
    )
    .post(
      "/api/admin/tokens",
      async ({ request, body, status }) => {
        const { token, info } = await createApiToken(deps, { name: body.name, scope: body.scope, actor: tokenOf(request).actor, createdBy: null });
        return status(201, { ...tokenJson(info), token });
      },
      {
        body: t.Object({ name: t.String({ minLength: 1, maxLength: 100 }), scope: t.Union([t.Literal("read"), t.Literal("write")]) }),
        response: { 201: t.Composite([TokenJson, t.Object({ token: t.String({ description: "the secret: shown this once, never again" }) })]), ...writeErrors() },
        detail: detail("Create an admin API token", "The answer holds the secret once; store it now."),
      },
    )
    .delete(
      "/api/admin/tokens/:id",
      async ({ request, params }) => {
        await revokeApiToken(deps, { id: params.id, actor: tokenOf(request).actor });
        const info = (await deps.tokens.list()).find((x) => x.id === params.id) ?? notFound("Token");
        return tokenJson(info);
      },
      {
        params: t.Object({ id: t.Integer({ minimum: 1 }) }),
        response: { 200: TokenJson, ...errors(403, 404) },
        detail: detail("Revoke an admin API token", "404 when no active token has that id; later requests with it get 401."),
      },
    );
}
