// Delivers queued webhook events: claims due deliveries, POSTs each signed, and records the outcome
// (2xx delivered; anything else retried with backoff until the attempts run out).
import { DbWebhookDeliveries, DEFAULT_CLAIM_LEASE_MS, WEBHOOK_SECRET_CONTEXT, type ClaimedDelivery } from "../adapters/db/webhook_repos.ts";
import type { Db } from "../adapters/db/orm.ts";
import type { Keyring } from "../domain/encryption/mod.ts";
import type { Clock } from "../domain/shared/mod.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signPayload } from "../domain/webhooks/mod.ts";

/** Milliseconds an endpoint has to answer. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Milliseconds between polls of the queue. */
export const WEBHOOK_POLL_INTERVAL_MS = 5_000;

/** Deliveries claimed per poll. */
const BATCH = 20;

/** What the sender needs. */
export interface WebhookSenderDeps {
  db: Db;
  keyring: Keyring;
  clock: Clock;
  intervalMs?: number;
  timeoutMs?: number;
  /** Told about failures of the sender itself (not of endpoints), e.g. a database outage. */
  onError?: (error: unknown) => void;
}

/** A running sender. */
export interface WebhookSender {
  /** Sends every delivery due now; resolves to the number of attempts made. */
  runOnce(): Promise<number>;
  /** Stops polling and waits for the run in progress. */
  stop(): Promise<void>;
}

function describeError(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `No answer within ${timeoutMs / 1000} seconds.`;
  return `Request failed: ${String(e?.message ?? error)}`;
}

/** Starts polling the delivery queue every `intervalMs` (0 = never; call runOnce yourself). */
export function startWebhookSender(deps: WebhookSenderDeps): WebhookSender {
  const deliveries = new DbWebhookDeliveries(deps.db);
  const timeoutMs = deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const intervalMs = deps.intervalMs ?? WEBHOOK_POLL_INTERVAL_MS;
  let running: Promise<number> | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;

  async function send(delivery: ClaimedDelivery): Promise<void> {
    let statusCode: number | null = null;
    let error: string;
    try {
      const secret = await deps.keyring.open(delivery.secretSealed, WEBHOOK_SECRET_CONTEXT);
      const body = JSON.stringify(delivery.payload);
      const signature = await signPayload(secret, deps.clock.now(), body);
      const response = await fetch(delivery.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          [SIGNATURE_HEADER]: signature,
          [EVENT_ID_HEADER]: delivery.eventId,
          "User-Agent": "Chatello-Webhooks/1",
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      statusCode = response.status;
      // The receiver's words are not kept: only whether it accepted the event.
      await response.body?.cancel().catch(() => {});
      if (statusCode >= 200 && statusCode < 300) {
        await deliveries.markDelivered(delivery, statusCode, deps.clock.now());
        return;
      }
      error = `HTTP ${statusCode}`;
    } catch (caught) {
      error = describeError(caught, timeoutMs);
    }
    await deliveries.markFailed(delivery, { statusCode, error }, deps.clock.now());
  }

  async function run(): Promise<number> {
    const claimed = await deliveries.claimDue(deps.clock.now(), BATCH, Math.max(DEFAULT_CLAIM_LEASE_MS, timeoutMs * 3));
    await Promise.all(claimed.map((d) => send(d).catch((error) => deps.onError?.(error))));
    return claimed.length;
  }

  function runOnce(): Promise<number> {
    // One run at a time per process; a second caller shares the run in progress.
    running ??= run().finally(() => {
      running = null;
    });
    return running;
  }

  function schedule(): void {
    if (stopped || intervalMs <= 0) return;
    timer = setTimeout(async () => {
      try {
        // A full batch may mean more is due: keep going until the queue is drained.
        while (!stopped && (await runOnce()) >= BATCH);
      } catch (error) {
        deps.onError?.(error);
      }
      schedule();
    }, intervalMs);
  }

  schedule();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
