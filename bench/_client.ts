// A minimal HTTP/1.1 keep-alive client over one TCP socket, for the 1-connection latency figures:
// autocannon records latency in whole milliseconds, and the targets are fractions of a millisecond.
// It writes pre-encoded request bytes and parses just enough of the answer (status, headers,
// Content-Length or chunked body) to time the headers, the first body byte and the end of the answer.
import type { Socket } from "bun";

/** One request to send again and again: method, absolute URL, headers and optional body. */
export interface Target {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

/** One answer, timed from the moment the request was written (milliseconds). */
export interface Answer {
  status: number;
  headers: Map<string, string>;
  /** Headers complete. */
  headersMs: number;
  /** First byte of the body (for a stream: its first event); equals totalMs for an empty body. */
  firstBodyMs: number;
  /** The whole answer received. */
  totalMs: number;
  body: string;
}

/** The request bytes for a target (with Host and Content-Length; the connection stays open). */
export function encodeRequest(target: Target): Uint8Array {
  const url = new URL(target.url);
  const body = target.body === undefined ? new Uint8Array() : new TextEncoder().encode(target.body);
  const lines = [`${target.method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
  for (const [name, value] of Object.entries(target.headers)) lines.push(`${name}: ${value}`);
  if (target.method !== "GET" || body.length > 0) lines.push(`content-length: ${body.length}`);
  const head = new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

type State = "head" | "fixed" | "size" | "data" | "crlf" | "trailer";

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

/** One keep-alive connection answering one request at a time. */
export class HttpConnection {
  private socket!: Socket<undefined>;
  private pending: Buffer = Buffer.alloc(0);
  private state: State = "head";
  private remaining = 0;
  private startedAt = 0;
  private headersAt = 0;
  private firstBodyAt = 0;
  private status = 0;
  private headers = new Map<string, string>();
  private chunks: Buffer[] = [];
  private unsent: Uint8Array | null = null;
  private waiter: { resolve(answer: Answer): void; reject(error: Error): void } | null = null;

  /** Connects to the host and port of `url`. */
  static async open(url: string): Promise<HttpConnection> {
    const connection = new HttpConnection();
    const { hostname, port } = new URL(url);
    connection.socket = await Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        data: (_socket, data) => connection.onData(data),
        drain: () => connection.flush(),
        close: () => connection.fail(new Error(`connection to ${url} closed`)),
        error: (_socket, error) => connection.fail(error),
      },
    });
    connection.socket.setNoDelay(true);
    return connection;
  }

  /** Sends the encoded request and resolves with its timed answer. */
  send(request: Uint8Array): Promise<Answer> {
    if (this.waiter) throw new Error("one request at a time");
    return new Promise<Answer>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.state = "head";
      this.chunks = [];
      this.headers = new Map();
      this.firstBodyAt = 0;
      this.startedAt = Bun.nanoseconds();
      this.unsent = request;
      this.flush();
    });
  }

  /** Fails the request in flight (if any) and closes the socket. */
  abort(error: Error): void {
    this.fail(error);
    this.socket.end();
  }

  /** Closes the socket. */
  close(): void {
    this.waiter = null;
    this.socket.end();
  }

  private flush(): void {
    if (!this.unsent) return;
    const written = this.socket.write(this.unsent);
    this.unsent = written >= this.unsent.length ? null : this.unsent.subarray(Math.max(0, written));
  }

  private fail(error: Error): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
  }

  private onData(data: Buffer): void {
    const now = Bun.nanoseconds();
    this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    try {
      this.parse(now);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private takeBody(now: number): void {
    const take = Math.min(this.remaining, this.pending.length);
    if (take === 0) return;
    if (this.firstBodyAt === 0) this.firstBodyAt = now;
    this.chunks.push(this.pending.subarray(0, take));
    this.pending = this.pending.subarray(take);
    this.remaining -= take;
  }

  private parse(now: number): void {
    for (;;) {
      switch (this.state) {
        case "head": {
          if (!this.waiter) return;
          const end = this.pending.indexOf(HEAD_END);
          if (end < 0) return;
          const lines = this.pending.toString("latin1", 0, end).split("\r\n");
          this.pending = this.pending.subarray(end + 4);
          this.status = Number(lines[0].split(" ")[1]);
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(":");
            this.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
          }
          this.headersAt = now;
          if (/chunked/i.test(this.headers.get("transfer-encoding") ?? "")) {
            this.state = "size";
          } else if (this.headers.has("content-length")) {
            this.remaining = Number(this.headers.get("content-length"));
            this.state = "fixed";
          } else {
            throw new Error("answer without Content-Length or chunked encoding");
          }
          break;
        }
        case "fixed":
          this.takeBody(now);
          if (this.remaining > 0) return;
          this.finish(now);
          break;
        case "size": {
          const end = this.pending.indexOf(CRLF);
          if (end < 0) return;
          const size = Number.parseInt(this.pending.toString("latin1", 0, end).split(";")[0], 16);
          this.pending = this.pending.subarray(end + 2);
          if (size === 0) {
            this.state = "trailer";
          } else {
            this.remaining = size;
            this.state = "data";
          }
          break;
        }
        case "data":
          this.takeBody(now);
          if (this.remaining > 0) return;
          this.state = "crlf";
          break;
        case "crlf":
          if (this.pending.length < 2) return;
          this.pending = this.pending.subarray(2);
          this.state = "size";
          break;
        case "trailer": {
          const end = this.pending.indexOf(CRLF);
          if (end < 0) return;
          this.pending = this.pending.subarray(end + 2);
          if (end === 0) this.finish(now);
          break;
        }
      }
    }
  }

  private finish(now: number): void {
    const waiter = this.waiter;
    this.waiter = null;
    this.state = "head";
    const ms = (at: number) => (at - this.startedAt) / 1e6;
    waiter?.resolve({
      status: this.status,
      headers: this.headers,
      headersMs: ms(this.headersAt),
      firstBodyMs: ms(this.firstBodyAt || now),
      totalMs: ms(now),
      body: Buffer.concat(this.chunks).toString("utf8"),
    });
  }
}
