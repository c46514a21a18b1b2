// The caller's address: the socket peer, or, behind a trusted proxy, the entry that proxy appended.

/** Proxy trust: how many reverse proxies in front of the service append to X-Forwarded-For. */
export interface ProxyTrust {
  enabled: boolean;
  hops: number;
}

/**
 * Picks the client address. Without a trusted proxy the header is ignored (anyone can forge it); with N
 * trusted hops the N-th address from the right is the one the outermost trusted proxy saw.
 */
export function clientIp(request: Request, socketAddress: string | null | undefined, trust: ProxyTrust): string {
  if (trust.enabled) {
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded) {
      const chain = forwarded.split(",").map((s) => s.trim()).filter(Boolean);
      const pick = chain[Math.max(0, chain.length - Math.max(1, trust.hops))];
      if (pick) return pick.slice(0, 64);
    }
  }
  return (socketAddress ?? "unknown").replace(/^::ffff:/, "").slice(0, 64);
}
