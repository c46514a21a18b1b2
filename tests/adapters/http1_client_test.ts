// The pooled HTTP/1.1 client of the provider adapters, against scripted servers on 127.0.0.1 that write the
// exact bytes of each answer (split, framed and broken as the test says) and count connections and requests.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { join } from "node:path";
import { createUpstreamHttp, type UpstreamHttp } from "../../src/adapters/providers/http1_client.ts";

interface Received {
  head: string;
  headers: Map<string, string>;
  body: Buffer;
  connection: number;
}

type Reply = (socket: Socket<ServerConn>, request: Received, index: number) => void | Promise<void>;

interface ServerConn {
  id: number;
  buffer: Buffer;
}

interface Scripted {
  url: string;
  port: number;
  requests: Received[];
  connections: number;
  /** Connections that closed, by either side. */
  closed: number;
  stop(): void;
}

/** A server that parses each request (Content-Length bodies) and lets `reply` write the answer's bytes. */
function scriptedServer(reply: Reply, tls?: { cert: string; key: string }): Scripted {
  const state: Scripted = { url: "", port: 0, requests: [], connections: 0, closed: 0, stop: () => {} };
  const listener: TCPSocketListener<ServerConn> = Bun.listen<ServerConn>({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    socket: {
      open(socket) {
        state.connections += 1;
        socket.data = { id: state.connections, buffer: Buffer.alloc(0) };
      },
      data(socket, chunk) {
        const conn = socket.data;
        conn.buffer = Buffer.concat([conn.buffer, chunk]);
        for (;;) {
          const end = conn.buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = conn.buffer.toString("latin1", 0, end);
          const headers = new Map<string, string>();
          for (const line of head.split("\r\n").slice(1)) {
            const colon = line.indexOf(":");
            headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
          }
          const length = Number(headers.get("content-length") ?? 0);
          if (conn.buffer.length < end + 4 + length) return;
          const body = conn.buffer.subarray(end + 4, end + 4 + length);
          conn.buffer = conn.buffer.subarray(end + 4 + length);
          const request = { head, headers, body: Buffer.from(body), connection: conn.id };
          state.requests.push(request);
          void reply(socket, request, state.requests.length - 1);
        }
      },
      end(socket) {
        socket.end();
      },
      close() {
        state.closed += 1;
      },
      error() {},
    },
  });
  state.port = listener.port;
  state.url = `${tls ? "https" : "http"}://127.0.0.1:${listener.port}`;
  state.stop = () => listener.stop(true);
  return state;
}

const OK_JSON = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

/** Writes `text` in pieces of `size` bytes, `delayMs` apart. */
async function dribble(socket: Socket<ServerConn>, text: string | Buffer, size: number, delayMs = 1): Promise<void> {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  for (let i = 0; i < bytes.length; i += size) {
    socket.write(bytes.subarray(i, i + size));
    await Bun.sleep(delayMs);
  }
}

function chunked(...pieces: string[]): string {
  return pieces.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join("") + "0\r\n\r\n";
}

let servers: Scripted[] = [];
let clients: UpstreamHttp[] = [];

function server(reply: Reply, tls?: { cert: string; key: string }): Scripted {
  const s = scriptedServer(reply, tls);
  servers.push(s);
  return s;
}

function client(options: Parameters<typeof createUpstreamHttp>[0] = {}): UpstreamHttp {
  const c = createUpstreamHttp({ fallback: (() => Promise.reject(new Error("fallback used"))) as unknown as typeof fetch, ...options });
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.stop();
  clients = [];
  servers = [];
});

const post = (body = '{"q":1}', headers: Record<string, string> = { "content-type": "application/json" }) => ({ method: "POST", headers, body });

describe("pooled HTTP/1.1 client: requests", () => {
  test("writes the method, path, query, Host, Content-Length, identity encoding, a User-Agent and the caller's headers", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const http = client();
    const response = await http.fetch(`${s.url}/v1/chat/completions?x=1`, post('{"model":"m"}', { authorization: "Bearer sk-1", "X-Custom": "a b" }));
    expect(await response.json()).toEqual({ ok: true });
    const [request] = s.requests;
    expect(request.head.split("\r\n")[0]).toBe("POST /v1/chat/completions?x=1 HTTP/1.1");
    expect(request.headers.get("host")).toBe(`127.0.0.1:${s.port}`);
    expect(request.headers.get("content-length")).toBe(String(Buffer.byteLength('{"model":"m"}')));
    expect(request.headers.get("accept-encoding")).toBe("identity");
    expect(request.headers.get("user-agent")).toBe("chatello");
    expect(request.headers.get("authorization")).toBe("Bearer sk-1");
    expect(request.headers.get("x-custom")).toBe("a b");
    expect(request.body.toString()).toBe('{"model":"m"}');
  });

  test("a body of several megabytes arrives whole (the socket's back-pressure is waited out)", async () => {
    const s = server((socket, request) => void socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${String(request.body.length).length}\r\n\r\n${request.body.length}`));
    const body = "é".repeat(3 * 1024 * 1024);
    const response = await client().fetch(`${s.url}/big`, post(body));
    expect(await response.text()).toBe(String(Buffer.byteLength(body)));
    expect(s.requests[0].body.toString("utf8") === body).toBe(true);
  });

  test("a header value with a line break or NUL is refused before anything is sent (no header injection)", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const http = client();
    for (const value of ["Bearer sk\r\nx-injected: 1", "Bearer sk\nx: 1", "a\u0000b", "ключ"]) {
      const error = await http.fetch(`${s.url}/`, post("{}", { authorization: value })).catch((e) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(String(error.message)).not.toContain("sk");
    }
    const badName = await http.fetch(`${s.url}/`, post("{}", { "bad name": "x" })).catch((e) => e);
    expect(badName).toBeInstanceOf(TypeError);
    expect(s.connections).toBe(0);
    expect(s.requests).toHaveLength(0);
  });

  test("Host, Content-Length and Transfer-Encoding from the caller are replaced by the client's own", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    await client().fetch(`${s.url}/`, post("{}", { host: "evil.example", "content-length": "999", "transfer-encoding": "chunked" }));
    const [request] = s.requests;
    expect(request.headers.get("host")).toBe(`127.0.0.1:${s.port}`);
    expect(request.headers.get("content-length")).toBe("2");
    expect(request.headers.has("transfer-encoding")).toBe(false);
  });

  test("requests it does not speak go to the fallback (other schemes, stream bodies, credentials in the URL)", async () => {
    const seen: string[] = [];
    const fallback = async (input: any) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return new Response("fallback");
    };
    const http = client({ fallback: fallback as unknown as typeof fetch });
    expect(await (await http.fetch("ftp://example.test/x")).text()).toBe("fallback");
    expect(await (await http.fetch("http://user:pw@127.0.0.1:9/x")).text()).toBe("fallback");
    expect(await (await http.fetch("http://127.0.0.1:9/x", { method: "POST", body: new Blob(["x"]) })).text()).toBe("fallback");
    expect(seen).toHaveLength(3);
  });
});

describe("pooled HTTP/1.1 client: answers", () => {
  test("Content-Length answers: the connection is kept and reused for the next request", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const http = client();
    for (let i = 0; i < 5; i++) expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(s.requests).toHaveLength(5);
    expect(s.connections).toBe(1);
    expect(http.connections()).toEqual({ idle: 1, busy: 0 });
  });

  test("chunked answers split at every byte, with chunk extensions and trailers, arrive exactly and keep the connection", async () => {
    const events = ["data: {\"a\":1}\n\n", "data: {\"b\":\"é\"}\n\n", "data: [DONE]\n\n"];
    const wire =
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
      `${Buffer.byteLength(events[0]).toString(16)};ext=1\r\n${events[0]}\r\n` +
      chunked(events[1], events[2]).replace("0\r\n\r\n", "0\r\nx-trailer: yes\r\n\r\n");
    const s = server((socket) => dribble(socket, Buffer.from(wire, "utf8"), 1, 0));
    const http = client();
    for (let i = 0; i < 2; i++) {
      const response = await http.fetch(`${s.url}/stream`, post());
      expect(response.headers.get("content-type")).toBe("text/event-stream");
      expect(await response.text()).toBe(events.join(""));
    }
    expect(s.connections).toBe(1);
  });

  test("a stream's first event reaches the reader before the rest of the answer exists", async () => {
    let release!: () => void;
    const later = new Promise<void>((resolve) => (release = resolve));
    const s = server(async (socket) => {
      socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n");
      await later;
      socket.write("6\r\nsecond\r\n0\r\n\r\n");
    });
    const response = await client().fetch(`${s.url}/`, post());
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first");
    release();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("second");
    expect((await reader.read()).done).toBe(true);
  });

  test("an answer framed by the end of the connection is complete when the server closes, and the connection is not reused", async () => {
    const s = server((socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end");
      socket.end();
    });
    const http = client();
    expect(await (await http.fetch(`${s.url}/`, post())).text()).toBe("until the end");
    expect(await (await http.fetch(`${s.url}/`, post())).text()).toBe("until the end");
    expect(s.connections).toBe(2);
  });

  test("`connection: close`, HTTP/1.0 and `keep-alive: timeout=1` answers are not reused", async () => {
    for (const head of ["HTTP/1.1 200 OK\r\nconnection: close", "HTTP/1.0 200 OK", "HTTP/1.1 200 OK\r\nkeep-alive: timeout=1"]) {
      const s = server((socket) => void socket.write(`${head}\r\ncontent-length: 2\r\n\r\nok`));
      const http = client();
      expect(await (await http.fetch(`${s.url}/`, post())).text()).toBe("ok");
      expect(await (await http.fetch(`${s.url}/`, post())).text()).toBe("ok");
      expect(s.connections).toBe(2);
    }
  });

  test("interim 1xx answers are skipped; 204 has no body and keeps the connection", async () => {
    const s = server((socket, _request, index) => {
      if (index === 0) socket.write("HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + OK_JSON);
      else socket.write("HTTP/1.1 204 No Content\r\n\r\n");
    });
    const http = client();
    const first = await http.fetch(`${s.url}/`, post());
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true });
    const second = await http.fetch(`${s.url}/`, post());
    expect(second.status).toBe(204);
    expect(second.body).toBeNull();
    expect(s.connections).toBe(1);
  });

  test("error statuses are answers, with their headers (Retry-After) and body", async () => {
    const s = server((socket) => void socket.write("HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: 4\r\n\r\nslow"));
    const response = await client().fetch(`${s.url}/`, post());
    expect(response.status).toBe(429);
    expect(response.statusText).toBe("Too Many Requests");
    expect(response.headers.get("retry-after")).toBe("3");
    expect(await response.text()).toBe("slow");
  });

  test("bytes after the end of an answer close the connection instead of poisoning the next answer", async () => {
    const s = server((socket, _request, index) => void socket.write(index === 0 ? OK_JSON + "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstale" : OK_JSON));
    const http = client();
    expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(s.connections).toBe(2);
  });

  test("malformed answers fail as network errors (TypeError) and close the connection", async () => {
    const cases = [
      "HTTP/2 200 OK\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nbad header line\r\ncontent-length: 2\r\n\r\nok",
      `HTTP/1.1 200 OK\r\nx-huge: ${"a".repeat(70_000)}\r\n\r\n`,
    ];
    for (const wire of cases) {
      const s = server((socket) => void socket.write(wire));
      const error = await client().fetch(`${s.url}/`, post()).then((r) => r.text()).catch((e) => e);
      expect(error).toBeInstanceOf(TypeError);
    }
    const badChunk = server((socket) => void socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n"));
    const response = await client().fetch(`${badChunk.url}/`, post());
    expect(await response.text().catch((e) => e)).toBeInstanceOf(TypeError);
  });

  test("an answer cut before its framing ends fails the body read (Content-Length and chunked)", async () => {
    for (const wire of ["HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"]) {
      const s = server((socket) => {
        socket.write(wire);
        setTimeout(() => socket.end(), 5);
      });
      const response = await client().fetch(`${s.url}/`, post());
      expect(response.status).toBe(200);
      expect(await response.text().catch((e) => e)).toBeInstanceOf(TypeError);
    }
  });

  test("a server that closes without answering fails the request; nothing was reused, so nothing is sent again", async () => {
    const s = server((socket) => void socket.end());
    const error = await client().fetch(`${s.url}/`, post()).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(s.requests).toHaveLength(1);
  });

  test("an unreachable port fails with a TypeError naming the host, not the request", async () => {
    const s = server(() => {});
    const port = s.port;
    s.stop();
    const error = await client().fetch(`http://127.0.0.1:${port}/`, post("{}", { authorization: "Bearer sk-secret" })).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(String(error.message)).toContain(`127.0.0.1:${port}`);
    expect(String(error.message)).not.toContain("sk-secret");
  });
});

describe("pooled HTTP/1.1 client: the pool", () => {
  test("a pooled connection the server closed while idle is left out of the pool", async () => {
    const s = server((socket) => {
      socket.write(OK_JSON);
      setTimeout(() => socket.end(), 5);
    });
    const http = client();
    await (await http.fetch(`${s.url}/`, post())).json();
    await Bun.sleep(50);
    expect(http.connections().idle).toBe(0);
    expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(s.connections).toBe(2);
  });

  test("a reused connection that dies before any byte of the answer is sent once more on a new connection", async () => {
    // The server drops the second request's connection without answering, as a server closing an idle
    // connection at the moment a request arrives does.
    const s = server((socket, request) => {
      if (request.connection === 1 && s.requests.filter((r) => r.connection === 1).length === 2) socket.terminate();
      else socket.write(OK_JSON);
    });
    const http = client();
    await (await http.fetch(`${s.url}/`, post())).json();
    expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(s.connections).toBe(2);
    expect(s.requests.map((r) => r.connection)).toEqual([1, 1, 2]);
  });

  test("idle connections older than idleTimeoutMs are not reused", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const http = client({ idleTimeoutMs: 30 });
    await (await http.fetch(`${s.url}/`, post())).json();
    await Bun.sleep(60);
    await (await http.fetch(`${s.url}/`, post())).json();
    expect(s.connections).toBe(2);
  });

  test("concurrent requests open one connection each and all go back to the pool, up to maxIdlePerOrigin", async () => {
    const s = server((socket) => void setTimeout(() => socket.write(OK_JSON), 5));
    const http = client({ maxIdlePerOrigin: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => http.fetch(`${s.url}/`, post()).then((r) => r.json())));
    expect(answers).toEqual(Array.from({ length: 8 }, () => ({ ok: true })));
    expect(s.connections).toBe(8);
    expect(http.connections()).toEqual({ idle: 3, busy: 0 });
  });

  test("a reader that stops early closes the connection; the next request gets a new one", async () => {
    const s = server(async (socket) => {
      socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n");
      await Bun.sleep(20);
      socket.write("6\r\nsecond\r\n0\r\n\r\n");
    });
    const http = client();
    const response = await http.fetch(`${s.url}/`, post());
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(http.connections()).toEqual({ idle: 0, busy: 0 });
    await Bun.sleep(30);
    expect(s.closed).toBe(1);
    expect(await (await http.fetch(`${s.url}/`, post())).text()).toBe("firstsecond");
    expect(s.connections).toBe(2);
  });

  test("close() closes the idle connections", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const http = client();
    await (await http.fetch(`${s.url}/`, post())).json();
    expect(http.connections().idle).toBe(1);
    http.close();
    expect(http.connections().idle).toBe(0);
    await Bun.sleep(30);
    expect(s.closed).toBe(1);
  });
});

describe("pooled HTTP/1.1 client: cancellation", () => {
  test("an abort before the answer rejects with the signal's reason and closes the connection", async () => {
    const s = server(() => {});
    const http = client();
    const controller = new AbortController();
    const pending = http.fetch(`${s.url}/`, { ...post(), signal: controller.signal });
    await Bun.sleep(20);
    controller.abort();
    const error = await pending.catch((e) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect(error.name).toBe("AbortError");
    expect(http.connections()).toEqual({ idle: 0, busy: 0 });
  });

  test("an abort mid-body errors the reader", async () => {
    const s = server((socket) => void socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n"));
    const controller = new AbortController();
    const response = await client().fetch(`${s.url}/`, { ...post(), signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    const error = await reader.read().catch((e) => e);
    expect(error.name).toBe("AbortError");
  });

  test("an already aborted signal sends nothing", async () => {
    const s = server((socket) => void socket.write(OK_JSON));
    const controller = new AbortController();
    controller.abort();
    const error = await client().fetch(`${s.url}/`, { ...post(), signal: controller.signal }).catch((e) => e);
    expect(error.name).toBe("AbortError");
    await Bun.sleep(10);
    expect(s.requests).toHaveLength(0);
  });
});

describe("pooled HTTP/1.1 client: TLS", () => {
  const dir = join(import.meta.dir, "..", "fixtures", "tls");
  const read = (name: string) => Bun.file(join(dir, name)).text();

  test("verifies the certificate chain: an unknown authority is refused before the request is written", async () => {
    const s = server((socket) => void socket.write(OK_JSON), { cert: await read("loopback.pem"), key: await read("loopback.key") });
    const error = await client().fetch(`${s.url}/`, post("{}", { authorization: "Bearer sk-secret" })).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(`TLS handshake with 127.0.0.1:${s.port} failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`);
    expect(s.requests).toHaveLength(0);
  });

  test("with the authority trusted, answers over TLS and reuses the connection", async () => {
    const s = server((socket) => void socket.write(OK_JSON), { cert: await read("loopback.pem"), key: await read("loopback.key") });
    const http = client({ ca: await read("ca.pem") });
    for (let i = 0; i < 3; i++) expect(await (await http.fetch(`${s.url}/`, post())).json()).toEqual({ ok: true });
    expect(s.connections).toBe(1);
  });

  test("verifies the host name: a trusted certificate for another name is refused", async () => {
    const s = server((socket) => void socket.write(OK_JSON), { cert: await read("other.pem"), key: await read("other.key") });
    const error = await client({ ca: await read("ca.pem") }).fetch(`${s.url}/`, post()).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(s.requests).toHaveLength(0);
  });
});
