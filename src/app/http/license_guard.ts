// Authenticates X-License-Key for the plugin routes and throttles clients that keep sending bad keys.
import type { Actor } from "../../domain/admin/mod.ts";
import { authenticateLicense, type License, type Licenses, type ValidationReads } from "../../domain/licensing/mod.ts";
import type { Plan, Plans } from "../../domain/plans/mod.ts";
import { retryAfterSeconds, type Clock, type Throttle, type ThrottlePolicy } from "../../domain/shared/mod.ts";
import { monthStart } from "../../domain/usage/mod.ts";
import { errorBody } from "./errors.ts";

/** Unknown or malformed keys tolerated per client address before it is refused for a while. */
export const INVALID_KEY_POLICY: ThrottlePolicy = { limit: 20, windowMs: 10 * 60 * 1000 };

/** Paths that authenticate with X-License-Key (checked before the body, as the contract orders it). */
export function requiresLicense(path: string): boolean {
  return /^\/(api\/(validate|activate|deactivate|usage|limits|chat|keys)(\/|$)|v1\/)/.test(path);
}

/** The key a caller sent: X-License-Key, or a bearer token (how OpenAI SDKs send their API key on /v1). */
export function licenseKeyOf(request: Request): string | null {
  const header = request.headers.get("x-license-key");
  if (header != null) return header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match ? match[1] : null;
}

/** A refused license: the error hook turns it into the contract's answer. */
export class LicenseDenied extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.code));
  }
}

/** The server side of a request, as far as the guard needs it. */
export type ServerLike = { requestIP(r: Request): { address: string } | null } | null;

/** An authenticated caller. */
export interface LicensedCaller {
  license: License;
  plan: Plan;
  actor: Actor;
  /** What /api/validate reads besides the license, when the store read it with the license. */
  validationReads?: ValidationReads;
}

interface GuardDeps {
  licenses: Licenses;
  plans: Plans;
  throttle: Throttle;
  clock: Clock;
  clientIpOf(request: Request, server: ServerLike): string;
  /** A synchronous license-key digest (see authenticateLicense). */
  digestKey?: (normalizedKey: string) => string;
}

/**
 * Builds the license guard. The count of bad keys lives in the shared database (every instance sees it);
 * this process only remembers which addresses it already found over the limit, so good traffic never pays
 * an extra query.
 */
export function createLicenseGuard(deps: GuardDeps) {
  const blocked = new Map<string, number>();
  const callers = new WeakMap<Request, LicensedCaller>();

  function tooMany(resetAt: Date, now: Date): LicenseDenied {
    return new LicenseDenied(
      429,
      errorBody("Too many invalid license keys from this address, try again later", "too_many_invalid_keys", {
        reset_time: resetAt.toISOString(),
      }),
      { "retry-after": String(retryAfterSeconds(resetAt, now)) },
    );
  }

  /**
   * Authenticates the request or throws LicenseDenied with the contract's 401 (or 429 when throttled). With
   * `forValidation`, the license's sites and month usage are read with it (see authenticateLicense).
   */
  async function authenticate(request: Request, server: ServerLike, options: { forValidation?: boolean } = {}): Promise<LicensedCaller> {
    const now = deps.clock.now();
    const ip = deps.clientIpOf(request, server);
    const until = blocked.get(ip);
    if (until != null) {
      if (until > now.getTime()) throw tooMany(new Date(until), now);
      blocked.delete(ip);
    }
    const auth = await authenticateLicense(deps, licenseKeyOf(request), options.forValidation ? { validationMonth: monthStart(now) } : {});
    switch (auth.kind) {
      case "ok": {
        const caller: LicensedCaller = {
          license: auth.license,
          plan: auth.plan,
          actor: { type: "license", id: String(auth.license.id), label: auth.license.keyPrefix, clientIp: ip },
          validationReads: auth.validationReads,
        };
        callers.set(request, caller);
        return caller;
      }
      case "missing":
        throw new LicenseDenied(401, errorBody("License key required", "license_missing"));
      case "inactive":
        throw new LicenseDenied(401, errorBody("Invalid or inactive license", "license_inactive", { status: auth.status }));
      case "expired":
        throw new LicenseDenied(401, errorBody("License expired", "license_expired", { expires_at: auth.expiresAt.toISOString() }));
      case "invalid": {
        const state = await deps.throttle.hit(`invalid_key:${ip}`, INVALID_KEY_POLICY.windowMs, now);
        if (state.hits > INVALID_KEY_POLICY.limit) {
          if (blocked.size > 10_000) blocked.clear();
          blocked.set(ip, state.resetAt.getTime());
          throw tooMany(state.resetAt, now);
        }
        throw new LicenseDenied(401, errorBody("Invalid or inactive license", "license_invalid", { status: null }));
      }
    }
  }

  /** The caller authenticated for this request by `authenticate` (routes run only after it succeeded). */
  function licenseOf(request: Request): LicensedCaller {
    const caller = callers.get(request);
    if (!caller) throw new Error("license guard did not run for this route");
    return caller;
  }

  /** The caller of a request if it authenticated, else undefined (for the request log of any route). */
  function callerOf(request: Request): LicensedCaller | undefined {
    return callers.get(request);
  }

  return { authenticate, licenseOf, callerOf };
}
