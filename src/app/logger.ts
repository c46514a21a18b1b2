/** Structured logging: one JSON object per line, with secrets redacted before anything reaches the sink. */

/** Log levels from most to least verbose; `silent` writes nothing. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** One of `LOG_LEVELS`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Extra key/values attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Writes log lines at or above its level; `child` binds fields to every line it writes. */
export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** What replaces the value of a field whose name marks it as a secret. */
export const REDACTED = "[redacted]";

type EmittingLevel = Exclude<LogLevel, "silent">;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: Infinity };
const RESERVED = new Set(["time", "level", "msg"]);
const MAX_DEPTH = 6;

// Compared after lower-casing and dropping `-` and `_`, so `api_key`, `apiKey` and `X-Api-Key` all match.
const SECRET_NAMES = new Set([
  "password",
  "passwd",
  "token",
  "apikey",
  "secret",
  "authorization",
  "proxyauthorization",
  "licensekey",
  "cookie",
  "setcookie",
  "encryptionkey",
  "privatekey",
]);
// Suffixes catch `db_password`, `client_secret`, `openai_api_key`, `refresh_token`; `prompt_tokens` stays visible.
const SECRET_SUFFIXES = ["password", "secret", "apikey", "token", "licensekey"];

const CREDENTIAL_SCHEMES = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi;
const PROVIDER_KEY = /(?<![A-Za-z0-9])sk-(ant-)?[A-Za-z0-9_-]{8,}/g;
const LICENSE_KEY = /(?<![A-Za-z0-9])(CHA-)([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)/gi;

/** Builds a logger writing at or above `level` to `sink`, one JSON line per call (stdout by default). */
export function createLogger(level: LogLevel, sink: (line: string) => void = writeStdout): Logger {
  return makeLogger(level, sink, {});
}

/** Masks license keys, provider keys, bearer/basic credentials and URL passwords inside free text. */
export function redactText(text: string): string {
  return text
    .replace(CREDENTIAL_SCHEMES, (_match, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(URL_PASSWORD, (_match, head: string) => `${head}:${REDACTED}@`)
    .replace(PROVIDER_KEY, (key: string, anthropic: string | undefined) => `sk-${anthropic ?? ""}…${key.slice(-4)}`)
    .replace(LICENSE_KEY, (key: string, prefix: string, body: string) => {
      const first = body.split("-")[0];
      // A lone short group is not a key (nor enough of one to matter); anything longer keeps only its head.
      if (first === body && body.length <= 8) return key;
      return `${prefix}${first.slice(0, 8)}${first.length > 8 ? "" : "-"}…`;
    });
}

/** A JSON-safe copy of `value`: secret-named fields replaced, every string passed through `redactText`. */
export function redactValue(value: unknown): unknown {
  return redact(value, 0, new WeakSet());
}

function makeLogger(level: LogLevel, sink: (line: string) => void, bound: LogFields): Logger {
  const threshold = RANK[level];
  function write(lineLevel: EmittingLevel, msg: string, fields?: LogFields): void {
    if (RANK[lineLevel] < threshold) return;
    const line: LogFields = { time: new Date().toISOString(), level: lineLevel, msg: redactText(String(msg)) };
    assign(line, bound);
    if (fields !== undefined) assign(line, redactValue(fields) as LogFields);
    sink(JSON.stringify(line));
  }
  return {
    level,
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    // Bound fields are redacted once here rather than on every line the child writes.
    child: (fields) => makeLogger(level, sink, { ...bound, ...(redactValue(fields) as LogFields) }),
  };
}

function assign(line: LogFields, fields: LogFields): void {
  for (const [key, value] of Object.entries(fields)) {
    // A field must not be able to forge the time, level or message of the line.
    line[RESERVED.has(key) ? `field_${key}` : key] = value;
  }
}

function isSecretName(name: string): boolean {
  const normalised = name.toLowerCase().replace(/[-_]/g, "");
  return SECRET_NAMES.has(normalised) || SECRET_SUFFIXES.some((suffix) => normalised.endsWith(suffix));
}

function redact(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case "string":
      return redactText(value);
    case "number":
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[truncated]";
  // Raw bytes are most likely key material; their size is all a log line needs.
  if (ArrayBuffer.isView(object)) return `[${object.byteLength} bytes]`;
  if (object instanceof ArrayBuffer) return `[${object.byteLength} bytes]`;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
  seen.add(object);
  try {
    if (Array.isArray(object)) return object.map((item) => redact(item, depth + 1, seen) ?? null);
    if (object instanceof Error) return redactError(object, depth, seen);
    if (object instanceof Headers) return redactEntries(object.entries(), depth, seen);
    if (object instanceof Map) return redactEntries(object.entries(), depth, seen);
    if (object instanceof Set) return [...object].map((item) => redact(item, depth + 1, seen) ?? null);
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return redact(toJSON.call(object), depth + 1, seen);
    return redactEntries(Object.entries(object), depth, seen);
  } finally {
    seen.delete(object);
  }
}

function redactEntries(entries: Iterable<[unknown, unknown]>, depth: number, seen: WeakSet<object>): LogFields {
  const result: LogFields = {};
  for (const [rawKey, item] of entries) {
    const key = String(rawKey);
    if (isSecretName(key) && item !== null && item !== undefined) result[key] = REDACTED;
    else {
      const redacted = redact(item, depth + 1, seen);
      if (redacted !== undefined) result[key] = redacted;
    }
  }
  return result;
}

function redactError(error: Error, depth: number, seen: WeakSet<object>): LogFields {
  // Own fields first (a DomainError's `code` and `details`), so the standard ones cannot be shadowed.
  const result: LogFields = redactEntries(Object.entries(error), depth, seen);
  result.name = error.name;
  result.message = redactText(error.message);
  if (error.stack !== undefined) result.stack = redactText(error.stack);
  if (error.cause !== undefined) result.cause = redact(error.cause, depth + 1, seen);
  return result;
}

function writeStdout(line: string): void {
  process.stdout.write(`${line}\n`);
}
