// The mail outbox in the shared database: messages are enqueued once per dedupe key, claimed by one
// sender instance at a time, and kept afterwards so the admin can read what was sent.
import { parseSealed, type Keyring, type SealedSecret, type SecretStore } from "../../domain/encryption/mod.ts";
import type { MailKind, OutboundMail, Outbox } from "../../domain/mail/mod.ts";
import { affectedRows, isUniqueViolation, sqlDate, rawQuery } from "./_support.ts";
import type { Db } from "./orm.ts";
import { MailOutboxRow } from "./schema.ts";

/** Where a message is: waiting to be sent, sent, given up on, or kept because no SMTP server is configured. */
export type OutboxStatus = "queued" | "sent" | "failed" | "stored";

/** The statuses, for filters. */
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ["queued", "sent", "failed", "stored"];

/** One message of the outbox as the sender and the admin see it. */
export interface OutboxMessage {
  id: number;
  dedupeKey: string;
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/** A page of the outbox listing, newest first. */
export interface OutboxPage {
  items: OutboxMessage[];
  total: number;
  page: number;
  pageSize: number;
}

type Row = {
  id: number;
  dedupeKey: string;
  kind: string;
  recipient: string;
  subject: string;
  textBody: string;
  htmlBody: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string | null;
  createdAt: Date;
  sentAt?: Date | null;
};

/**
 * The context a mail body is sealed under: its part and its message's dedupe key, so a body copied to
 * another message or part does not open.
 */
export function mailBodyContext(part: "text" | "html", dedupeKey: string): string {
  return `mail_${part}:${dedupeKey}`;
}

/** A stored body as written: sealed ones are opened (rows written before bodies were sealed are plain). */
async function openBody(keyring: Keyring | null, stored: string, part: "text" | "html", dedupeKey: string): Promise<string> {
  if (parseSealed(stored) === null) return stored;
  if (!keyring) throw new Error("this outbox has no keyring to open sealed mail bodies");
  return keyring.open(stored, mailBodyContext(part, dedupeKey));
}

async function toMessage(row: Row, keyring: Keyring | null): Promise<OutboxMessage> {
  const [text, html] = await Promise.all([openBody(keyring, row.textBody, "text", row.dedupeKey), openBody(keyring, row.htmlBody, "html", row.dedupeKey)]);
  return {
    id: row.id,
    dedupeKey: row.dedupeKey,
    kind: row.kind as MailKind,
    to: row.recipient,
    subject: row.subject,
    text,
    html,
    status: row.status as OutboxStatus,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastError: row.lastError ?? null,
    createdAt: row.createdAt,
    sentAt: row.sentAt ?? null,
  };
}

/**
 * The outbox over `mail_outbox`. With `smtpConfigured: false` (the embedded default) new messages are
 * stored rather than queued: nothing is lost, and the admin shows them. With a `keyring` the bodies are
 * sealed at rest: a delivery mail carries a full license key, which a database dump must not show.
 */
export class DbOutbox implements Outbox {
  private readonly smtpConfigured: boolean;
  private readonly keyring: Keyring | null;

  constructor(
    private readonly db: Db,
    options: { smtpConfigured?: boolean; keyring?: Keyring } = {},
  ) {
    this.smtpConfigured = options.smtpConfigured ?? false;
    this.keyring = options.keyring ?? null;
  }

  private seal(body: string, part: "text" | "html", dedupeKey: string): Promise<string> | string {
    return this.keyring ? this.keyring.seal(body, mailBodyContext(part, dedupeKey)) : body;
  }

  async enqueue(mail: OutboundMail, now: Date): Promise<boolean> {
    const em = this.db.orm.em.fork();
    em.create(MailOutboxRow, {
      dedupeKey: mail.dedupeKey,
      kind: mail.kind,
      recipient: mail.to,
      subject: mail.subject.slice(0, 255),
      textBody: await this.seal(mail.text, "text", mail.dedupeKey),
      htmlBody: await this.seal(mail.html, "html", mail.dedupeKey),
      status: this.smtpConfigured ? "queued" : "stored",
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
      createdAt: now,
      sentAt: null,
    });
    try {
      await em.flush();
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** One message, or null. */
  async get(id: number): Promise<OutboxMessage | null> {
    const row = await this.db.orm.em.fork().findOne(MailOutboxRow, { id });
    return row ? toMessage(row as Row, this.keyring) : null;
  }

  /** Messages newest first, optionally of one status. */
  async listOutbox(filter: { status?: OutboxStatus; page: number; pageSize?: number }): Promise<OutboxPage> {
    const pageSize = Math.max(1, Math.min(200, Math.floor(filter.pageSize ?? 25)));
    const page = Math.max(1, Math.floor(filter.page) || 1);
    const where = filter.status ? { status: filter.status } : {};
    const [rows, total] = await this.db.orm.em
      .fork()
      .findAndCount(MailOutboxRow, where, { orderBy: { id: "desc" }, limit: pageSize, offset: (page - 1) * pageSize });
    return { items: await Promise.all(rows.map((row) => toMessage(row as Row, this.keyring))), total, page, pageSize };
  }

  /**
   * Claims up to `limit` queued messages that are due, by moving their nextAttemptAt to `leaseUntil` in
   * a conditional update, so another instance polling meanwhile skips them. A row whose update matched
   * nothing was taken by someone else first and is left out.
   */
  async claimDue(now: Date, limit: number, leaseUntil: Date = new Date(now.getTime() + 5 * 60_000)): Promise<OutboxMessage[]> {
    const candidates = await this.db.orm.em.fork().find(
      MailOutboxRow,
      { status: "queued", nextAttemptAt: { $lte: now } },
      { orderBy: { nextAttemptAt: "asc", id: "asc" }, limit: Math.max(1, Math.floor(limit)) },
    );
    const claimed: OutboxMessage[] = [];
    for (const row of candidates) {
      const result = await this.run(
        `update mail_outbox set next_attempt_at = ? where id = ? and status = 'queued' and next_attempt_at <= ?`,
        [sqlDate(this.db, leaseUntil), row.id, sqlDate(this.db, now)],
      );
      if (affectedRows(result) === 1) claimed.push({ ...(await toMessage(row as Row, this.keyring)), nextAttemptAt: leaseUntil });
    }
    return claimed;
  }

  /** Records a delivery. */
  async markSent(id: number, now: Date): Promise<void> {
    await this.run(
      `update mail_outbox set status = 'sent', sent_at = ?, last_error = null, attempts = attempts + 1 where id = ?`,
      [sqlDate(this.db, now), id],
    );
  }

  /**
   * Records a failed attempt: the message stays queued until `nextAttemptAt`, or is given up on
   * (status failed) when `nextAttemptAt` is null.
   */
  async markFailed(id: number, error: string, nextAttemptAt: Date | null): Promise<void> {
    const lastError = error.slice(0, 255);
    if (nextAttemptAt) {
      await this.run(
        `update mail_outbox set status = 'queued', attempts = attempts + 1, last_error = ?, next_attempt_at = ? where id = ?`,
        [lastError, sqlDate(this.db, nextAttemptAt), id],
      );
    } else {
      await this.run(`update mail_outbox set status = 'failed', attempts = attempts + 1, last_error = ? where id = ?`, [lastError, id]);
    }
  }

  private run(sql: string, params: unknown[]): Promise<unknown> {
    return rawQuery(this.db, sql, params, "run");
  }
}

/** Rotation stores over mail_outbox's sealed bodies (text and HTML); plain bodies of older rows are skipped. */
export function mailBodyStores(db: Db): SecretStore[] {
  return (["text", "html"] as const).map((part) => {
    const column = part === "text" ? "text_body" : "html_body";
    const field = part === "text" ? "textBody" : "htmlBody";
    return {
      count: () => db.orm.em.fork().count(MailOutboxRow, { [field]: { $like: "v1.%" } }),
      async listSealed(afterId: number, batch: number): Promise<SealedSecret[]> {
        const rows = await db.orm.em
          .fork()
          .find(MailOutboxRow, { id: { $gt: afterId }, [field]: { $like: "v1.%" } }, { orderBy: { id: "asc" }, limit: batch, fields: ["id", "dedupeKey", field] as never });
        return rows.map((r) => ({ table: `mail_outbox.${column}`, id: r.id, context: mailBodyContext(part, r.dedupeKey), sealed: (r as unknown as Record<string, string>)[field] }));
      },
      async replace(id: number, oldSealed: string, newSealed: string) {
        return (await db.orm.em.fork().nativeUpdate(MailOutboxRow, { id, [field]: oldSealed }, { [field]: newSealed })) > 0;
      },
    };
  });
}
