// One table from domain error codes to HTTP statuses, and the contract's error body.
import { DomainError, type DomainErrorCode } from "../../domain/shared/mod.ts";

/** The contract's error body: a human message, a stable code, and any extra keys. */
export function errorBody(error: string, code: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { error, code, ...extra };
}

const STATUS_OF: Record<DomainErrorCode, number> = {
  not_found: 404,
  invalid_argument: 422,
  conflict: 409,
  forbidden: 403,
  limit_reached: 409,
  decryption_failed: 500,
};

/** Maps a domain error to its status and body; invalid arguments keep the contract's `invalid_request` code. */
export function domainErrorResponse(error: DomainError): { status: number; body: Record<string, unknown> } {
  const status = STATUS_OF[error.code];
  if (status === 500) return { status, body: errorBody("Internal server error", "internal_error") };
  const code = error.code === "invalid_argument" ? "invalid_request" : error.code;
  return { status, body: errorBody(error.message, code, error.details) };
}

/** Seconds a client is asked to wait (Retry-After) while the database cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * The answer while the database cannot be reached: 503, the contract's error body and a Retry-After, so
 * plugins back off and retry rather than treat it as a broken license or a bug.
 */
export function unavailableResponse(): { status: number; body: Record<string, unknown>; headers: Record<string, string> } {
  return {
    status: 503,
    body: errorBody("Service temporarily unavailable, try again shortly", "service_unavailable"),
    headers: { "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
  };
}

/** A JSON response with the given status (headers set by the global hooks are added later). */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}
