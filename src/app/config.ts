/** Configuration from environment variables: parsed and checked once at start-up, then passed around as a value. */

import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import {
  decodeBase64IgnorePadding,
  decodeBase64urlIgnorePadding,
  encodeBase64,
  encodeHexLowerCase,
} from "@oslojs/encoding";
import { cryptoRandom, KEY_BYTES } from "../adapters/crypto/webcrypto_keyring.ts";
import { LOG_LEVELS, type LogLevel } from "./logger.ts";

/** Environments the service knows; only `production` changes behaviour (no generated encryption key). */
export const NODE_ENVS = ["development", "production", "test"] as const;

/** One of `NODE_ENVS`. */
export type NodeEnv = (typeof NODE_ENVS)[number];

/** Where the data lives: an SQLite file (or `:memory:`) or a MariaDB/MySQL server. */
export type DatabaseConfig =
  | { kind: "sqlite"; path: string }
  | { kind: "mariadb"; url: string; host: string; port: number; user: string; password: string; database: string };

/** Upstream endpoint and the operator's own key for one AI provider. */
export interface ProviderConfig {
  baseUrl: string;
  apiKey: string | null;
}

/** The AI providers the proxy talks to. */
export type ProviderName = "openai" | "anthropic" | "deepseek";

/** The checked configuration of one process. */
export interface Config {
  port: number;
  host: string;
  nodeEnv: NodeEnv;
  publicUrl: string;
  logLevel: LogLevel;
  trustProxy: { enabled: boolean; hops: number };
  dataDir: string;
  database: DatabaseConfig;
  encryptionKey: Uint8Array;
  /** True when this start created `<dataDir>/encryption.key`; worth a loud log line, since losing it loses the data. */
  encryptionKeyGenerated: boolean;
  encryptionKeysOld: Uint8Array[];
  providers: Record<ProviderName, ProviderConfig>;
  /** Per-request upstream timeout (PROVIDER_TIMEOUT_MS). */
  providerTimeoutMs: number;
  /** Retries on 429/5xx before the first byte (PROVIDER_MAX_RETRIES). */
  providerMaxRetries: number;
  /** Resident memory (MB) above which the service collects its heap fully (MEMORY_SOFT_LIMIT_MB); 0: never. */
  memorySoftLimitMb: number;
  /** SMTP server for outgoing mail (SMTP_URL); null keeps messages in the outbox, shown in the admin. */
  smtpUrl: string | null;
  /** Sender of outgoing mail (MAIL_FROM). */
  mailFrom: string;
  /** Paddle notification secret (PADDLE_WEBHOOK_SECRET); null answers Paddle webhooks 503. */
  paddleWebhookSecret: string | null;
  /** Secret of the old generic payment hook (PAYMENT_WEBHOOK_SECRET). */
  paymentWebhookSecret: string | null;
  /** Days raw usage events are kept (USAGE_RETENTION_DAYS); daily aggregates are kept for good. */
  usageRetentionDays: number;
  /** How long a shutdown waits for requests and streams in flight before cutting them (SHUTDOWN_TIMEOUT_MS). */
  shutdownTimeoutMs: number;
  /** Bearer token that admits a scraper to /metrics from any address (METRICS_TOKEN); null: none. */
  metricsToken: string | null;
  /** Client addresses and CIDR ranges admitted to /metrics without a token (METRICS_ALLOW); empty: none. */
  metricsAllow: string[];
}

/** A configuration variable is missing or malformed; `message` is one line, names the variable, and holds no secret. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    /** What is wrong, worded to follow the variable's name. */
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = "0.0.0.0";
const DEFAULT_DATA_DIR = "data";
const KEY_FILE = "encryption.key";
const PROVIDER_DEFAULTS: Record<ProviderName, { prefix: string; baseUrl: string; label: string }> = {
  openai: { prefix: "OPENAI", baseUrl: "https://api.openai.com/v1", label: "OpenAI" },
  anthropic: { prefix: "ANTHROPIC", baseUrl: "https://api.anthropic.com", label: "Anthropic" },
  deepseek: { prefix: "DEEPSEEK", baseUrl: "https://api.deepseek.com", label: "DeepSeek" },
};
const KEY_HINT = "generate one with: openssl rand -base64 32";
const DEFAULT_METRICS_ALLOW = "127.0.0.1,::1";

/** Every environment variable the service reads, with its default and meaning (for the README and `--help`). */
export const CONFIG_VARIABLES: Array<{ name: string; default: string; description: string }> = [
  { name: "PORT", default: String(DEFAULT_PORT), description: "TCP port to listen on (0-65535)." },
  { name: "HOST", default: DEFAULT_HOST, description: "Address to listen on." },
  {
    name: "NODE_ENV",
    default: "development",
    description: "development, production or test; production requires ENCRYPTION_KEY.",
  },
  {
    name: "PUBLIC_URL",
    default: "http://localhost:<PORT>",
    description: "External http(s) base URL of the service, used in links and e-mails.",
  },
  { name: "LOG_LEVEL", default: "info", description: "debug, info, warn, error or silent." },
  {
    name: "TRUST_PROXY",
    default: "false",
    description: "Trust X-Forwarded-* headers: true, false, or the number of proxy hops in front of the service.",
  },
  {
    name: "DATA_DIR",
    default: DEFAULT_DATA_DIR,
    description: "Directory for the SQLite database and the generated encryption key.",
  },
  {
    name: "DATABASE_URL",
    default: `sqlite:<DATA_DIR>/chatello.db`,
    description:
      "sqlite:<path>, sqlite::memory:, or mariadb://user:password@host:3306/database (mysql:// also accepted).",
  },
  {
    name: "ENCRYPTION_KEY",
    default: `<DATA_DIR>/${KEY_FILE}, generated if missing (not in production)`,
    description: `Base64 of 32 random bytes that encrypts license and provider keys at rest; ${KEY_HINT}.`,
  },
  {
    name: "ENCRYPTION_KEY_OLD",
    default: "",
    description: "Comma-separated previous ENCRYPTION_KEYs, still accepted for reading until secrets are rotated.",
  },
  {
    name: "PROVIDER_TIMEOUT_MS",
    default: "60000",
    description: "Timeout of one upstream AI call in milliseconds (1000-600000); a timed-out call answers 504 and costs nothing.",
  },
  {
    name: "PROVIDER_MAX_RETRIES",
    default: "2",
    description: "Retries (0-5) with backoff on provider 429/5xx and network errors, only before the first byte reached the client.",
  },
  {
    name: "MEMORY_SOFT_LIMIT_MB",
    default: "132",
    description:
      "Resident memory (MB, 0 or 32-65536) above which the service runs full garbage collections that return memory to the system; 0 leaves it to the runtime.",
  },
  {
    name: "SMTP_URL",
    default: "",
    description: "smtp://user:pass@host:587 or smtps://...:465; unset keeps outgoing mail in the outbox (shown in the admin).",
  },
  { name: "MAIL_FROM", default: "Chatello <no-reply@localhost>", description: "Sender of outgoing mail." },
  { name: "PADDLE_WEBHOOK_SECRET", default: "", description: "Paddle Billing notification secret; unset answers /api/webhooks/paddle with 503." },
  { name: "PAYMENT_WEBHOOK_SECRET", default: "", description: "HMAC secret of the old generic /api/webhook/payment hook; unset answers 503." },
  { name: "USAGE_RETENTION_DAYS", default: "90", description: "Days raw usage events are kept (1-3650); daily aggregates are kept." },
  {
    name: "SHUTDOWN_TIMEOUT_MS",
    default: "20000",
    description: "On SIGTERM/SIGINT, how long (0-600000 ms) requests and streams in flight may finish before they are cut and billed as partial.",
  },
  {
    name: "METRICS_TOKEN",
    default: "",
    description: "Bearer token (16+ characters) that admits a Prometheus scraper to /metrics from any address.",
  },
  {
    name: "METRICS_ALLOW",
    default: DEFAULT_METRICS_ALLOW,
    description: "Comma-separated client addresses or CIDR ranges that may read /metrics without the token; none admits no address.",
  },
  ...Object.values(PROVIDER_DEFAULTS).flatMap(({ prefix, baseUrl, label }) => [
    { name: `${prefix}_BASE_URL`, default: baseUrl, description: `${label} API base URL.` },
    {
      name: `${prefix}_API_KEY`,
      default: "",
      description: `${label} API key for plans with AI included; unset disables the provider.`,
    },
  ]),
];

/** Reads and checks the configuration; throws `ConfigError` on the first bad variable. May create the key file. */
export async function loadConfig(
  env: Record<string, string | undefined>,
  options: { cwd?: string } = {},
): Promise<Config> {
  const cwd = options.cwd ?? process.cwd();
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };

  const port = parsePort(read("PORT"));
  const nodeEnv = parseChoice("NODE_ENV", read("NODE_ENV"), NODE_ENVS, "development");
  const dataDir = resolve(cwd, read("DATA_DIR") ?? DEFAULT_DATA_DIR);
  const checked = {
    port,
    host: parseHost(read("HOST")),
    nodeEnv,
    publicUrl: parseHttpUrl("PUBLIC_URL", read("PUBLIC_URL") ?? `http://localhost:${port}`),
    logLevel: parseChoice("LOG_LEVEL", read("LOG_LEVEL"), LOG_LEVELS, "info"),
    trustProxy: parseTrustProxy(read("TRUST_PROXY")),
    dataDir,
    database: parseDatabaseUrl(read("DATABASE_URL"), cwd, dataDir),
    encryptionKeysOld: parseOldKeys(read("ENCRYPTION_KEY_OLD")),
    providers: parseProviders(read),
    providerTimeoutMs: parseInteger("PROVIDER_TIMEOUT_MS", read("PROVIDER_TIMEOUT_MS"), 60_000, 1_000, 600_000),
    providerMaxRetries: parseInteger("PROVIDER_MAX_RETRIES", read("PROVIDER_MAX_RETRIES"), 2, 0, 5),
    memorySoftLimitMb: parseMemoryLimit(read("MEMORY_SOFT_LIMIT_MB")),
    smtpUrl: parseSmtpUrl(read("SMTP_URL")),
    mailFrom: parseMailFrom(read("MAIL_FROM")),
    paddleWebhookSecret: read("PADDLE_WEBHOOK_SECRET") ?? null,
    paymentWebhookSecret: read("PAYMENT_WEBHOOK_SECRET") ?? null,
    usageRetentionDays: parseInteger("USAGE_RETENTION_DAYS", read("USAGE_RETENTION_DAYS"), 90, 1, 3650),
    shutdownTimeoutMs: parseInteger("SHUTDOWN_TIMEOUT_MS", read("SHUTDOWN_TIMEOUT_MS"), 20_000, 0, 600_000),
    metricsToken: parseMetricsToken(read("METRICS_TOKEN")),
    metricsAllow: parseAddressList("METRICS_ALLOW", read("METRICS_ALLOW") ?? DEFAULT_METRICS_ALLOW),
  };
  // Last, so that a typo elsewhere never leaves a freshly generated key file behind.
  const key = await loadEncryptionKey(read("ENCRYPTION_KEY"), nodeEnv, dataDir);
  return { ...checked, encryptionKey: key.key, encryptionKeyGenerated: key.generated };
}

function parseProviders(read: (name: string) => string | undefined): Record<ProviderName, ProviderConfig> {
  const providers = {} as Record<ProviderName, ProviderConfig>;
  for (const name of Object.keys(PROVIDER_DEFAULTS) as ProviderName[]) {
    const { prefix, baseUrl } = PROVIDER_DEFAULTS[name];
    providers[name] = {
      baseUrl: parseHttpUrl(`${prefix}_BASE_URL`, read(`${prefix}_BASE_URL`) ?? baseUrl),
      apiKey: read(`${prefix}_API_KEY`) ?? null,
    };
  }
  return providers;
}

function parseMetricsToken(value: string | undefined): string | null {
  if (value === undefined) return null;
  // The token is a secret: the message says what is wrong with it, never what it is.
  if (value.length < 16 || /\s/.test(value)) throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters without spaces");
  return value;
}

/** Addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`), or `none`; each entry checked. */
function parseAddressList(name: string, value: string): string[] {
  if (value.toLowerCase() === "none") return [];
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const [address, prefix, extra] = entry.split("/");
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
      if (family === 0 || !prefixOk || extra !== undefined) {
        throw new ConfigError(name, `must be comma-separated IP addresses or CIDR ranges, or none (got ${shown(entry)})`);
      }
      return entry;
    });
}

function parseSmtpUrl(value: string | undefined): string | null {
  if (value === undefined) return null;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  // The value may hold a password: the message never repeats it.
  if (!url || (url.protocol !== "smtp:" && url.protocol !== "smtps:") || !url.hostname) {
    throw new ConfigError("SMTP_URL", "must look like smtp://user:password@host:587 or smtps://host:465");
  }
  return value;
}

function parseMailFrom(value: string | undefined): string {
  const from = value ?? "Chatello <no-reply@localhost>";
  if (!/^([^<>\r\n]*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/.test(from)) {
    throw new ConfigError("MAIL_FROM", `must be an address or "Name <address>" (got ${shown(from)})`);
  }
  return from;
}

function parseInteger(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer between ${min} and ${max} (got ${shown(value)})`);
  }
  return n;
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535)) throw new ConfigError("PORT", `must be an integer between 0 and 65535 (got ${shown(value)})`);
  return port;
}

function parseHost(value: string | undefined): string {
  if (value === undefined) return DEFAULT_HOST;
  if (!/^[A-Za-z0-9._:%\-[\]]+$/.test(value)) {
    throw new ConfigError("HOST", `must be a host name or IP address (got ${shown(value)})`);
  }
  return value;
}

function parseMemoryLimit(value: string | undefined): number {
  const mb = parseInteger("MEMORY_SOFT_LIMIT_MB", value, 132, 0, 65_536);
  if (mb !== 0 && mb < 32) throw new ConfigError("MEMORY_SOFT_LIMIT_MB", `must be 0 or between 32 and 65536 (got ${mb})`);
  return mb;
}

function parseChoice<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  const choice = choices.find((candidate) => candidate === value.toLowerCase());
  if (choice === undefined) throw new ConfigError(name, `must be one of ${choices.join(", ")} (got ${shown(value)})`);
  return choice;
}

function parseTrustProxy(value: string | undefined): { enabled: boolean; hops: number } {
  const normalised = value?.toLowerCase() ?? "false";
  if (["true", "yes"].includes(normalised)) return { enabled: true, hops: 1 };
  if (["false", "no"].includes(normalised)) return { enabled: false, hops: 0 };
  const hops = /^\d{1,3}$/.test(normalised) ? Number(normalised) : NaN;
  if (Number.isNaN(hops)) {
    throw new ConfigError("TRUST_PROXY", `must be true, false or a number of proxy hops (got ${shown(value ?? "")})`);
  }
  return { enabled: hops > 0, hops };
}

/** An http(s) URL without credentials, query or fragment, and without a trailing slash. */
function parseHttpUrl(name: string, value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // fall through to the error below
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigError(name, `must be an http:// or https:// URL (got ${shown(value)})`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(name, "must not contain a user name or password");
  }
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError(name, `must not have a query string or fragment (got ${shown(value)})`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

function parseDatabaseUrl(value: string | undefined, cwd: string, dataDir: string): DatabaseConfig {
  if (value === undefined) return { kind: "sqlite", path: join(dataDir, "chatello.db") };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1].toLowerCase();
  if (scheme === "sqlite") {
    // Both sqlite:data/x.db and the URL-looking sqlite:///abs/x.db are in common use.
    const path = value.slice("sqlite:".length).replace(/^\/\//, "");
    if (path === "") {
      const examples = "sqlite:data/chatello.db or sqlite::memory:";
      throw new ConfigError("DATABASE_URL", `must name a file after sqlite: (e.g. ${examples})`);
    }
    return { kind: "sqlite", path: path === ":memory:" ? path : resolve(cwd, path) };
  }
  if (scheme === "mariadb" || scheme === "mysql") return parseMariadbUrl(value);
  // Only the scheme is echoed: the rest of an unrecognised URL may well hold a password.
  const got = scheme === undefined ? "" : ` (got ${shown(`${scheme}:`)})`;
  throw new ConfigError("DATABASE_URL", `must start with sqlite:, mariadb:// or mysql://${got}`);
}

/** Errors here never echo the value, nor any part of it: a malformed URL can put its password anywhere. */
function parseMariadbUrl(value: string): DatabaseConfig {
  const fail = (problem: string): never => {
    throw new ConfigError("DATABASE_URL", `${problem} (expected mariadb://user:password@host:3306/database)`);
  };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail("is not a valid URL; percent-encode special characters in the user name and password");
  }
  if (url.hostname === "") fail("must name a host");
  if (url.username === "") fail("must name a user");
  let user = "";
  let password = "";
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    fail("has a malformed percent-encoding in the user name or password");
  }
  const database = url.pathname.replace(/^\//, "");
  if (!/^[A-Za-z0-9_]+$/.test(database)) fail("must end with a database name made of letters, digits and underscores");
  return {
    kind: "mariadb",
    url: value,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 3306 : Number(url.port),
    user,
    password,
    database,
  };
}

async function loadEncryptionKey(
  value: string | undefined,
  nodeEnv: NodeEnv,
  dataDir: string,
): Promise<{ key: Uint8Array; generated: boolean }> {
  if (value !== undefined) {
    const problem = keyProblem(value);
    if (problem !== null) {
      throw new ConfigError("ENCRYPTION_KEY", `must be base64 of exactly ${KEY_BYTES} bytes (${problem}; ${KEY_HINT})`);
    }
    return { key: decodeKey(value)!, generated: false };
  }
  if (nodeEnv === "production") {
    // A key generated on a production box is one disk failure away from losing every stored secret.
    throw new ConfigError("ENCRYPTION_KEY", `is required when NODE_ENV=production (${KEY_HINT})`);
  }
  const path = join(dataDir, KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing !== null) return { key: existing, generated: false };
  return createKeyFile(dataDir, path);
}

async function readKeyFile(path: string): Promise<Uint8Array | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    if (errorCode(error) === "ENOTDIR") throw new ConfigError("DATA_DIR", `${dirname(path)} is not a directory`);
    throw new ConfigError("ENCRYPTION_KEY", `is not set and ${path} cannot be read (${errorCode(error)})`);
  }
  const problem = keyProblem(text.trim());
  if (problem !== null) {
    throw new ConfigError(
      "ENCRYPTION_KEY",
      `is not set and ${path} does not hold base64 of exactly ${KEY_BYTES} bytes (${problem}); ` +
        "restore the file or set ENCRYPTION_KEY",
    );
  }
  return decodeKey(text.trim());
}

async function createKeyFile(dataDir: string, path: string): Promise<{ key: Uint8Array; generated: boolean }> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new ConfigError("DATA_DIR", `${dataDir} cannot be created (${errorCode(error)})`);
  }
  const key = cryptoRandom.bytes(KEY_BYTES);
  // Written aside and hard-linked into place: the link either appears complete or fails because another
  // process starting at the same moment got there first, in which case its key is the one to use.
  const temporary = `${path}.${encodeHexLowerCase(cryptoRandom.bytes(6))}.tmp`;
  try {
    await writeFile(temporary, `${encodeBase64(key)}\n`, { mode: 0o600, flag: "wx" });
    await link(temporary, path);
    return { key, generated: true };
  } catch (error) {
    if (errorCode(error) === "EEXIST") {
      const winner = await readKeyFile(path);
      if (winner !== null) return { key: winner, generated: false };
    }
    throw new ConfigError("ENCRYPTION_KEY", `is not set and ${path} cannot be written (${errorCode(error)})`);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

function parseOldKeys(value: string | undefined): Uint8Array[] {
  if (value === undefined) return [];
  const entries = value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  return entries.map((entry, index) => {
    const problem = keyProblem(entry);
    if (problem !== null) {
      const which = entries.length > 1 ? `entry ${index + 1} of ${entries.length} ` : "";
      throw new ConfigError("ENCRYPTION_KEY_OLD", `${which}must be base64 of exactly ${KEY_BYTES} bytes (${problem})`);
    }
    return decodeKey(entry)!;
  });
}

/** Accepts standard and URL-safe base64, padded or not, as `openssl rand -base64 32` and friends print it. */
function decodeKey(text: string): Uint8Array | null {
  try {
    return /[-_]/.test(text) ? decodeBase64urlIgnorePadding(text) : decodeBase64IgnorePadding(text);
  } catch {
    return null;
  }
}

/** What is wrong with a key, described without any of its characters; null when it is fine. */
function keyProblem(text: string): string | null {
  const key = decodeKey(text);
  if (key === null) return "it is not valid base64";
  if (key.length !== KEY_BYTES) return `it decodes to ${key.length} bytes`;
  return null;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "unknown error";
}

/** Quotes a non-secret value for an error line: one line, bounded length. */
function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
