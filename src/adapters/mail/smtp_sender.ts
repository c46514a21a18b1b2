// Delivers the outbox over SMTP: claims due messages (so no other instance sends them too), sends each,
// and on failure leaves it queued with exponential backoff until it is given up on.
import type { Keyring } from "../../domain/encryption/mod.ts";
import type { Clock } from "../../domain/shared/mod.ts";
import { DbOutbox } from "../db/outbox_repo.ts";
import type { Db } from "../db/orm.ts";

/** The few logger methods the sender uses (structurally the app's Logger). */
export interface MailSenderLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What the sender needs; `smtpUrl: null` means no SMTP (messages are stored, nothing is sent). */
export interface MailSenderDeps {
  db: Db;
  /** Opens the sealed mail bodies (the service's outbox seals them). */
  keyring?: Keyring;
  smtpUrl: string | null;
  mailFrom: string;
  clock: Clock;
  logger?: MailSenderLogger;
  /** Poll interval; 0 disables the timer (tests call runOnce). Default 30 s. */
  intervalMs?: number;
  /** Messages per run. Default 20. */
  batchSize?: number;
}

/** A running sender. */
export interface MailSender {
  /** Sends the due messages once; returns how many were sent. */
  runOnce(): Promise<number>;
  /** Stops polling, waits for a run in progress and closes the SMTP connection. */
  stop(): Promise<void>;
}

/** Attempts after which a message is marked failed. */
export const MAX_MAIL_ATTEMPTS = 8;

// Longer than the worst-case SMTP exchange below, so a claim never lapses while its message is in flight.
const CLAIM_MS = 10 * 60_000;
const BASE_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 6 * 3_600_000;

/** The wait before the next try after `attempts` failed ones: 1 min, 2, 4 … capped at 6 h. */
export function mailBackoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
}

function describe(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  const parts = [e?.code, e?.responseCode, e?.message ?? String(error)].filter((p) => p != null && p !== "");
  return parts.join(" ").slice(0, 255);
}

/** Starts polling the outbox (unless `intervalMs` is 0 or there is no SMTP URL). */
export function startMailSender(deps: MailSenderDeps): MailSender {
  const outbox = new DbOutbox(deps.db, { smtpConfigured: deps.smtpUrl != null, keyring: deps.keyring });
  // nodemailer (several MB) is loaded only when SMTP is configured.
  const smtpUrl = deps.smtpUrl;
  const transport = smtpUrl
    ? import("nodemailer").then(({ default: nodemailer }) =>
        nodemailer.createTransport({ url: smtpUrl, connectionTimeout: 30_000, greetingTimeout: 30_000, socketTimeout: 120_000 }),
      )
    : null;
  const batchSize = deps.batchSize ?? 20;
  let running: Promise<number> | null = null;
  let stopped = false;

  async function sendDue(): Promise<number> {
    if (!transport) return 0;
    const smtp = await transport;
    const now = deps.clock.now();
    const due = await outbox.claimDue(now, batchSize, new Date(now.getTime() + CLAIM_MS));
    let sent = 0;
    for (const message of due) {
      try {
        await smtp.sendMail({ from: deps.mailFrom, to: message.to, subject: message.subject, text: message.text, html: message.html });
      } catch (error) {
        const attempts = message.attempts + 1;
        const giveUp = attempts >= MAX_MAIL_ATTEMPTS;
        const next = giveUp ? null : new Date(deps.clock.now().getTime() + mailBackoffMs(attempts));
        await outbox.markFailed(message.id, describe(error), next);
        // Id, kind and the error only: bodies carry license keys.
        (giveUp ? deps.logger?.error : deps.logger?.warn)?.call(deps.logger, giveUp ? "mail given up" : "mail send failed", {
          outboxId: message.id,
          kind: message.kind,
          attempts,
          error: describe(error),
        });
        continue;
      }
      await outbox.markSent(message.id, deps.clock.now());
      sent++;
      deps.logger?.info("mail sent", { outboxId: message.id, kind: message.kind });
    }
    return sent;
  }

  function runOnce(): Promise<number> {
    // One run at a time per instance; a second caller shares the run in progress.
    if (!running) running = sendDue().finally(() => (running = null));
    return running;
  }

  const intervalMs = deps.intervalMs ?? 30_000;
  const timer =
    transport && intervalMs > 0
      ? setInterval(() => {
          if (stopped) return;
          runOnce().catch((error) => deps.logger?.error("mail sender run failed", { error: describe(error) }));
        }, intervalMs)
      : null;

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running?.catch(() => 0);
      (await transport)?.close();
    },
  };
}
