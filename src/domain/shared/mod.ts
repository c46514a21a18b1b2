/** Shared kernel of the domain: errors with stable codes and the ports for time and randomness. */

/** Stable codes of broken invariants and not-found/forbidden outcomes; the edge maps them to HTTP statuses. */
export type DomainErrorCode =
  | "not_found"
  | "invalid_argument"
  | "conflict"
  | "forbidden"
  | "limit_reached"
  | "decryption_failed";

/** The one exception family of the domain; `code` is stable, `message` is safe to show. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/** Port: the current time, injected so rules stay deterministic under test. */
export interface Clock {
  now(): Date;
}

/** Port: a cryptographically secure source of random bytes. */
export interface Random {
  bytes(length: number): Uint8Array;
}

/** The outcome of counting one hit against a fixed window shared by every instance. */
export interface ThrottleState {
  hits: number;
  resetAt: Date;
}

/** Port: fixed-window counters kept in the shared database (never in process memory alone). */
export interface Throttle {
  hit(bucket: string, windowMs: number, now: Date): Promise<ThrottleState>;
  peek(bucket: string, now: Date): Promise<ThrottleState | null>;
}

/** A fixed-window limit: at most `limit` hits per `windowMs`. */
export interface ThrottlePolicy {
  limit: number;
  windowMs: number;
}

/**
 * Compares two secrets (signatures, CSRF tokens) in time that depends only on their lengths, not on where
 * they first differ. The one such helper of the domain: it may not import node:crypto or @oslojs.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

/** Seconds to tell a throttled client in `Retry-After` (at least 1). */
export function retryAfterSeconds(resetAt: Date, now: Date): number {
  return Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
}
