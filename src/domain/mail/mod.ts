/** Mail domain: the messages the service sends to customers, how they read, and the outbox port. */

/** The purposes a customer mail can have; one template each. */
export type MailKind =
  | "license_delivered"
  | "license_expiring"
  | "license_expired"
  | "license_suspended"
  | "quota_80"
  | "quota_100";

/** A rendered message ready for the outbox; `dedupeKey` names its purpose so it is sent at most once. */
export interface OutboundMail {
  dedupeKey: string;
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Port: the outbox; enqueue returns false when a message with that dedupeKey already exists (sent once). */
export interface Outbox {
  enqueue(mail: OutboundMail, now: Date): Promise<boolean>;
}

/** The values a mail template may show. */
export interface MailData {
  customerName: string;
  licenseKey?: string;
  keyPrefix?: string;
  planName: string;
  expiresAt?: Date | null;
  usagePercent?: number;
  publicUrl: string;
}

/** A rendered mail: subject, plain-text body and HTML body. */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** Escapes a value for HTML text and attribute positions. */
export function escapeMailHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function day(date: Date | null | undefined): string {
  return date ? date.toISOString().slice(0, 10) : "never";
}

// Mails other than the delivery one name the license by its prefix only: the full key is a secret.
function keyLabel(data: MailData): string {
  return data.keyPrefix ? `${data.keyPrefix}…` : "your license";
}

type Line = string;

function body(kind: MailKind, data: MailData): { subject: string; lines: Line[] } {
  const plan = data.planName;
  const key = keyLabel(data);
  switch (kind) {
    case "license_delivered":
      return {
        subject: `Your Chatello license (${plan})`,
        lines: [
          `Thank you for choosing Chatello. Your ${plan} license key is:`,
          data.licenseKey ?? "",
          `${data.expiresAt ? `It is valid until ${day(data.expiresAt)}.` : "It does not expire."} Enter it in the Chatello plugin settings to activate it.`,
        ],
      };
    case "license_expiring":
      return {
        subject: `Your Chatello license expires on ${day(data.expiresAt)}`,
        lines: [
          `Your ${plan} license ${key} expires on ${day(data.expiresAt)}.`,
          "Renew it before then to keep the AI features of the plugin working.",
        ],
      };
    case "license_expired":
      return {
        subject: "Your Chatello license has expired",
        lines: [
          `Your ${plan} license ${key} expired on ${day(data.expiresAt)}.`,
          "Renew it to turn the AI features of the plugin back on.",
        ],
      };
    case "license_suspended":
      return {
        subject: "Your Chatello license has been suspended",
        lines: [
          `Your ${plan} license ${key} has been suspended.`,
          "Please contact us if you think this is a mistake.",
        ],
      };
    case "quota_80":
      return {
        subject: `You have used ${data.usagePercent ?? 80}% of your Chatello quota`,
        lines: [
          `Your ${plan} license ${key} has used ${data.usagePercent ?? 80}% of its quota for this period.`,
          "Consider upgrading your plan if you expect to need more.",
        ],
      };
    case "quota_100":
      return {
        subject: "Your Chatello quota is used up",
        lines: [
          `Your ${plan} license ${key} has used ${data.usagePercent ?? 100}% of its quota for this period.`,
          "AI requests are paused until the quota resets or you upgrade your plan.",
        ],
      };
  }
}

/** Renders the subject, plain text and HTML of one mail; every value is escaped in the HTML part. */
export function renderMail(kind: MailKind, data: MailData): RenderedMail {
  const { subject, lines } = body(kind, data);
  const greeting = `Hello ${data.customerName},`;
  const signoff = ["—", "The Chatello team", data.publicUrl];
  const text = [greeting, "", ...lines.flatMap((line) => [line, ""]), ...signoff].join("\n") + "\n";
  const e = escapeMailHtml;
  const paragraphs = lines.map((line) =>
    kind === "license_delivered" && line === (data.licenseKey ?? "")
      ? `<p><code style="font-size:1.1em">${e(line)}</code></p>`
      : `<p>${e(line)}</p>`,
  );
  const html = [
    "<!doctype html>",
    `<html><head><meta charset="utf-8"><title>${e(subject)}</title></head><body>`,
    `<p>${e(greeting)}</p>`,
    ...paragraphs,
    `<p>— The Chatello team<br><a href="${e(data.publicUrl)}">${e(data.publicUrl)}</a></p>`,
    "</body></html>",
  ].join("\n");
  return { subject, text, html };
}
