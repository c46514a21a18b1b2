// Server-rendered admin HTML: Mustache templates from templates/ (embedded in the binary as text), always
// escaped with {{ }}; the layout carries the navigation, the CSRF meta tag and the flash message.
import Mustache from "mustache";
import layoutTemplate from "../../../../templates/layout.html" with { type: "text" };
import type { AdminCaller } from "./admin_guard.ts";

const LAYOUT = layoutTemplate as unknown as string;

/** The sections of the admin, in navigation order. */
export const NAV = [
  { key: "dashboard", href: "/admin", label: "Dashboard" },
  { key: "customers", href: "/admin/customers", label: "Customers" },
  { key: "licenses", href: "/admin/licenses", label: "Licenses" },
  { key: "plans", href: "/admin/plans", label: "Plans" },
  { key: "providers", href: "/admin/providers", label: "Provider keys" },
  { key: "analytics", href: "/admin/analytics", label: "Analytics" },
  { key: "bulk", href: "/admin/bulk", label: "Import/Export" },
  { key: "payments", href: "/admin/payments", label: "Payments" },
  { key: "outbox", href: "/admin/outbox", label: "Outbox" },
  { key: "webhooks", href: "/admin/webhooks", label: "Webhooks" },
  { key: "jobs", href: "/admin/jobs", label: "Jobs" },
  { key: "audit", href: "/admin/audit", label: "Audit log" },
] as const;

/** A template imported `with { type: "text" }` (Bun's types call .html imports bundles; the value is text). */
export function templateText(imported: unknown): string {
  return imported as string;
}

/** Renders a fragment (an htmx-swapped region or a page body). */
export function fragment(template: string, view: Record<string, unknown>, partials: Record<string, string> = {}): string {
  return Mustache.render(template, view, partials);
}

/** Renders a full page inside the layout. */
export function page(
  template: string,
  view: Record<string, unknown>,
  options: { title: string; section?: string; caller?: AdminCaller | null; flash?: { kind: string; message: string } | null; partials?: Record<string, string> },
): string {
  const caller = options.caller ?? null;
  const body = fragment(template, { ...view, csrf: caller?.csrf ?? "", user: caller?.user ?? null }, options.partials);
  return Mustache.render(LAYOUT, {
    title: options.title,
    csrf: caller?.csrf ?? "",
    user: caller?.user ?? null,
    nav: NAV.map((n) => ({ ...n, active: n.key === options.section })),
    flash: options.flash ?? null,
    body,
  });
}

/** An HTML answer. */
export function html(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", ...headers } });
}

/** A redirect after a POST (303), or for htmx an HX-Redirect so the whole page follows. */
export function redirect(request: Request, location: string): Response {
  if (request.headers.get("hx-request")) return new Response(null, { status: 204, headers: { "hx-redirect": location } });
  return new Response(null, { status: 303, headers: { location } });
}

/** Only same-site relative paths are followed after sign-in (no open redirect). */
export function safeNext(next: unknown): string {
  return typeof next === "string" && /^\/admin(\/[^\s\\]*)?$/.test(next) && !next.startsWith("//") ? next : "/admin";
}

/** A form field as trimmed text ("" when absent). */
export function field(body: unknown, name: string): string {
  const value = body && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === "string" ? value.trim() : "";
}

/** An AI cost in EUR: micro-euro precision as the contract keeps it, trailing zeros trimmed (at least cents). */
export function formatCostEur(value: number): string {
  const fixed = (Math.round(value * 1e6) / 1e6).toFixed(6).replace(/0{1,4}$/, "");
  return `€${fixed}`;
}
