// Admin API: the per-model price table — list, and add a price effective from a date (earlier rows stay
// for the usage already charged at them).
import { Elysia, t } from "elysia";
import { PROVIDERS } from "../../../domain/plans/mod.ts";
import { pickPrice, validatePrice, type ModelPrice } from "../../../domain/pricing/mod.ts";
import { DomainError } from "../../../domain/shared/mod.ts";
import type { TokenCaller } from "../admin_api_guard.ts";
import type { AdminApiDeps } from "./routes.ts";
import { detail, errors, invalid, IsoTime, Paged, PageQuery, slicePage, writeErrors } from "./_shared.ts";

const Provider = t.Union(PROVIDERS.map((p) => t.Literal(p)));

const PriceJson = t.Object({
  provider: t.String(),
  model: t.String(),
  input_eur_per_mtok: t.Number(),
  output_eur_per_mtok: t.Number(),
  cached_input_eur_per_mtok: t.Number(),
  effective_from: IsoTime,
  current: t.Boolean({ description: "the price that applies now" }),
});

const Rate = (description: string) => t.Number({ minimum: 0, maximum: 1_000_000, description });

const PriceBody = t.Object({
  provider: Provider,
  model: t.String({ minLength: 1, maxLength: 100 }),
  input_eur_per_mtok: Rate("EUR per million prompt tokens"),
  output_eur_per_mtok: Rate("EUR per million completion tokens"),
  cached_input_eur_per_mtok: t.Optional(Rate("EUR per million cached prompt tokens (default: the input rate)")),
  effective_from: t.Optional(t.String({ maxLength: 40, description: "ISO-8601 date or time (default: now)" })),
});

const SNAKE: Record<string, string> = {
  inputEurPerMTok: "input_eur_per_mtok",
  outputEurPerMTok: "output_eur_per_mtok",
  cachedInputEurPerMTok: "cached_input_eur_per_mtok",
  effectiveFrom: "effective_from",
};

function priceJson(price: ModelPrice, current: boolean) {
  return {
    provider: price.provider,
    model: price.model,
    input_eur_per_mtok: price.inputEurPerMTok,
    output_eur_per_mtok: price.outputEurPerMTok,
    cached_input_eur_per_mtok: price.cachedInputEurPerMTok,
    effective_from: price.effectiveFrom.toISOString(),
    current,
  };
}

/** A date or time with an explicit UTC offset or none (a bare date is midnight UTC). */
function parseEffectiveFrom(text: string | undefined, now: Date): Date {
  if (text === undefined) return now;
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(text) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const date = new Date(text);
  if (!ok || Number.isNaN(date.getTime())) invalid("effective_from", "effective_from must be an ISO-8601 date or time with Z");
  return date;
}

/** Prices in the admin API. */
export function createPricesApi(deps: AdminApiDeps, tokenOf: (request: Request) => TokenCaller) {
  return new Elysia({ name: "admin-api-prices" })
    .get(
      "/api/admin/prices",
      async ({ query }) => {
        const now = deps.clock.now();
        const prices = await deps.prices.list();
        const rows = prices
          .filter((p) => (!query.provider || p.provider === query.provider) && (!query.model || p.model === query.model))
          .map((p) => priceJson(p, pickPrice(prices, p.provider, p.model, now) === p))
          .filter((p) => query.current === undefined || p.current === query.current);
        return slicePage(rows, query);
      },
      {
        query: t.Object({ ...PageQuery, provider: t.Optional(Provider), model: t.Optional(t.String({ maxLength: 100 })), current: t.Optional(t.Boolean()) }),
        response: { 200: Paged(PriceJson), ...errors() },
        detail: detail("List model prices", "Every row by provider, model and effective date; `current=true` keeps the prices that apply now."),
      },
    )
    .post(
      "/api/admin/prices",
      async ({ request, body, status }) => {
        const now = deps.clock.now();
        const price: ModelPrice = {
          provider: body.provider,
          model: body.model.trim(),
          inputEurPerMTok: body.input_eur_per_mtok,
          outputEurPerMTok: body.output_eur_per_mtok,
          cachedInputEurPerMTok: body.cached_input_eur_per_mtok ?? body.input_eur_per_mtok,
          effectiveFrom: parseEffectiveFrom(body.effective_from, now),
        };
        const bad = validatePrice(price);
        if (bad.length) invalid(SNAKE[bad[0]] ?? bad[0], `Invalid price: ${bad.map((f) => SNAKE[f] ?? f).join(", ")}`);
        for (const f of ["inputEurPerMTok", "outputEurPerMTok", "cachedInputEurPerMTok"] as const) {
          if (Math.round(price[f] * 1e6) / 1e6 !== price[f]) invalid(SNAKE[f], `${SNAKE[f]} has more than 6 decimals`);
        }
        const same = (p: ModelPrice) => p.provider === price.provider && p.model === price.model && p.effectiveFrom.getTime() === price.effectiveFrom.getTime();
        if ((await deps.prices.list()).some(same)) {
          throw new DomainError("conflict", "A price for this model from that instant exists already", { field: "effective_from" });
        }
        await deps.prices.add(price, now);
        await deps.audit.record(
          {
            actor: tokenOf(request).actor,
            action: "price.added",
            targetType: "price",
            targetId: `${price.provider}/${price.model}`,
            details: { ...priceJson(price, false), current: undefined },
          },
          now,
        );
        return status(201, priceJson(price, pickPrice(await deps.prices.list(), price.provider, price.model, now)?.effectiveFrom.getTime() === price.effectiveFrom.getTime()));
      },
      {
        body: PriceBody,
        response: { 201: PriceJson, ...writeErrors(409) },
        detail: detail("Add a model price", "Effective from `effective_from` (default now); usage already charged keeps its price. 409 for a duplicate instant."),
      },
    );
}
