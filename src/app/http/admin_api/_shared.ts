// What every admin API module shares: the error body schema, response-status sets, pagination and the
// OpenAPI detail of a route.
import { t, type TSchema } from "elysia";
import { DomainError } from "../../../domain/shared/mod.ts";

/** The contract's error body: a message, a stable code and any extra keys (`field`, `allowed`...). */
export const ErrorBody = t.Object({ error: t.String(), code: t.String() }, { additionalProperties: true });

/** Statuses an admin API route can answer with an error body. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 422;

/** Error responses of a route: 401 (token) and 422 (validation) always, plus the given ones. */
export function errors(...extra: ErrorStatus[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = { 401: ErrorBody, 422: ErrorBody };
  for (const status of extra) out[status] = ErrorBody;
  return out;
}

/** Error responses of a route that changes something: a bad JSON body (400) and a read token (403) too. */
export function writeErrors(...extra: ErrorStatus[]): Record<number, typeof ErrorBody> {
  return errors(400, 403, ...extra);
}

/** The OpenAPI detail of an admin API route. */
export function detail(summary: string, description?: string) {
  return { summary, ...(description ? { description } : {}), tags: ["Admin"], security: [{ adminToken: [] }] };
}

/** Most rows one page may hold. */
export const MAX_PER_PAGE = 100;

/** Rows per page unless asked otherwise. */
export const DEFAULT_PER_PAGE = 25;

/** `?page=1&per_page=25` (per_page at most 100). */
// Digits checked by pattern and ranged in pageOf: Elysia's integer coercion of query values loses the
// failing field's name, and a 422 must name it.
export const PageQuery = {
  page: t.Optional(t.String({ pattern: "^[0-9]{1,7}$", description: "1-based page number" })),
  per_page: t.Optional(t.String({ pattern: "^[0-9]{1,7}$", description: `rows per page (default ${DEFAULT_PER_PAGE}, 1 to ${MAX_PER_PAGE})` })),
};

/** `?order=asc|desc`. */
export const Order = t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { description: "sort direction" }));

/** A page envelope around rows of `item`. */
export function Paged<T extends TSchema>(item: T) {
  return t.Object({ items: t.Array(item), total: Int(), page: Int(), per_page: Int() });
}

/** Page number and size from a validated query. */
export function pageOf(query: { page?: string; per_page?: string }): { page: number; perPage: number; offset: number } {
  const page = query.page === undefined ? 1 : Number(query.page);
  const perPage = query.per_page === undefined ? DEFAULT_PER_PAGE : Number(query.per_page);
  if (!(page >= 1)) invalid("page", "page must be 1 or more");
  if (!(perPage >= 1 && perPage <= MAX_PER_PAGE)) invalid("per_page", `per_page must be from 1 to ${MAX_PER_PAGE}`);
  return { page, perPage, offset: (page - 1) * perPage };
}

/** One page of an in-memory list. */
export function slicePage<T>(all: T[], query: { page?: string; per_page?: string }) {
  const { page, perPage, offset } = pageOf(query);
  return { items: all.slice(offset, offset + perPage), total: all.length, page, per_page: perPage };
}

/**
 * One page of a store list that only orders newest (highest id) first: ascending pages are read from the
 * other end and reversed, so no query is re-implemented to sort both ways.
 */
export async function idOrderedPage<T>(
  list: (offset: number, limit: number) => Promise<{ items: T[]; total: number }>,
  query: { page?: string; per_page?: string },
  order: "asc" | "desc",
): Promise<{ items: T[]; total: number; page: number; per_page: number }> {
  const { page, perPage, offset } = pageOf(query);
  if (order === "desc") {
    const { items, total } = await list(offset, perPage);
    return { items, total, page, per_page: perPage };
  }
  const { total } = await list(0, 1);
  const end = total - offset;
  const start = Math.max(0, end - perPage);
  if (end <= 0) return { items: [], total, page, per_page: perPage };
  const { items } = await list(start, end - start);
  return { items: items.reverse(), total, page, per_page: perPage };
}

/** Compares two values for a sort (nulls last ascending). */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

/** Sorts rows by one field in a direction. */
export function sortRows<T extends Record<string, unknown>>(rows: T[], field: keyof T, order: "asc" | "desc"): T[] {
  const sign = order === "desc" ? -1 : 1;
  return [...rows].sort((a, b) => sign * compareValues(a[field], b[field]) || compareValues(a.id, b.id));
}

/** An ISO time or null. */
export function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}

/** A nullable ISO-8601 UTC time. */
export const IsoTime = t.String({ description: "ISO-8601 UTC time" });
export const NullableIsoTime = t.Nullable(IsoTime);

/** Throws the 404 of a missing resource. */
export function notFound(what: string): never {
  throw new DomainError("not_found", `${what} not found`);
}

/** Throws a 422 naming the field. */
export function invalid(field: string, message: string): never {
  throw new DomainError("invalid_argument", message, { field });
}

/**
 * A whole number in a JSON body or answer. Elysia's t.Integer also accepts numeric strings (for paths and
 * queries) and documents itself as "string or integer"; JSON numbers need neither.
 */
export function Int(options: { minimum?: number; maximum?: number; description?: string } = {}) {
  return t.Number({ multipleOf: 1, ...options });
}
