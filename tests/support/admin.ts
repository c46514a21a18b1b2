// A signed-in admin for admin HTTP tests: creates an account, signs in through the real form, and sends
// page requests and form posts with the session cookie and the CSRF token.
import { hashPassword } from "../../src/adapters/crypto/passwords.ts";
import type { TestService } from "./app.ts";

/** The password of admins made by `signedInAdmin`. */
export const ADMIN_PASSWORD = "correct horse battery staple";

/** A browser-like admin session against a test service. */
export interface AdminSessionClient {
  cookie: string;
  csrf: string;
  email: string;
  /** GET a page or fragment (`hx: true` adds HX-Request). */
  get(path: string, options?: { hx?: boolean }): Promise<Response>;
  /** POST a form (urlencoded) with the CSRF token unless `csrf: false`. */
  post(path: string, form?: Record<string, string | string[]>, options?: { csrf?: boolean; hx?: boolean; headers?: Record<string, string> }): Promise<Response>;
  /** Any method with a JSON body and the CSRF header (for the compatibility JSON routes). */
  json(method: string, path: string, body?: unknown, options?: { csrf?: boolean }): Promise<Response>;
}

let counter = 0;

/** Creates an admin account and signs it in. */
export async function signedInAdmin(svc: TestService, email = `admin${++counter}@example.com`): Promise<AdminSessionClient> {
  await svc.services.admins.create({ email, name: email.split("@")[0], passwordHash: await hashPassword(ADMIN_PASSWORD) }, svc.clock.now());
  const login = await svc.request("POST", "/admin/login", {
    rawBody: new URLSearchParams({ email, password: ADMIN_PASSWORD }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  if (login.status !== 303) throw new Error(`sign-in failed: ${login.status}`);
  const cookie = login.headers.get("set-cookie")!.split(";")[0];
  const account = await (await svc.request("GET", "/admin/account", { headers: { cookie } })).text();
  const csrf = /name="csrf-token" content="([0-9a-f]+)"/.exec(account)?.[1];
  if (!csrf) throw new Error("no CSRF token on the account page");
  const encode = (form: Record<string, string | string[]>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
    return params.toString();
  };
  return {
    cookie,
    csrf,
    email,
    get: (path, options = {}) => svc.request("GET", path, { headers: { cookie, ...(options.hx ? { "hx-request": "true" } : {}) } }),
    post: (path, form = {}, options = {}) =>
      svc.request("POST", path, {
        rawBody: encode(options.csrf === false ? form : { _csrf: csrf, ...form }),
        headers: { cookie, "content-type": "application/x-www-form-urlencoded", ...(options.hx ? { "hx-request": "true" } : {}), ...(options.headers ?? {}) },
      }),
    json: (method, path, body, options = {}) =>
      svc.request(method, path, {
        body,
        headers: { cookie, ...(options.csrf === false ? {} : { "x-csrf-token": csrf }) },
      }),
  };
}
