// The admin's own pages: sign-in, sign-out, account (change password, admins, admin API tokens) and the
// static assets.
import { Elysia } from "elysia";
import htmxSource from "htmx.org/dist/htmx.min.js" with { type: "text" };
import {
  changeOwnPassword,
  createApiToken,
  MIN_ADMIN_PASSWORD_LENGTH,
  revokeApiToken,
  signIn,
  type AdminAccounts,
  type ApiTokens,
  type AdminUsers,
  type AuditLog,
  type PasswordHasher,
} from "../../../domain/admin/mod.ts";
import { normalizeEmail } from "../../../domain/customers/mod.ts";
import { DomainError, type Clock, type Random, type Throttle } from "../../../domain/shared/mod.ts";
import accountTemplate from "../../../../templates/account.html" with { type: "text" };
import cssSource from "../../../../templates/assets/admin.css" with { type: "text" };
import jsSource from "../../../../templates/assets/admin.js" with { type: "text" };
import loginTemplate from "../../../../templates/login.html" with { type: "text" };
import {
  clearedSessionCookie,
  cookieOf,
  isHttps,
  SESSION_COOKIE,
  sessionCookie,
  type AdminCaller,
} from "./admin_guard.ts";
import { field, html, page, redirect, safeNext, templateText } from "./render.ts";

/** What the base admin routes need. */
export interface AdminBaseDeps {
  accounts: AdminAccounts;
  admins: AdminUsers;
  hasher: PasswordHasher;
  throttle: Throttle;
  random: Random;
  clock: Clock;
  audit: AuditLog;
  tokens: ApiTokens;
  publicUrl: string;
  trustProxy: boolean;
}

/** A date and time for the token table ("" when unset). */
function when(date: Date | null): string {
  return date ? `${date.toISOString().slice(0, 16).replace("T", " ")} UTC` : "";
}

const ASSETS: Record<string, { type: string; body: string }> = {
  "htmx.min.js": { type: "text/javascript; charset=utf-8", body: htmxSource as unknown as string },
  "admin.js": { type: "text/javascript; charset=utf-8", body: templateText(jsSource) },
  "admin.css": { type: "text/css; charset=utf-8", body: templateText(cssSource) },
};

/** Sign-in, sign-out, account and assets. */
export function createAdminBaseRoutes(
  deps: AdminBaseDeps,
  adminOf: (request: Request) => AdminCaller,
  clientIpOf: (request: Request) => string,
) {
  const login = templateText(loginTemplate);
  const account = templateText(accountTemplate);
  const secure = (request: Request) => isHttps(request, deps.publicUrl, deps.trustProxy);
  const accountView = async (extra: Record<string, unknown>) => ({
    errors: {},
    adminErrors: {},
    newAdmin: { email: "", name: "" },
    admins: (await deps.accounts.list()).map((a) => ({ ...a, created: a.createdAt.toISOString().slice(0, 10) })),
    tokenErrors: {},
    newToken: null,
    tokenForm: { name: "", read: true, write: false },
    tokens: (await deps.tokens.list()).map((t) => ({
      id: t.id,
      name: t.name,
      prefix: t.prefix,
      scope: t.scope,
      created: when(t.createdAt),
      lastUsed: when(t.lastUsedAt),
      revoked: when(t.revokedAt),
      active: !t.revokedAt,
    })),
    ...extra,
  });

  return new Elysia({ name: "admin-base" })
    // Browsers ask for it on every admin page; an empty answer keeps their consoles clean.
    .get("/favicon.ico", () => new Response(null, { status: 204 }))
    .get("/admin/assets/:name", ({ params }) => {
      const asset = ASSETS[params.name];
      if (!asset) return new Response("Not found", { status: 404, headers: { "content-type": "text/plain" } });
      return new Response(asset.body, { headers: { "content-type": asset.type, "cache-control": "public, max-age=3600" } });
    })
    .get("/admin/login", ({ query }) =>
      html(page(login, { next: safeNext(query.next), email: "" }, { title: "Sign in" })),
    )
    .post("/admin/login", async ({ request, body }) => {
      const email = field(body, "email");
      const next = safeNext(field(body, "next"));
      const result = await signIn(deps, {
        email,
        password: typeof (body as Record<string, unknown>)?.password === "string" ? String((body as Record<string, unknown>).password) : "",
        clientIp: clientIpOf(request),
        userAgent: request.headers.get("user-agent"),
      });
      if (result.kind === "throttled") {
        const message = `Too many failed sign-ins. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minute(s).`;
        return html(page(login, { next, email, error: message }, { title: "Sign in" }), 429, { "retry-after": String(result.retryAfterSeconds) });
      }
      if (result.kind === "invalid") {
        return html(page(login, { next, email, error: "Wrong e-mail or password." }, { title: "Sign in" }), 401);
      }
      return new Response(null, {
        status: 303,
        headers: { location: next, "set-cookie": sessionCookie(result.token, result.expiresAt, secure(request)) },
      });
    })
    .post("/admin/logout", async ({ request }) => {
      const caller = adminOf(request);
      await deps.accounts.deleteSession(caller.sessionId);
      await deps.audit.record({ actor: caller.actor, action: "admin.signed_out", targetType: "admin", targetId: caller.user.id }, deps.clock.now());
      return new Response(null, { status: 303, headers: { location: "/admin/login", "set-cookie": clearedSessionCookie(secure(request)) } });
    })
    .get("/admin/account", async ({ request, query }) => {
      const caller = adminOf(request);
      const flash = query.revoked === "1" ? { kind: "ok", message: "Token revoked: requests with it are refused from now on." } : null;
      return html(page(account, await accountView({}), { title: "Account", caller, flash }));
    })
    .post("/admin/account/admins", async ({ request, body }) => {
      const caller = adminOf(request);
      const email = normalizeEmail(field(body, "email"));
      const name = field(body, "name");
      const password = typeof (body as Record<string, unknown>)?.password === "string" ? String((body as Record<string, unknown>).password) : "";
      const adminErrors: Record<string, string> = {};
      if (!email) adminErrors.email = "Enter a valid e-mail address.";
      else if (await deps.admins.byEmail(email)) adminErrors.email = "An admin with this e-mail already exists.";
      if (password.length < MIN_ADMIN_PASSWORD_LENGTH) adminErrors.password = `At least ${MIN_ADMIN_PASSWORD_LENGTH} characters.`;
      if (Object.keys(adminErrors).length || !email) {
        const view = await accountView({ adminErrors, newAdmin: { email: field(body, "email"), name } });
        return html(page(account, view, { title: "Account", caller }), 422);
      }
      const now = deps.clock.now();
      const admin = await deps.admins.create({ email, name: name || email.split("@")[0], passwordHash: await deps.hasher.hash(password) }, now);
      await deps.audit.record({ actor: caller.actor, action: "admin.created", targetType: "admin", targetId: admin.id, details: { email } }, now);
      return html(page(account, await accountView({}), { title: "Account", caller, flash: { kind: "ok", message: `Admin ${email} added.` } }));
    })
    .post("/admin/account/tokens", async ({ request, body }) => {
      const caller = adminOf(request);
      const name = field(body, "name");
      const scope = field(body, "scope");
      try {
        const created = await createApiToken(deps, { name, scope, actor: caller.actor, createdBy: caller.user.id });
        // The only answer that ever carries the secret: never cached, never redirected through a URL.
        const view = await accountView({ newToken: { token: created.token, name: created.info.name, scope: created.info.scope } });
        const flash = { kind: "ok", message: `Token "${created.info.name}" created. Copy it now: it will not be shown again.` };
        return html(page(account, view, { title: "Account", caller, flash }), 200, { "cache-control": "no-store" });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const key = String(error.details.field ?? "form");
        const message = key === "name" ? "Enter a name of 1 to 100 characters." : key === "scope" ? "Choose read or write." : error.message;
        const tokenForm = { name, read: scope !== "write", write: scope === "write" };
        return html(page(account, await accountView({ tokenErrors: { [key]: message }, tokenForm }), { title: "Account", caller }), 422);
      }
    })
    .post("/admin/account/tokens/:id/revoke", async ({ request, params }) => {
      const caller = adminOf(request);
      const id = /^[1-9][0-9]{0,15}$/.test(params.id) ? Number(params.id) : 0;
      try {
        if (!id) throw new DomainError("not_found", "No active token with that id");
        await revokeApiToken(deps, { id, actor: caller.actor });
      } catch (error) {
        if (!(error instanceof DomainError) || error.code !== "not_found") throw error;
        const view = await accountView({ tokenErrors: { form: "No active token with that id (already revoked?)." } });
        return html(page(account, view, { title: "Account", caller }), 404);
      }
      return redirect(request, "/admin/account?revoked=1#tokens");
    })
    .post("/admin/account/password", async ({ request, body }) => {
      const caller = adminOf(request);
      try {
        await changeOwnPassword(deps, {
          user: caller.user,
          sessionId: caller.sessionId,
          current: String((body as Record<string, unknown>)?.current_password ?? ""),
          next: String((body as Record<string, unknown>)?.new_password ?? ""),
          actor: caller.actor,
        });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        const name = String(error.details.field ?? "form");
        return html(page(account, await accountView({ errors: { [name]: error.message } }), { title: "Account", caller }), 422);
      }
      return html(page(account, await accountView({}), { title: "Account", caller, flash: { kind: "ok", message: "Password changed. Your other sessions were signed out." } }));
    });
}

export { cookieOf, SESSION_COOKIE };
