/** Site rules: which host a site URL names, which hosts take no seat, and whether a site may be activated. */
import type { SiteActivation } from "./_types.ts";

const MAX_HOST_LENGTH = 253;
// Anything longer is not a site URL a plugin would send; refuse before handing it to the URL parser.
const MAX_INPUT_LENGTH = 2048;
const SCHEME = /^([a-z][a-z0-9+.-]*):(.*)$/is;
// "shop.example.com:8080/x" also looks like "scheme:rest"; a port after the colon tells them apart.
const PORT_AFTER_COLON = /^\d*(?:[/?#].*)?$/s;
const DNS_HOST = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;

/** The host a site URL names (lowercase, punycode, no `www.`, port, trailing dot or path), or null when it names none. */
export function normalizeSiteHost(siteUrl: unknown): string | null {
  if (typeof siteUrl !== "string") return null;
  const input = siteUrl.trim();
  if (input === "" || input.length > MAX_INPUT_LENGTH || /\s/.test(input)) return null;

  let candidate: string;
  if (input.startsWith("//")) {
    candidate = `http:${input}`;
  } else if (input.includes("://")) {
    candidate = input;
  } else {
    const scheme = SCHEME.exec(input);
    // "javascript:…", "mailto:…" and friends are refused rather than read as a host.
    candidate = scheme !== null && !PORT_AFTER_COLON.test(scheme[2]) ? input : `http://${input}`;
  }

  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;

  // One trailing dot is the DNS root and names the same host; more leave an empty label, which no host has.
  // Stripping them all would let "0.." become "0", a host the URL parser then reads as 0.0.0.0.
  let host = url.hostname.toLowerCase().replace(/\.$/, "");
  // "www." is the same site; "www.com" itself is a real domain, so only strip when a domain remains.
  // Strip every leading "www." (not just one): the result must normalise to itself, or "www.www.shop.com"
  // would be stored as "www.shop.com", take a second seat beside "shop.com", and could not be released by
  // the stored host (releasing normalises again, to "shop.com").
  while (host.startsWith("www.") && host.slice(4).includes(".")) host = host.slice(4);

  if (host === "" || host.length > MAX_HOST_LENGTH || !/[a-z0-9]/.test(host)) return null;
  if (host.startsWith("[")) return host;
  return DNS_HOST.test(host) ? host : null;
}

/** True for local, staging and IP-literal hosts, which are recorded when activated but take no seat. */
export function isExemptHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/\.+$/, "");
  if (h === "") return false;
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h.endsWith(".local") || h.endsWith(".test")) return true;
  if (h.startsWith("staging.") || h.includes(".staging.")) return true;
  if (h.startsWith("dev.")) return true;
  return isIpLiteral(h);
}

/** Number of seats the sites take: exempt sites are free. */
export function seatsUsed(sites: SiteActivation[]): number {
  return sites.filter((site) => !site.exempt).length;
}

/** What activating `host` should do given the license's active sites; maxSites <= 0 means unlimited. */
export function decideActivation(input: {
  host: string;
  sites: SiteActivation[];
  maxSites: number;
}):
  | { kind: "already_active" }
  | { kind: "activate"; exempt: boolean }
  | { kind: "limit_reached"; limit: number; activeSites: string[] } {
  const { host, sites, maxSites } = input;
  // Plugins retry activation, so an already active host must be a no-op rather than a second seat.
  if (sites.some((site) => site.host === host)) return { kind: "already_active" };
  if (isExemptHost(host)) return { kind: "activate", exempt: true };
  if (maxSites <= 0 || seatsUsed(sites) < maxSites) return { kind: "activate", exempt: false };
  return {
    kind: "limit_reached",
    limit: maxSites,
    activeSites: sites.filter((site) => !site.exempt).map((site) => site.host),
  };
}

/** How validation sees `host`: activated or exempt, not activated but a seat is free, or no seat left. */
export function siteStateForValidation(input: {
  host: string;
  sites: SiteActivation[];
  maxSites: number;
}): "active" | "free_seat" | "not_activated" {
  const { host, sites, maxSites } = input;
  if (isExemptHost(host) || sites.some((site) => site.host === host)) return "active";
  if (maxSites <= 0 || seatsUsed(sites) < maxSites) return "free_seat";
  return "not_activated";
}

function isIpLiteral(host: string): boolean {
  if (host.startsWith("[") && host.endsWith("]")) return true;
  // A bare IPv6 address (no brackets) still has colons, which no DNS name can.
  if (host.includes(":")) return true;
  return IPV4.test(host) && host.split(".").every((octet) => Number(octet) <= 255);
}
