// Vendor provider keys: set, replace, remove, test connection.
import { Elysia } from "elysia";
import { DbPlanEditor, DbVendorKeys, probeProvider, type ProbeResult } from "../../../adapters/db/admin_plan_provider_repos.ts";
import { removeVendorKey, setVendorKey } from "../../../domain/admin/mod.ts";
import { isProviderName, PROVIDERS, type ProviderName } from "../../../domain/plans/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import providerProbeTemplate from "../../../../templates/providers_probe.html" with { type: "text" };
import providersTemplate from "../../../../templates/providers.html" with { type: "text" };
import type { AdminCaller } from "./admin_guard.ts";
import type { AdminAreaDeps, AdminOf } from "./area_deps.ts";
import { field, fragment, html, page, redirect, templateText } from "./render.ts";

const LABELS: Record<ProviderName, string> = { openai: "OpenAI", anthropic: "Anthropic", deepseek: "DeepSeek" };

/** Seconds a connection test may take before it counts as failed. */
const PROBE_TIMEOUT_MS = 10_000;

/** What the admin is told about a test: the status only, never the provider's own words (they may echo the key). */
function testView(result: ProbeResult | "no_key") {
  if (result === "no_key") return { ok: false, status: null, reason: "No key is configured." };
  const reasons = {
    rejected: result.status === 401 || result.status === 403 ? "The provider refused the key." : "The provider answered with an error.",
    timeout: `No answer within ${PROBE_TIMEOUT_MS / 1000} seconds.`,
    unreachable: "The provider could not be reached.",
  };
  return { ok: result.ok, status: result.status, reason: result.problem ? reasons[result.problem] : "" };
}

/** Vendor provider keys: set, replace, remove, test connection. */
export function createProviderRoutes(deps: AdminAreaDeps, adminOf: AdminOf) {
  const template = templateText(providersTemplate);
  const partials = { providers_probe: templateText(providerProbeTemplate) };
  const vendorKeys = new DbVendorKeys(deps.db, deps.keyring);
  const planEditor = new DbPlanEditor(deps.db);
  const baseUrlOf = (provider: ProviderName, stored: string | null) => stored ?? deps.baseUrls[provider];

  async function render(
    caller: AdminCaller,
    options: { status?: number; flash?: { kind: string; message: string } | null; errors?: Partial<Record<ProviderName, string>>; tests?: Partial<Record<ProviderName, ReturnType<typeof testView>>> } = {},
  ): Promise<Response> {
    const [keys, plans] = await Promise.all([vendorKeys.list(), planEditor.list()]);
    const byProvider = new Map(keys.map((k) => [k.provider, k]));
    const providers = PROVIDERS.map((provider) => {
      const key = byProvider.get(provider);
      return {
        provider,
        label: LABELS[provider],
        configured: key !== undefined,
        last4: key?.last4 ?? null,
        baseUrl: baseUrlOf(provider, key?.baseUrl ?? null),
        updatedAt: key ? key.updatedAt.toISOString() : null,
        updatedAtText: key ? key.updatedAt.toISOString().replace("T", " ").slice(0, 16) + " UTC" : null,
        error: options.errors?.[provider] ?? null,
        test: options.tests?.[provider] ?? null,
      };
    });
    const planRows = plans.map((p) => ({
      id: p.id,
      name: p.name,
      displayName: p.displayName,
      defaultProvider: p.defaultProvider,
      defaultConfigured: byProvider.has(p.defaultProvider),
      fallbackProvider: p.fallbackProvider,
      fallbackConfigured: p.fallbackProvider !== null && byProvider.has(p.fallbackProvider),
    }));
    const body = page(template, { providers, plans: planRows }, { title: "Provider keys", section: "providers", caller, flash: options.flash ?? null, partials });
    return html(body, options.status ?? 200);
  }

  return new Elysia({ name: "admin-providers" })
    .get("/admin/providers", async ({ request, query }) => {
      const done = typeof query.done === "string" ? query.done : "";
      const [action, provider] = done.split(":");
      const messages: Record<string, string> = { set: "key saved", removed: "key removed" };
      const flash = isProviderName(provider) && messages[action]
        ? { kind: "ok", message: `${LABELS[provider]} ${messages[action]}. Chat calls use it within 10 seconds.` }
        : null;
      return render(adminOf(request), { flash });
    })
    .post("/admin/providers/:provider/key", async ({ request, params, body }) => {
      const caller = adminOf(request);
      const provider = params.provider;
      if (!isProviderName(provider)) return html("<p>No such provider.</p>", 404);
      // `field` trims: a pasted key often carries a trailing newline, which is never part of the key.
      const apiKey = field(body, "api_key");
      try {
        await setVendorKey({ vendorKeys, clock: deps.clock, audit: deps.audit }, { provider, apiKey, actor: caller.actor });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return render(caller, { status: 422, errors: { [provider]: error.message } });
      }
      return redirect(request, `/admin/providers?done=set:${provider}`);
    })
    .post("/admin/providers/:provider/remove", async ({ request, params, body }) => {
      const caller = adminOf(request);
      const provider = params.provider;
      if (!isProviderName(provider)) return html("<p>No such provider.</p>", 404);
      if (field(body, "confirm") !== "yes") {
        return render(caller, { status: 422, errors: { [provider]: "Tick the confirmation to remove the key." } });
      }
      try {
        await removeVendorKey({ vendorKeys, clock: deps.clock, audit: deps.audit }, { provider, actor: caller.actor });
      } catch (error) {
        if (!(error instanceof DomainError) || error.code !== "not_found") throw error;
        return render(caller, { status: 404, errors: { [provider]: "There is no key to remove." } });
      }
      return redirect(request, `/admin/providers?done=removed:${provider}`);
    })
    .post("/admin/providers/:provider/test", async ({ request, params }) => {
      const caller = adminOf(request);
      const provider = params.provider;
      if (!isProviderName(provider)) return html("<p>No such provider.</p>", 404);
      const key = await vendorKeys.open(provider);
      const result = key
        ? await probeProvider({ provider, apiKey: key.apiKey, baseUrl: baseUrlOf(provider, key.baseUrl) }, { timeoutMs: PROBE_TIMEOUT_MS })
        : "no_key";
      await deps.audit.record(
        {
          actor: caller.actor,
          action: "provider_key.tested",
          targetType: "provider_key",
          targetId: provider,
          details: result === "no_key" ? { provider, ok: false, status: null } : { provider, ok: result.ok, status: result.status, problem: result.problem },
        },
        deps.clock.now(),
      );
      const view = testView(result);
      if (request.headers.get("hx-request")) return html(fragment(partials.providers_probe, view));
      return render(caller, { tests: { [provider]: view } });
    });
}
