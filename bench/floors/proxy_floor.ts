// Pass-through floor for the proxy: a bare Bun.serve that forwards each request's body to the fake upstream's
// /v1/chat/completions with fetch and hands its answer (JSON or the SSE stream, unread) straight back. No
// license, admission, metering or parsing: only what any Bun proxy pays for a second hop on this machine,
// measured in the same run as the service (issue 7 quotes about 0.1 ms added at p50 for it).
// Usage: bun bench/floors/proxy_floor.ts --port N --upstream http://127.0.0.1:M
import { flags } from "./_validate_answer.ts";

const args = flags(process.argv.slice(2));
const upstream = `${String(args.upstream).replace(/\/+$/, "")}/v1/chat/completions`;

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(args.port),
  async fetch(request) {
    const answer = await fetch(upstream, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: request.headers.get("authorization") ?? "" },
      body: await request.text(),
    });
    return new Response(answer.body, { status: answer.status, headers: { "content-type": answer.headers.get("content-type") ?? "application/json" } });
  },
});
