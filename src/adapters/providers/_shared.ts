/** What both provider adapters share: options, per-attempt cancellation, bounded retries and usage helpers. */

import { type ProviderCall, ProviderError } from "../../domain/chat/mod.ts";

/** Tuning of the provider adapters; every field has a production default. */
export interface ProviderOptions {
  /** Extra attempts after the first on 429, 5xx and network errors (default 2). */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter (default 250 ms). */
  retryBaseDelayMs?: number;
  /** Longest `retry-after` the adapters wait for; a longer one ends the retries (default 5 s). */
  maxRetryAfterMs?: number;
  /** The fetch used for every upstream request (tests inject failures through it). */
  fetch?: typeof fetch;
}

/** Retry settings with the defaults filled in. */
export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  maxRetryAfterMs: number;
}

/** Fills in the defaults of `ProviderOptions`' retry fields. */
export function retryPolicyOf(options: ProviderOptions): RetryPolicy {
  return {
    maxRetries: Math.max(0, Math.floor(options.maxRetries ?? 2)),
    baseDelayMs: Math.max(0, options.retryBaseDelayMs ?? 250),
    maxRetryAfterMs: Math.max(0, options.maxRetryAfterMs ?? 5_000),
  };
}

// The server's requested wait travels beside the error so the public message stays free of upstream text.
const retryAfterByError = new WeakMap<ProviderError, number>();

/** An HTTP failure of `provider`; the message names only the provider and the status. */
export function httpError(provider: string, status: number, headers?: Headers | null): ProviderError {
  const error = new ProviderError("http", `${provider} answered HTTP ${status}`, status);
  const retryAfter = headers ? parseRetryAfter(headers) : null;
  if (retryAfter !== null) retryAfterByError.set(error, retryAfter);
  return error;
}

/** Reads `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date) as milliseconds; null when absent. */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | null {
  const millis = headers.get("retry-after-ms");
  if (millis !== null && millis.trim() !== "" && Number.isFinite(Number(millis))) return Math.max(0, Number(millis));
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** 429, 5xx and connection failures are worth another attempt; timeouts, aborts and other statuses are not. */
function isRetryable(error: ProviderError): boolean {
  if (error.kind === "network") return true;
  return error.kind === "http" && error.status !== null && (error.status === 429 || error.status >= 500);
}

/**
 * Runs `attempt` until it succeeds, fails for good or the retries are used up. Only failures that happen before
 * anything was handed to the caller reach this loop, so a retry never repeats output the caller has seen.
 */
export async function withRetries<T>(
  call: ProviderCall,
  policy: RetryPolicy,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    if (call.signal?.aborted) throw abortedError(call.provider);
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ProviderError) || !isRetryable(error) || retry >= policy.maxRetries) throw error;
      const retryAfter = retryAfterByError.get(error);
      if (retryAfter !== undefined && retryAfter > policy.maxRetryAfterMs) throw error;
      // Exponential backoff with "equal jitter": half the delay is fixed, half random, to spread retry storms.
      const backoff = policy.baseDelayMs * 2 ** retry;
      const delay = Math.max(backoff / 2 + Math.random() * (backoff / 2), retryAfter ?? 0);
      await sleep(delay, call);
    }
  }
}

/** Waits `ms`, or throws "aborted" as soon as the caller's signal fires. */
function sleep(ms: number, call: ProviderCall): Promise<void> {
  const signal = call.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(call.provider));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(call.provider));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error for a call its caller cancelled. */
export function abortedError(provider: string): ProviderError {
  return new ProviderError("aborted", `${provider} call aborted`);
}

/**
 * One attempt's cancellation: the caller's signal and our own timer feed a single AbortController, and the
 * attempt remembers which of them fired so a failure can be named correctly whatever error fetch threw.
 */
export class AttemptControl {
  readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOut = false;
  private readonly onCallerAbort = () => this.controller.abort();

  constructor(private readonly call: ProviderCall) {
    call.signal?.addEventListener("abort", this.onCallerAbort, { once: true });
    if (call.signal?.aborted) this.controller.abort();
  }

  /** The signal to hand to fetch. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts (or restarts) the timeout: it covers the wait for headers, and for streams each wait for a chunk. */
  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.call.timeoutMs);
  }

  /** Stops the timeout while nothing is awaited from the upstream. */
  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Releases the timer and the listener on the caller's signal. */
  dispose(): void {
    this.disarm();
    this.call.signal?.removeEventListener("abort", this.onCallerAbort);
  }

  /** Closes the connection (a consumer stopped early, or the attempt failed). */
  abort(): void {
    this.controller.abort();
  }

  /** The timeout or abort that ended this attempt, if one did. */
  cancellation(): ProviderError | null {
    if (this.call.signal?.aborted) return abortedError(this.call.provider);
    if (this.timedOut) return timeoutError(this.call);
    return null;
  }

  /** Names any failure of this attempt: our timeout or the caller's abort first, else `fallback`. */
  failure(fallback: () => ProviderError): ProviderError {
    return this.cancellation() ?? fallback();
  }
}

/** The error for an upstream that took longer than the call's timeout. */
export function timeoutError(call: ProviderCall): ProviderError {
  return new ProviderError("timeout", `${call.provider} timed out after ${call.timeoutMs} ms`);
}

/** A connection that failed or broke off; `what` says when (never the upstream's own text). */
export function networkError(provider: string, what = "unreachable"): ProviderError {
  return new ProviderError("network", `${provider} ${what}`);
}

/** True for a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Most tokens one usage field of one call may count. Real calls stay far below (the largest context windows
 * are a few million tokens); a provider (or a proxy in front of it) reporting more is clamped, so the sum of
 * a call's fields (Anthropic adds three) still fits the usage event's 32-bit integer columns instead of
 * failing the write that records the call.
 */
export const MAX_REPORTED_TOKENS = 10_000_000;

/** A whole, non-negative token count at most MAX_REPORTED_TOKENS, or null when the field is missing or not a number. */
export function count(value: unknown): number | null {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return null;
  return Math.min(Math.floor(value), MAX_REPORTED_TOKENS);
}

/** Milliseconds since `start` (a `performance.now()` reading), rounded. */
export function elapsedSince(start: number): number {
  return Math.round(performance.now() - start);
}
