/**
 * Structured logging on pino: one JSON object per line (`level`, `time`, the fields, `msg`), with secrets
 * redacted before anything reaches the destination.
 */
import pino, { type DestinationStream, type Logger as PinoLogger } from "pino";

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
// Admin API tokens keep the 12 characters the admin shows as their prefix.
const API_TOKEN = /(?<![A-Za-z0-9])(chtl_[0-9a-f]{7})[0-9a-f]+/gi;
// One scan that every text any of the patterns above could change must match: most log text is plain
// (paths, codes, messages) and skips the four replacements.
const MAYBE_SECRET = /sk-|cha-|chtl_|bearer|basic|:\/\//i;

/** Builds a logger writing at or above `level` to `sink`, one JSON line per call (stdout by default). */
export function createLogger(level: LogLevel, sink?: (line: string) => void): Logger {
  const destination: DestinationStream = sink ? lineSink(sink) : stdout();
  const root = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Fields are redacted as pino serialises them; bound fields were redacted once, by `child`.
      formatters: { level: (label) => ({ level: label }), log: (fields) => redactFields(fields) },
      // Redaction already turned errors into plain objects; pino's own `err` serializer must not redo it.
      serializers: { err: (value: unknown) => value },
    },
    destination,
  );
  return wrap(level, root);
}

/** Masks license keys, provider keys, admin API tokens, bearer/basic credentials and URL passwords inside free text. */
export function redactText(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  return text
    .replace(CREDENTIAL_SCHEMES, (_match, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(URL_PASSWORD, (_match, head: string) => `${head}:${REDACTED}@`)
    .replace(PROVIDER_KEY, (key: string, anthropic: string | undefined) => `sk-${anthropic ?? ""}…${key.slice(-4)}`)
    .replace(API_TOKEN, (_token: string, prefix: string) => `${prefix}…`)
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

function wrap(level: LogLevel, target: PinoLogger): Logger {
  // Closures rather than methods: callers pass `logger.warn` around unbound.
  return {
    level,
    debug: (msg, fields) => target.debug(fields ?? {}, redactText(String(msg))),
    info: (msg, fields) => target.info(fields ?? {}, redactText(String(msg))),
    warn: (msg, fields) => target.warn(fields ?? {}, redactText(String(msg))),
    error: (msg, fields) => target.error(fields ?? {}, redactText(String(msg))),
    // Bound fields are redacted once here, and pino serialises them once, rather than on every line.
    child: (fields) => wrap(level, target.child(redactFields(fields))),
  };
}

/** The destination for a caller's sink: pino hands over whole lines ending in a newline. */
function lineSink(sink: (line: string) => void): DestinationStream {
  return { write: (line: string) => sink(line.endsWith("\n") ? line.slice(0, -1) : line) };
}

let stdoutDestination: DestinationStream | undefined;

/** Standard output, written synchronously so no line is lost when the process exits right after it. */
function stdout(): DestinationStream {
  stdoutDestination ??= pino.destination({ dest: 1, sync: true });
  return stdoutDestination;
}

/**
 * The top-level fields of a line: names that could forge the time, level or message are prefixed, and
 * scalars (the request line holds nothing else) skip the deep walk.
 */
function redactFields(fields: LogFields): LogFields {
  const result: LogFields = {};
  for (const key in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) continue;
    const value = fields[key];
    const name = RESERVED.has(key) ? `field_${key}` : key;
    if (value === undefined) continue;
    if (value !== null && isSecretName(key)) {
      result[name] = REDACTED;
      continue;
    }
    switch (typeof value) {
      case "string":
        result[name] = redactText(value);
        break;
      case "number":
      case "boolean":
        result[name] = value;
        break;
      default: {
        const redacted = redact(value, 1, new WeakSet());
        if (redacted !== undefined) result[name] = redacted;
      }
    }
  }
  return result;
}

// Field names repeat endlessly (request_id, status, ...); the verdict is remembered per name.
const secretNameCache = new Map<string, boolean>();

function isSecretName(name: string): boolean {
  const cached = secretNameCache.get(name);
  if (cached !== undefined) return cached;
  const normalised = name.toLowerCase().replace(/[-_]/g, "");
  const secret = SECRET_NAMES.has(normalised) || SECRET_SUFFIXES.some((suffix) => normalised.endsWith(suffix));
  // Names come from code, but header and body keys can be anything: the cache stays bounded.
  if (secretNameCache.size > 10_000) secretNameCache.clear();
  secretNameCache.set(name, secret);
  return secret;
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
