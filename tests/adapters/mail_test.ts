// Customer mail: the templates (escaping, where the full key appears), the outbox's dedupe, and the SMTP
// sender against a real SMTP server on 127.0.0.1 — delivery, backoff while the server is down, and
// exactly one delivery once it is back.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { DbOutbox } from "../../src/adapters/db/outbox_repo.ts";
import type { Db } from "../../src/adapters/db/orm.ts";
import { MAX_MAIL_ATTEMPTS, mailBackoffMs, startMailSender } from "../../src/adapters/mail/smtp_sender.ts";
import { renderMail, type MailKind, type OutboundMail } from "../../src/domain/mail/mod.ts";
import { TestClock } from "../support/app.ts";
import { testDb } from "../support/db.ts";

const KEY = "CHAT-ABCD-EFGH-IJKL-MNOP";
const DATA = {
  customerName: `Eve <script>alert("x")</script> & Co`,
  licenseKey: KEY,
  keyPrefix: "CHAT-ABCD",
  planName: "Pro <b>",
  expiresAt: new Date("2027-01-31T00:00:00Z"),
  usagePercent: 80,
  publicUrl: "https://licenses.example.com/?a=1&b=\"2\"",
};
const KINDS: MailKind[] = ["license_delivered", "license_expiring", "license_expired", "license_suspended", "quota_80", "quota_100"];

describe("renderMail", () => {
  test("renderMail puts the full key in the delivery mail, in text and HTML", () => {
    const mail = renderMail("license_delivered", DATA);
    expect(mail.subject).toContain("Pro <b>");
    expect(mail.text).toContain(KEY);
    expect(mail.html).toContain(KEY);
    expect(mail.text).toContain("2027-01-31");
    expect(mail.text).toContain(`Hello Eve <script>alert("x")</script> & Co,`);
  });

  test("renderMail names the license only by its prefix in every other mail", () => {
    for (const kind of KINDS.filter((k) => k !== "license_delivered")) {
      const mail = renderMail(kind, DATA);
      expect(mail.subject.length).toBeGreaterThan(0);
      expect(mail.text).not.toContain(KEY);
      expect(mail.html).not.toContain(KEY);
      expect(mail.text).toContain("CHAT-ABCD");
    }
    expect(renderMail("quota_80", DATA).text).toContain("80%");
    expect(renderMail("quota_100", { ...DATA, usagePercent: 100 }).subject).toContain("used up");
    expect(renderMail("license_expiring", DATA).subject).toContain("2027-01-31");
  });

  test("renderMail escapes every interpolated value in the HTML part", () => {
    for (const kind of KINDS) {
      const { html } = renderMail(kind, DATA);
      expect(html).not.toContain("<script>");
      expect(html).not.toContain("<b>");
      expect(html).toContain("Eve &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co");
      expect(html).toContain('href="https://licenses.example.com/?a=1&amp;b=&quot;2&quot;"');
    }
  });
});

function mail(dedupeKey: string, kind: MailKind = "license_delivered"): OutboundMail {
  return { dedupeKey, kind, to: "eve@example.com", ...renderMail(kind, DATA) };
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives. */
async function smtpServer(port = 0): Promise<{ port: number; received: Array<{ to: string[]; raw: string }>; close(): Promise<void> }> {
  const received: Array<{ to: string[]; raw: string }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("utf8") });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return { port: address.port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A message body as sent, with quoted-printable soft line breaks undone. */
function unfold(raw: string): string {
  return raw.replace(/=\r?\n/g, "").replace(/=3D/g, "=");
}

describe("mail outbox and SMTP sender", () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: TestClock;

  beforeAll(async () => {
    ({ db, cleanup } = await testDb());
  });
  afterAll(async () => cleanup());
  beforeEach(async () => {
    clock = new TestClock();
    await db.orm.em.fork().getConnection().execute("delete from mail_outbox", [], "run");
  });

  test("enqueue stores a message once per dedupe key", async () => {
    const outbox = new DbOutbox(db, { smtpConfigured: true });
    expect(await outbox.enqueue(mail("delivered:license:1"), clock.now())).toBe(true);
    expect(await outbox.enqueue(mail("delivered:license:1"), clock.now())).toBe(false);
    expect(await outbox.enqueue(mail("delivered:license:2"), clock.now())).toBe(true);
    const listing = await outbox.listOutbox({ page: 1 });
    expect(listing.total).toBe(2);
    expect(listing.items.map((m) => m.dedupeKey)).toEqual(["delivered:license:2", "delivered:license:1"]);
    expect(listing.items.every((m) => m.status === "queued")).toBe(true);
  });

  test("enqueue without SMTP stores the message for the admin and the sender leaves it alone", async () => {
    const outbox = new DbOutbox(db);
    expect(await outbox.enqueue(mail("stored:1"), clock.now())).toBe(true);
    expect((await outbox.listOutbox({ status: "stored", page: 1 })).total).toBe(1);
    const sender = startMailSender({ db, smtpUrl: null, mailFrom: "Chatello <noreply@example.com>", clock, intervalMs: 0 });
    expect(await sender.runOnce()).toBe(0);
    await sender.stop();
    expect((await outbox.listOutbox({ page: 1 })).items[0].status).toBe("stored");
  });

  test("claimDue hands a due message to one caller only", async () => {
    const outbox = new DbOutbox(db, { smtpConfigured: true });
    await outbox.enqueue(mail("claim:1"), clock.now());
    const [first, second] = await Promise.all([outbox.claimDue(clock.now(), 10), outbox.claimDue(clock.now(), 10)]);
    expect(first.length + second.length).toBe(1);
    expect(await outbox.claimDue(clock.now(), 10)).toEqual([]);
  });

  test("the sender delivers the license mail with the right key over a real SMTP server", async () => {
    const smtp = await smtpServer();
    const logs: string[] = [];
    const logger = { info: (m: string, f?: object) => logs.push(m + JSON.stringify(f)), warn: (m: string, f?: object) => logs.push(m + JSON.stringify(f)), error: (m: string, f?: object) => logs.push(m + JSON.stringify(f)) };
    const outbox = new DbOutbox(db, { smtpConfigured: true });
    await outbox.enqueue(mail("delivered:license:7"), clock.now());
    const sender = startMailSender({ db, smtpUrl: `smtp://127.0.0.1:${smtp.port}`, mailFrom: "Chatello <noreply@example.com>", clock, logger, intervalMs: 0 });
    try {
      expect(await sender.runOnce()).toBe(1);
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0].to).toEqual(["eve@example.com"]);
      expect(unfold(smtp.received[0].raw)).toContain(KEY);
      const [message] = (await outbox.listOutbox({ page: 1 })).items;
      expect(message.status).toBe("sent");
      expect(message.sentAt?.toISOString()).toBe(clock.now().toISOString());
      clock.advance(24 * 3_600_000);
      expect(await sender.runOnce()).toBe(0);
      expect(smtp.received).toHaveLength(1);
      expect(logs.join("\n")).not.toContain(KEY);
    } finally {
      await sender.stop();
      await smtp.close();
    }
  });

  test("while SMTP is down the message stays queued with backoff, and is sent exactly once when it is back", async () => {
    // Find a free port, then leave nothing listening on it.
    const probe = await smtpServer();
    const port = probe.port;
    await probe.close();
    const outbox = new DbOutbox(db, { smtpConfigured: true });
    await outbox.enqueue(mail("delivered:license:8"), clock.now());
    const sender = startMailSender({ db, smtpUrl: `smtp://127.0.0.1:${port}`, mailFrom: "noreply@example.com", clock, intervalMs: 0 });
    let smtp: Awaited<ReturnType<typeof smtpServer>> | null = null;
    try {
      expect(await sender.runOnce()).toBe(0);
      let [message] = (await outbox.listOutbox({ page: 1 })).items;
      expect(message.status).toBe("queued");
      expect(message.attempts).toBe(1);
      expect(message.lastError).toBeTruthy();
      expect(message.nextAttemptAt.getTime()).toBe(clock.now().getTime() + mailBackoffMs(1));

      // Not due yet: nothing is tried.
      expect(await sender.runOnce()).toBe(0);
      expect((await outbox.get(message.id))!.attempts).toBe(1);

      clock.advance(mailBackoffMs(1) + 1);
      expect(await sender.runOnce()).toBe(0);
      message = (await outbox.get(message.id))!;
      expect(message.attempts).toBe(2);
      expect(message.nextAttemptAt.getTime()).toBe(clock.now().getTime() + mailBackoffMs(2));

      smtp = await smtpServer(port);
      expect(await sender.runOnce()).toBe(0); // still waiting for its next attempt
      clock.advance(mailBackoffMs(2) + 1);
      expect(await sender.runOnce()).toBe(1);
      clock.advance(24 * 3_600_000);
      expect(await sender.runOnce()).toBe(0);
      expect(smtp.received).toHaveLength(1);
      expect(unfold(smtp.received[0].raw)).toContain(KEY);
      message = (await outbox.get(message.id))!;
      expect(message.status).toBe("sent");
      expect(message.attempts).toBe(3);
    } finally {
      await sender.stop();
      await smtp?.close();
    }
  });

  test("the sender gives up after the last attempt", async () => {
    const probe = await smtpServer();
    await probe.close();
    const outbox = new DbOutbox(db, { smtpConfigured: true });
    await outbox.enqueue(mail("delivered:license:9"), clock.now());
    const sender = startMailSender({ db, smtpUrl: `smtp://127.0.0.1:${probe.port}`, mailFrom: "noreply@example.com", clock, intervalMs: 0 });
    try {
      for (let i = 0; i < MAX_MAIL_ATTEMPTS; i++) {
        await sender.runOnce();
        clock.advance(7 * 3_600_000);
      }
      const [message] = (await outbox.listOutbox({ page: 1 })).items;
      expect(message.status).toBe("failed");
      expect(message.attempts).toBe(MAX_MAIL_ATTEMPTS);
      expect(await outbox.claimDue(clock.now(), 10)).toEqual([]);
    } finally {
      await sender.stop();
    }
  });
});
