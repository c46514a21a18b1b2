// HTTP floor: a bare Bun.serve answering every request with the same fixed JSON (the bytes of a real
// /api/validate answer), so it measures only what Bun's HTTP server and the loopback cost.
// Usage: bun bench/floors/http_floor.ts --port N --body-file PATH
import { flags } from "./_validate_answer.ts";

const args = flags(process.argv.slice(2));
const body = await Bun.file(args["body-file"]).text();
const headers = { "content-type": "application/json;charset=utf-8" };

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(args.port),
  fetch: () => new Response(body, { headers }),
});
