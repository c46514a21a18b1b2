/**
 * The HTTP/1.1 client the provider adapters call upstreams with: keep-alive connections of its own, pooled per
 * origin, over Bun's sockets on the event loop's thread.
 *
 * Bun's fetch hands every exchange to a separate HTTP thread and back. Measured against the fake upstream on
 * loopback, that hop cost about 0.3 ms before the first event of a stream (0.41 ms against 0.11 ms here) and
 * about 0.08 ms per JSON answer, with two to three times the CPU per call: more than the proxy's whole overhead
 * budget. This client speaks the small part of HTTP/1.1 a provider API needs, strictly:
 * - requests with a string or byte body (anything else goes to `fallback`, Bun's fetch by default);
 * - answers framed by Content-Length, chunked transfer coding (trailers skipped) or the end of the connection;
 *   1xx interim answers skipped; no redirects followed (a 3xx is answered as it is, like `redirect: "manual"`);
 * - `accept-encoding: identity` is sent, and a content coding in the answer is refused as a network error;
 * - TLS verifies the certificate chain and the host name (the system's roots, or `ca`), always;
 * - header names and values are checked before anything is written, so a value with a line break (a customer's
 *   own API key, say) can never add a header;
 * - a connection goes back to the pool only after an answer that ended exactly at its framing, without
 *   `connection: close`, and only for `idleTimeoutMs` (less when the server's `keep-alive: timeout` says so);
 * - an AbortSignal closes the connection and fails the answer (or its body) with the signal's reason.
 * A request that failed on a reused connection before any byte of its answer arrived (the server had closed the
 * idle connection as the request left) is sent once more on a new connection.
 */
import type { Socket } from "bun";

/** Tuning of the client; every field has a default. */
export interface UpstreamHttpOptions {
  /** How long an idle connection is kept for reuse (default 4 s; a server's `keep-alive: timeout` can shorten it). */
  idleTimeoutMs?: number;
  /** Idle connections kept per origin (default 256); more are closed when they are released. */
  maxIdlePerOrigin?: number;
  /** Largest answer head (status line and headers) accepted (default 64 KiB). */
  maxHeaderBytes?: number;
  /** Trusted certificate authorities (PEM) instead of the system's (tests and private upstreams). */
  ca?: string | string[];
  /** Sent as User-Agent when the request names none. */
  userAgent?: string;
  /** Takes the requests this client does not speak (other schemes, stream bodies, credentials in the URL). */
  fallback?: typeof fetch;
}

/** The client: a fetch-compatible function over pooled connections. */
export interface UpstreamHttp {
  fetch: typeof fetch;
  /** Closes the idle connections and stops keeping any; exchanges in flight finish first. */
  close(): void;
  /** Connections open now: idle in the pool and busy with an exchange. */
  connections(): { idle: number; busy: number };
}

const CRLF_CRLF = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value: visible characters, spaces and tabs, and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_BYTES = 64 * 1024;
// Headers this client writes itself from the URL and the body.
const OWN_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "accept-encoding", "keep-alive", "upgrade", "te"]);

interface Origin {
  key: string;
  hostname: string;
  port: number;
  tls: boolean;
  /** host[:port] for the Host header. */
  host: string;
}

/** One request on its way: the bytes, the caller's signal, and what to do with the answer. */
interface Exchange {
  origin: Origin;
  bytes: Uint8Array;
  head: boolean;
  signal: AbortSignal | null;
  resolve(response: Response): void;
  reject(error: unknown): void;
  /** Sent once more after a reused connection died before answering. */
  retried: boolean;
}

/** A request ready to send: an exchange before it has a caller to answer. */
type Request1 = Omit<Exchange, "resolve" | "reject" | "retried">;

type ParseState = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers" | "until-close" | "done";

function networkFailure(message: string, cause?: unknown): TypeError {
  return new TypeError(message, cause === undefined ? undefined : { cause });
}

/** One keep-alive connection and the exchange it carries, if any. */
class Connection {
  socket: Socket<Connection> | null = null;
  closed = false;
  /** Set once the connection has carried a whole exchange (a reused connection may be stale). */
  reused = false;
  idleSince = 0;
  keepAliveMs: number;
  private exchange: Exchange | null = null;
  private unsent: Uint8Array | null = null;
  private onAbort: (() => void) | null = null;
  // Answer parsing.
  private state: ParseState = "head";
  private pending: Buffer | null = null;
  private received = 0;
  private remaining = 0;
  private reusable = true;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private responded = false;

  constructor(
    readonly client: Client,
    readonly origin: Origin,
  ) {
    this.keepAliveMs = client.idleTimeoutMs;
  }

  /** Starts an exchange on this (idle or new) connection. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    this.state = "head";
    this.pending = null;
    this.received = 0;
    this.reusable = true;
    this.controller = null;
    this.responded = false;
    const signal = exchange.signal;
    if (signal) {
      if (signal.aborted) return this.fail(signal.reason);
      this.onAbort = () => this.fail(signal.reason);
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
    this.write(exchange.bytes);
  }

  private write(bytes: Uint8Array): void {
    const socket = this.socket;
    if (!socket || this.closed) return this.lost(null);
    const written = socket.write(bytes);
    if (written < 0) return this.lost(null);
    this.unsent = written < bytes.length ? bytes.subarray(written) : null;
  }

  /** The socket can take more bytes. */
  drain(): void {
    if (this.unsent) this.write(this.unsent);
  }

  /** Bytes from the server. */
  data(chunk: Buffer): void {
    if (!this.exchange) {
      // Nothing was asked: a server talking out of turn cannot be trusted with the next request.
      this.destroy();
      return;
    }
    this.received += chunk.length;
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    try {
      while (this.exchange && data.length > 0) {
        const used = this.parse(data);
        if (used < 0) {
          this.pending = data;
          return;
        }
        data = data.subarray(used);
      }
      // Bytes after the end of the answer: the server does not frame its answers as this client does.
      if (!this.exchange && data.length > 0) this.destroy();
    } catch (error) {
      this.fail(error instanceof TypeError ? error : networkFailure("malformed answer", error));
    }
  }

  /**
   * Consumes the start of `data` in the current state; answers how many bytes it used, or -1 when it needs more
   * bytes than `data` holds (they are kept and parsed again with the next ones).
   */
  private parse(data: Buffer): number {
    switch (this.state) {
      case "head": {
        const end = data.indexOf(CRLF_CRLF);
        if (end < 0) {
          if (data.length > this.client.maxHeaderBytes) throw networkFailure("answer head too large");
          return -1;
        }
        if (end > this.client.maxHeaderBytes) throw networkFailure("answer head too large");
        this.head(data.toString("latin1", 0, end));
        return end + 4;
      }
      case "length": {
        const n = Math.min(this.remaining, data.length);
        this.body(data, n);
        this.remaining -= n;
        if (this.remaining === 0) this.finish();
        return n;
      }
      case "chunk-size": {
        const end = data.indexOf(CRLF);
        if (end < 0) {
          if (data.length > MAX_CHUNK_LINE) throw networkFailure("malformed chunk size");
          return -1;
        }
        const line = data.toString("latin1", 0, end);
        const sizeText = line.split(";", 1)[0].trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw networkFailure("malformed chunk size");
        const size = parseInt(sizeText, 16);
        if (size === 0) {
          this.state = "trailers";
          this.remaining = 0;
        } else {
          this.state = "chunk-data";
          this.remaining = size;
        }
        return end + 2;
      }
      case "chunk-data": {
        const n = Math.min(this.remaining, data.length);
        this.body(data, n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = "chunk-end";
        return n;
      }
      case "chunk-end": {
        if (data.length < 2) return -1;
        if (data[0] !== 13 || data[1] !== 10) throw networkFailure("malformed chunk");
        this.state = "chunk-size";
        return 2;
      }
      case "trailers": {
        const end = data.indexOf(CRLF);
        if (end < 0) {
          if (this.remaining + data.length > MAX_TRAILER_BYTES) throw networkFailure("trailers too large");
          return -1;
        }
        this.remaining += end + 2;
        if (this.remaining > MAX_TRAILER_BYTES) throw networkFailure("trailers too large");
        if (end === 0) this.finish();
        return end + 2;
      }
      case "until-close": {
        this.body(data, data.length);
        return data.length;
      }
      case "done":
        return data.length;
    }
  }

  /** The answer's status line and headers: decides the framing, then hands the Response to the caller. */
  private head(text: string): void {
    const lines = text.split("\r\n");
    const status = STATUS_LINE.exec(lines[0]);
    if (!status) throw networkFailure("malformed status line");
    const code = Number(status[2]);
    const headers = new Headers();
    let contentLength: number | null = null;
    let transferEncoding: string | null = null;
    let connection = "";
    let keepAlive: string | null = null;
    let contentEncoding: string | null = null;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!TOKEN.test(name)) throw networkFailure("malformed header");
      const value = line.slice(colon + 1).trim();
      if (!FIELD_VALUE.test(value)) throw networkFailure("malformed header");
      headers.append(name, value);
      switch (name.toLowerCase()) {
        case "content-length": {
          if (!/^\d{1,15}$/.test(value)) throw networkFailure("malformed content-length");
          const length = Number(value);
          if (contentLength !== null && contentLength !== length) throw networkFailure("conflicting content-length");
          contentLength = length;
          break;
        }
        case "transfer-encoding":
          transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
          break;
        case "connection":
          connection += `,${value.toLowerCase()}`;
          break;
        case "keep-alive":
          keepAlive = value;
          break;
        case "content-encoding":
          contentEncoding = value.toLowerCase();
          break;
      }
    }
    // Interim answers (100 Continue, 103 Early Hints) come before the real one.
    if (code >= 100 && code < 200) {
      if (code === 101) throw networkFailure("unexpected protocol switch");
      return;
    }
    if (code > 599) throw networkFailure("malformed status line");
    if (contentEncoding !== null && contentEncoding !== "identity") throw networkFailure(`unsupported content-encoding ${contentEncoding}`);
    if (status[1] === "0" || /(^|,)\s*close\s*(,|$)/.test(connection)) this.reusable = false;
    if (keepAlive) {
      const timeout = /(?:^|,)\s*timeout=(\d+)/i.exec(keepAlive);
      // A second less than the server's timeout, so the server never closes a connection as a request leaves.
      if (timeout) this.keepAliveMs = Math.min(this.client.idleTimeoutMs, (Number(timeout[1]) - 1) * 1000);
    }
    const bodyless = this.exchange!.head || code === 204 || code === 304;
    if (bodyless) {
      this.state = "done";
    } else if (transferEncoding !== null) {
      // RFC 9112 §6.3: chunked last means chunked framing; any other coding runs to the end of the connection.
      const codings = transferEncoding.toLowerCase().split(",").map((c) => c.trim());
      if (codings[codings.length - 1] === "chunked") {
        if (codings.length > 1) throw networkFailure(`unsupported transfer-encoding ${transferEncoding}`);
        this.state = "chunk-size";
      } else {
        throw networkFailure(`unsupported transfer-encoding ${transferEncoding}`);
      }
    } else if (contentLength !== null) {
      this.state = contentLength === 0 ? "done" : "length";
      this.remaining = contentLength;
    } else {
      this.state = "until-close";
      this.reusable = false;
    }
    const body = bodyless
      ? null
      : new ReadableStream<Uint8Array>({
          start: (controller) => {
            this.controller = controller;
          },
          cancel: () => {
            // The reader stopped early: the rest of the answer would be in the way of the next request.
            this.controller = null;
            if (this.exchange) this.destroy();
          },
        });
    this.responded = true;
    this.exchange!.resolve(new Response(body, { status: code, statusText: status[3] ?? "", headers }));
    if (this.state === "done") this.finish();
  }

  private body(data: Buffer, n: number): void {
    if (n === 0 || !this.controller) return;
    // A copy: the socket's buffer is not ours to keep.
    this.controller.enqueue(new Uint8Array(data.subarray(0, n)));
  }

  /** The answer ended exactly at its framing: close its body and pool the connection when it may be reused. */
  private finish(): void {
    this.state = "done";
    const controller = this.controller;
    this.controller = null;
    this.endExchange();
    try {
      controller?.close();
    } catch {
      // the reader cancelled meanwhile
    }
    if (this.reusable && this.keepAliveMs > 0 && !this.closed) {
      this.reused = true;
      this.client.release(this);
    } else {
      this.destroy();
    }
  }

  private endExchange(): void {
    const exchange = this.exchange;
    this.exchange = null;
    this.unsent = null;
    if (exchange?.signal && this.onAbort) exchange.signal.removeEventListener("abort", this.onAbort);
    this.onAbort = null;
  }

  /** Ends the exchange with `error` (before the answer: its promise; after: its body) and closes the connection. */
  fail(error: unknown): void {
    const exchange = this.exchange;
    const controller = this.controller;
    this.controller = null;
    this.endExchange();
    this.destroy();
    if (!exchange) return;
    if (!this.responded) exchange.reject(error);
    else controller?.error(error);
  }

  /** The server closed the connection (or it broke). */
  lost(error: unknown): void {
    const exchange = this.exchange;
    if (!exchange) return this.destroy();
    // An answer framed by the end of the connection is complete now.
    if (this.state === "until-close") return this.finish();
    // A reused connection that died before any byte of the answer: the server had closed it while idle.
    if (this.reused && this.received === 0 && !exchange.retried && !exchange.signal?.aborted) {
      this.endExchange();
      this.destroy();
      exchange.retried = true;
      this.client.send(exchange, true);
      return;
    }
    this.fail(networkFailure(this.responded ? "answer broke off" : "connection closed before the answer", error ?? undefined));
  }

  /** Closes the socket at once. */
  destroy(): void {
    if (!this.closed) {
      this.closed = true;
      this.client.forget(this);
    }
    const socket = this.socket;
    this.socket = null;
    socket?.terminate();
  }
}

const HANDLERS = {
  data(socket: Socket<Connection>, chunk: Buffer) {
    socket.data.data(chunk);
  },
  drain(socket: Socket<Connection>) {
    socket.data.drain();
  },
  end(socket: Socket<Connection>) {
    socket.data.lost(null);
  },
  close(socket: Socket<Connection>, error?: Error) {
    socket.data.lost(error ?? null);
  },
  error(socket: Socket<Connection>, error: Error) {
    socket.data.lost(error);
  },
};

/** Bun.connect, resolved once the connection can carry a request (for TLS: after a verified handshake). */
function connect(client: Client, origin: Origin): Promise<Connection> {
  const connection = new Connection(client, origin);
  return new Promise<Connection>((resolve, reject) => {
    let settled = false;
    const ready = (socket: Socket<Connection>) => {
      if (settled) return;
      settled = true;
      connection.socket = socket;
      resolve(connection);
    };
    const failed = (error: unknown, what = `could not connect to ${origin.host}`) => {
      if (settled) return;
      settled = true;
      connection.closed = true;
      reject(networkFailure(what, error));
    };
    const tls = origin.tls
      ? {
          // SNI and the certificate's name check need the host name (never an IP literal as SNI).
          serverName: isIpLiteral(origin.hostname) ? undefined : origin.hostname,
          ...(client.ca ? { ca: client.ca } : {}),
          rejectUnauthorized: true,
        }
      : undefined;
    Bun.connect<Connection>({
      hostname: origin.hostname,
      port: origin.port,
      data: connection,
      tls,
      socket: {
        ...HANDLERS,
        open(socket) {
          if (!origin.tls) ready(socket);
        },
        handshake(socket, success, authorizationError) {
          if (success && authorizationError === null) return ready(socket);
          const code = (authorizationError as { code?: unknown } | null)?.code;
          failed(authorizationError, `TLS handshake with ${origin.host} failed${typeof code === "string" ? ` (${code})` : ""}`);
          socket.terminate();
        },
        connectError(_socket, error) {
          failed(error);
        },
        close(socket, error) {
          if (!settled) failed(error ?? new Error("closed while connecting"));
          else socket.data.lost(error ?? null);
        },
        error(socket, error) {
          if (!settled) failed(error);
          else socket.data.lost(error);
        },
      },
    }).catch(failed);
  });
}

function isIpLiteral(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}

class Client {
  readonly idleTimeoutMs: number;
  readonly maxIdlePerOrigin: number;
  readonly maxHeaderBytes: number;
  readonly ca: string[] | undefined;
  private readonly userAgent: string;
  private readonly fallback: typeof fetch;
  private readonly idle = new Map<string, Connection[]>();
  private readonly busy = new Set<Connection>();
  private readonly origins = new Map<string, Origin>();
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(options: UpstreamHttpOptions) {
    this.idleTimeoutMs = Math.max(0, options.idleTimeoutMs ?? 4_000);
    this.maxIdlePerOrigin = Math.max(0, options.maxIdlePerOrigin ?? 256);
    this.maxHeaderBytes = Math.max(1024, options.maxHeaderBytes ?? 64 * 1024);
    this.ca = options.ca === undefined ? undefined : Array.isArray(options.ca) ? options.ca : [options.ca];
    this.userAgent = options.userAgent ?? "chatello";
    this.fallback = options.fallback ?? fetch;
  }

  readonly fetch = ((input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let request: Request1 | null;
    try {
      request = this.prepare(input, init);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!request) return this.fallback(input as any, init);
    return new Promise<Response>((resolve, reject) => {
      this.send({ ...request, resolve, reject, retried: false }, false);
    });
  }) as typeof fetch;

  /** The exchange for a request this client speaks, or null for the fallback; throws on headers it refuses. */
  private prepare(input: string | URL | Request, init: RequestInit | undefined): Request1 | null {
    if (typeof input !== "string" && !(input instanceof URL)) return null;
    const url = typeof input === "string" ? new URL(input) : input;
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username !== "" || url.password !== "") return null;
    const raw = init?.body;
    let body: Uint8Array;
    if (raw === undefined || raw === null) body = new Uint8Array(0);
    else if (typeof raw === "string") body = Buffer.from(raw, "utf8");
    else if (raw instanceof Uint8Array) body = raw;
    else if (raw instanceof ArrayBuffer) body = new Uint8Array(raw);
    else return null;
    const method = (init?.method ?? "GET").toUpperCase();
    if (!TOKEN.test(method)) throw new TypeError(`invalid method ${JSON.stringify(method)}`);
    const origin = this.originOf(url);
    let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${origin.host}\r\naccept-encoding: identity\r\n`;
    let userAgent = false;
    const add = (name: string, value: string) => {
      if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
      // Headers trims like this too; a line break or NUL left inside is refused, never written.
      const trimmed = String(value).replace(/^[\t ]+|[\t ]+$/g, "");
      if (!FIELD_VALUE.test(trimmed)) throw new TypeError(`invalid value for header ${name}`);
      const lower = name.toLowerCase();
      if (OWN_HEADERS.has(lower)) return;
      if (lower === "user-agent") userAgent = true;
      head += `${name}: ${trimmed}\r\n`;
    };
    const headers = init?.headers;
    if (headers instanceof Headers || Array.isArray(headers)) {
      for (const [name, value] of headers instanceof Headers ? headers.entries() : headers) add(name, value);
    } else if (headers) {
      for (const name in headers) add(name, (headers as Record<string, string>)[name]);
    }
    if (!userAgent) head += `user-agent: ${this.userAgent}\r\n`;
    if (body.length > 0 || (method !== "GET" && method !== "HEAD")) head += `content-length: ${body.length}\r\n`;
    head += "\r\n";
    const headBytes = Buffer.from(head, "latin1");
    const bytes = body.length === 0 ? headBytes : Buffer.concat([headBytes, body]);
    return { origin, bytes, head: method === "HEAD", signal: init?.signal ?? null };
  }

  private originOf(url: URL): Origin {
    const key = `${url.protocol}//${url.host}`;
    let origin = this.origins.get(key);
    if (!origin) {
      const tls = url.protocol === "https:";
      const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
      origin = { key, hostname, port: url.port === "" ? (tls ? 443 : 80) : Number(url.port), tls, host: url.host };
      if (this.origins.size < 1024) this.origins.set(key, origin);
    }
    return origin;
  }

  /** Sends `exchange` on an idle connection of its origin, or on a new one (always new when `fresh`). */
  send(exchange: Exchange, fresh: boolean): void {
    if (exchange.signal?.aborted) return exchange.reject(exchange.signal.reason);
    const connection = fresh ? null : this.takeIdle(exchange.origin);
    if (connection) {
      this.busy.add(connection);
      connection.start(exchange);
      return;
    }
    connect(this, exchange.origin).then(
      (opened) => {
        if (opened.closed) return exchange.reject(networkFailure(`connection to ${exchange.origin.host} closed at once`));
        this.busy.add(opened);
        opened.start(exchange);
      },
      (error) => exchange.reject(error),
    );
  }

  private takeIdle(origin: Origin): Connection | null {
    const idle = this.idle.get(origin.key);
    if (!idle) return null;
    const now = performance.now();
    for (let connection = idle.pop(); connection; connection = idle.pop()) {
      if (!connection.closed && now - connection.idleSince < connection.keepAliveMs) return connection;
      connection.destroy();
    }
    return null;
  }

  /** A connection whose exchange ended cleanly: kept idle for the next request, or closed. */
  release(connection: Connection): void {
    this.busy.delete(connection);
    const origin = connection.origin;
    let idle = this.idle.get(origin.key);
    if (!idle) this.idle.set(origin.key, (idle = []));
    if (this.closed || idle.length >= this.maxIdlePerOrigin) return connection.destroy();
    connection.idleSince = performance.now();
    idle.push(connection);
    this.sweepLater();
  }

  /** A connection that closed: out of the pool and the busy set. */
  forget(connection: Connection): void {
    this.busy.delete(connection);
    const idle = this.idle.get(connection.origin.key);
    const at = idle ? idle.indexOf(connection) : -1;
    if (at >= 0) idle!.splice(at, 1);
  }

  /** Idle connections past their keep-alive are closed once a second, while any are idle. */
  private sweepLater(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = performance.now();
      let left = 0;
      for (const idle of this.idle.values()) {
        for (const connection of [...idle]) {
          if (now - connection.idleSince >= connection.keepAliveMs) connection.destroy();
        }
        left += idle.length;
      }
      if (left === 0 && this.sweeper) {
        clearInterval(this.sweeper);
        this.sweeper = null;
      }
    }, 1_000);
    this.sweeper.unref?.();
  }

  close(): void {
    this.closed = true;
    for (const idle of this.idle.values()) for (const connection of [...idle]) connection.destroy();
    this.idle.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  connections(): { idle: number; busy: number } {
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { idle, busy: this.busy.size };
  }
}

/** Builds the pooled HTTP/1.1 client. */
export function createUpstreamHttp(options: UpstreamHttpOptions = {}): UpstreamHttp {
  const client = new Client(options);
  return { fetch: client.fetch, close: () => client.close(), connections: () => client.connections() };
}
