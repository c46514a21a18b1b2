// Admin API: the vendor's provider keys — write-only: the list shows whether a key is configured and its
// last four characters, never the key.
import { Elysia, t } from "elysia";
import { DbVendorKeys } from "../../../adapters/db/admin_plan_provider_repos.ts";
import { removeVendorKey, setVendorKey } from "../../../domain/admin/mod.ts";
import { isProviderName, PROVIDERS, type ProviderName } from "../../../domain/plans/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, iso, notFound, NullableIsoTime, Paged, PageQuery, slicePage, writeErrors } from "./_shared.ts";

const KeyInfo = t.Object({
  provider: t.String(),
  configured: t.Boolean(),
  last4: t.Nullable(t.String()),
  base_url: t.String(),
  updated_at: NullableIsoTime,
});

const ProviderParam = t.Object({ provider: t.String({ maxLength: 32, description: PROVIDERS.join(", ") }) });

/** Provider keys in the admin API. */
export function createProviderKeysApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  const vendorKeys = new DbVendorKeys(deps.db, deps.keyring);
  const useCaseDeps = { vendorKeys, clock: deps.clock, audit: deps.audit };

  async function infos() {
    const keys = new Map((await vendorKeys.list()).map((k) => [k.provider, k]));
    return PROVIDERS.map((provider) => {
      const key = keys.get(provider);
      return { provider, configured: key !== undefined, last4: key?.last4 ?? null, base_url: key?.baseUrl ?? deps.baseUrls[provider], updated_at: iso(key?.updatedAt) };
    });
  }

  function providerOf(raw: string): ProviderName {
    return isProviderName(raw) ? raw : notFound(`Provider ${raw}`);
  }

  return new Elysia({ name: "admin-api-provider-keys" })
    .get("/api/admin/provider-keys", async ({ query }) => slicePage(await infos(), query), {
      query: t.Object({ ...PageQuery }),
      response: { 200: Paged(KeyInfo), ...errors() },
      detail: detail("Vendor provider keys", "Whether each provider has a key, and its last four characters; never the key."),
    })
    .put(
      "/api/admin/provider-keys/:provider",
      async ({ request, params, body }) => {
        const provider = providerOf(params.provider);
        const { replaced } = await setVendorKey(useCaseDeps, { provider, apiKey: body.api_key, actor: tokenOf(request).actor });
        return { ...(await infos()).find((k) => k.provider === provider)!, replaced };
      },
      {
        params: ProviderParam,
        body: t.Object({ api_key: t.String({ maxLength: 512 }) }),
        response: { 200: t.Composite([KeyInfo, t.Object({ replaced: t.Boolean() })]), ...writeErrors(404) },
        detail: detail("Set or replace a provider key", "Stored sealed; chat calls use it within 10 seconds. The answer holds only the last four characters."),
      },
    )
    .delete(
      "/api/admin/provider-keys/:provider",
      async ({ request, params }) => {
        const provider = providerOf(params.provider);
        const { last4 } = await removeVendorKey(useCaseDeps, { provider, actor: tokenOf(request).actor });
        return { ...(await infos()).find((k) => k.provider === provider)!, removed_last4: last4 };
      },
      {
        params: ProviderParam,
        response: { 200: t.Composite([KeyInfo, t.Object({ removed_last4: t.String() })]), ...errors(403, 404) },
        detail: detail("Remove a provider key", "404 when the provider has no key configured."),
      },
    );
}
