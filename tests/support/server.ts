// Starts the real service (`bun src/app/main.ts serve`) as a child process for browser tests.
// Contract with src/app/main.ts: `serve` listens on HOST:PORT, stores everything under DATA_DIR
// and DATABASE_URL, and answers `GET /api/health` with 200 once it is ready.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** A running service started by `startServer`. */
export interface RunningServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops the process and removes its temporary data directory; safe to call twice. */
  stop(): Promise<void>;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
}

const repoRoot = resolve(import.meta.dir, "..", "..");
const entry = join(repoRoot, "src", "app", "main.ts");
const readyTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;

/** Path of the Bun the project pins; falls back to the Bun running the tests. */
function bunExecutable(): string {
  const pinned = join(repoRoot, "node_modules", ".bin", "bun");
  return existsSync(pinned) ? pinned : process.execPath;
}

/** Asks the OS for a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export function freePort(): number {
  const probe = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data() {} },
  });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Collects a child's output stream into `sink` until the stream ends. */
export async function drain(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.push(decoder.decode(value, { stream: true }));
    }
    sink.push(decoder.decode());
  } catch {
    // The stream errors when the process is killed; what we collected is still useful.
  }
}

/** Starts the service on a free port with a fresh SQLite database and waits until it is healthy. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "chatello-e2e-"));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const command = [bunExecutable(), entry, "serve"];
  const chunks: string[] = [];
  const output = () => chunks.join("");

  if (!existsSync(entry)) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      `Cannot start the Chatello service: ${entry} does not exist. ` +
        "Browser tests need `bun src/app/main.ts serve` (PORT, HOST, DATABASE_URL, DATA_DIR, LOG_LEVEL).",
    );
  }

  const child = Bun.spawn(command, {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(dataDir, "chatello.db")}`,
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const drained = Promise.all([drain(child.stdout, chunks), drain(child.stderr, chunks)]);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(stopTimeoutMs).then(() => false)]);
        if (!exited) {
          child.kill("SIGKILL");
          await child.exited;
        }
      }
      await Promise.race([drained, Bun.sleep(1_000)]);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const describeFailure = (reason: string) =>
    new Error(
      `Chatello service did not become healthy: ${reason}\n` +
        `command: ${command.join(" ")} (cwd ${repoRoot})\n` +
        `expected: GET ${url}/api/health answers 200 within ${readyTimeoutMs / 1000} s\n` +
        `--- service output ---\n${output().trimEnd() || "(no output)"}\n--- end of output ---`,
    );

  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await Promise.race([drained, Bun.sleep(1_000)]);
      const how = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
      await stop();
      throw describeFailure(`the process exited early with ${how}`);
    }
    try {
      const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return { url, stop, output };
      lastProblem = `GET /api/health answered ${response.status}`;
    } catch (error) {
      lastProblem = `GET /api/health failed: ${(error as Error).message}`;
    }
    await Bun.sleep(100);
  }
  await stop();
  throw describeFailure(`timed out after ${readyTimeoutMs / 1000} s (last attempt: ${lastProblem})`);
}
