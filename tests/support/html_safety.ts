// What stored hostile text must never become in an admin page: markup that runs script. Shared by the HTTP
// and browser XSS tests.
import { decodeEntities } from "./admin_probe.ts";

/** Markup a stored value could have turned into: scripts, handlers, javascript: URLs, htmx attributes. */
export function dangerousMarkup(html: string): string[] {
  const found: string[] = [];
  if (html.includes("<script>alert(1)")) found.push("raw <script>alert(1)");
  for (const tag of html.matchAll(/<([a-zA-Z][\w:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*\/?>/g)) {
    const name = tag[1].toLowerCase();
    const attributes = [...tag[2].matchAll(/([^\s=>/]+)(?:\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+)))?/g)].map((a) => ({
      name: a[1].toLowerCase(),
      value: decodeEntities(a[3] ?? a[4] ?? a[5] ?? ""),
    }));
    const src = attributes.find((a) => a.name === "src")?.value ?? "";
    if (name === "script" && !/^\/admin\/assets\/[\w.-]+\.js$/.test(src)) found.push(`<script src="${src}">`);
    if (["iframe", "object", "embed", "base", "frame"].includes(name)) found.push(`<${name}>`);
    if (name === "img" && src === "x") found.push("<img src=x>");
    if (name === "svg" && attributes.some((a) => a.name === "onload")) found.push("<svg onload>");
    for (const a of attributes) {
      if (a.name.startsWith("on") || a.name.startsWith("hx-on") || a.name === "srcdoc" || a.name === "formaction") found.push(`<${name} ${a.name}=…>`);
      if (/^(href|src|action|xlink:href|data|hx-(get|post|put|patch|delete))$/.test(a.name) && /^\s*(javascript|vbscript|data):/i.test(a.value)) found.push(`<${name} ${a.name}="${a.value.slice(0, 40)}">`);
      if (a.name === "hx-get" && a.value === "/admin/logout") found.push(`<${name} hx-get="/admin/logout">`);
      if (a.name === "hx-trigger" && a.value === "load") found.push(`<${name} hx-trigger="load">`);
    }
  }
  return found;
}
