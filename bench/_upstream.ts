// The fake upstream of tests/support/fake_upstream.ts as the benchmark's own process.
// - It records every request it answers (tests read them); over a benchmark's hundreds of thousands of
//   requests that list would grow by gigabytes and slow the baseline down, so it is emptied every second.
// - JSON answers come at once; stream events are paced `--chunk-delay-ms` apart (the first one at once),
//   so a proxy that held the stream back would show in the time to the first event.
// Usage: bun bench/_upstream.ts --port N [--chunk-delay-ms MS]
import { parseArgs } from "node:util";
import { startFakeUpstream } from "../tests/support/fake_upstream.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string", default: "0" }, "chunk-delay-ms": { type: "string", default: "0" } },
});
const upstream = await startFakeUpstream({ port: Number(values.port) });
upstream.defaultBehaviour = { chunkDelayMs: Number(values["chunk-delay-ms"]) };
setInterval(() => {
  upstream.requests.length = 0;
}, 1000);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void upstream.stop().then(() => process.exit(0));
  });
}
