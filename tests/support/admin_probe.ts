// Helpers for the admin security tests: which routes of the router are admin-only, sign-ins with a chosen
// client address, session clients built from a cookie, and a small HTML form reader for generic form posts.
import type { TestService } from "./app.ts";

/** Name of the admin session cookie, as the contract's browser flow sees it. */
export const ADMIN_COOKIE = "chatello_admin";

/** The old dashboard's JSON routes, admin-only by the contract. */
export const COMPAT_ADMIN_ROUTE = /^\/api\/(customer(\/.*)?|create_license)$/;

/** The contract's compatibility routes (method, path), probed even before they are built. */
export const CONTRACT_COMPAT_ROUTES: Array<[string, string]> = [
  ["GET", "/api/customer/:id"],
  ["PUT", "/api/customer/:id"],
  ["DELETE", "/api/customer/:id"],
  ["POST", "/api/customer"],
  ["POST", "/api/create_license"],
];

/** A route as the router lists it. */
export interface RouteEntry {
  method: string;
  path: string;
}

/** True for a path only a signed-in admin may reach: every /admin page but sign-in and assets, and the compat JSON. */
export function isProtectedAdminRoute(path: string): boolean {
  if (path === "/admin/login" || path.startsWith("/admin/assets/")) return false;
  return path === "/admin" || path.startsWith("/admin/") || COMPAT_ADMIN_ROUTE.test(path);
}

/** Every protected admin route of the router, one entry per method (ALL becomes GET and POST). */
export function protectedAdminRoutes(app: { routes: Array<{ method: string; path: string }> }): RouteEntry[] {
  const seen = new Set<string>();
  const out: RouteEntry[] = [];
  for (const route of app.routes) {
    if (!isProtectedAdminRoute(route.path)) continue;
    const methods = route.method.toUpperCase() === "ALL" ? ["GET", "POST"] : [route.method.toUpperCase()];
    for (const method of methods) {
      if (method === "WS" || method === "OPTIONS" || method === "HEAD") continue;
      const key = `${method} ${route.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ method, path: route.path });
    }
  }
  return out;
}

/** A concrete path for a route pattern: each `:param` (and `*`) replaced by `pick(name, pattern)` (default 1). */
export function concretePath(pattern: string, pick: (param: string, pattern: string) => string | number = () => 1): string {
  return pattern.replace(/:([A-Za-z0-9_]+)\??/g, (_, name: string) => String(pick(name, pattern))).replace(/\*/g, "1");
}

/** The `name=value` of a Set-Cookie for the admin cookie, with its attributes; null when absent. */
export function adminSetCookie(response: Response): { value: string; attributes: string[]; raw: string } | null {
  const all = typeof response.headers.getSetCookie === "function" ? response.headers.getSetCookie() : [response.headers.get("set-cookie") ?? ""];
  for (const raw of all) {
    const [pair, ...attributes] = raw.split(";").map((part) => part.trim());
    if (pair?.startsWith(`${ADMIN_COOKIE}=`)) return { value: pair.slice(ADMIN_COOKIE.length + 1), attributes, raw };
  }
  return null;
}

/** Posts the sign-in form. */
export function postSignIn(
  svc: TestService,
  form: { email: string; password: string; next?: string },
  options: { ip?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const params = new URLSearchParams({ email: form.email, password: form.password });
  if (form.next !== undefined) params.set("next", form.next);
  return svc.request("POST", "/admin/login", {
    rawBody: params.toString(),
    ip: options.ip,
    headers: { "content-type": "application/x-www-form-urlencoded", ...(options.headers ?? {}) },
  });
}

/** A session client for a cookie (`name=value`); `csrf` is read from the account page. */
export interface CookieClient {
  cookie: string;
  csrf: string;
  get(path: string, options?: { hx?: boolean }): Promise<Response>;
  post(path: string, form?: Record<string, string>, options?: { csrf?: boolean }): Promise<Response>;
}

/** Signs in and returns a client for the new session. */
export async function signInClient(svc: TestService, email: string, password: string, ip?: string): Promise<CookieClient> {
  const response = await postSignIn(svc, { email, password }, { ip });
  if (response.status !== 303) throw new Error(`sign-in of ${email} answered ${response.status}`);
  const cookie = adminSetCookie(response);
  if (!cookie) throw new Error("sign-in set no admin cookie");
  return clientFor(svc, `${ADMIN_COOKIE}=${cookie.value}`);
}

/** A client for an existing cookie. */
export async function clientFor(svc: TestService, cookie: string): Promise<CookieClient> {
  const account = await (await svc.request("GET", "/admin/account", { headers: { cookie } })).text();
  const csrf = /name="csrf-token" content="([0-9a-f]*)"/.exec(account)?.[1] ?? "";
  return {
    cookie,
    csrf,
    get: (path, options = {}) => svc.request("GET", path, { headers: { cookie, ...(options.hx ? { "hx-request": "true" } : {}) } }),
    post: (path, form = {}, options = {}) =>
      svc.request("POST", path, {
        rawBody: new URLSearchParams(options.csrf === false ? form : { _csrf: csrf, ...form }).toString(),
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      }),
  };
}

/** Decodes the HTML entities Mustache and hand-written templates produce. */
export function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#([0-9]+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function attributeOf(attributes: string, name: string): string | null {
  const match = new RegExp(`(?:^|\\s)${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, "i").exec(attributes);
  if (!match) return null;
  return decodeEntities(match[2] ?? match[3] ?? match[4] ?? "");
}

/** A form of a page: where it goes, how, and the values a browser would send. */
export interface PageForm {
  method: string;
  action: string;
  fields: Record<string, string>;
}

/** The forms of a page (plain and htmx: hx-post/hx-put/hx-patch/hx-delete), with their current values. */
export function formsOf(html: string, pagePath: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = match[1];
    const inner = match[2];
    let method = (attributeOf(attributes, "method") ?? "GET").toUpperCase();
    let action = attributeOf(attributes, "action") ?? pagePath;
    for (const verb of ["post", "put", "patch", "delete"]) {
      const target = attributeOf(attributes, `hx-${verb}`);
      if (target !== null) {
        method = verb.toUpperCase();
        action = target || pagePath;
      }
    }
    const fields: Record<string, string> = {};
    for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
      const name = attributeOf(input[1], "name");
      if (!name) continue;
      const type = (attributeOf(input[1], "type") ?? "text").toLowerCase();
      if ((type === "checkbox" || type === "radio") && !/\schecked\b/i.test(input[1])) continue;
      if (type === "submit" || type === "button" || type === "file") continue;
      fields[name] = attributeOf(input[1], "value") ?? (type === "checkbox" ? "on" : "");
    }
    for (const area of inner.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/gi)) {
      const name = attributeOf(area[1], "name");
      if (name) fields[name] = decodeEntities(area[2]);
    }
    for (const select of inner.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/gi)) {
      const name = attributeOf(select[1], "name");
      if (!name) continue;
      const options = [...select[2].matchAll(/<option\b([^>]*)>([\s\S]*?)<\/option>/gi)];
      const chosen = options.find((o) => /\sselected\b/i.test(o[1])) ?? options[0];
      if (chosen) fields[name] = attributeOf(chosen[1], "value") ?? decodeEntities(chosen[2].trim());
    }
    forms.push({ method, action, fields });
  }
  return forms;
}
