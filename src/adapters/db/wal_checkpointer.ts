// The embedded database's checkpoints on a thread of their own. SQLite copies its write-ahead log into the
// database file inside whichever commit crosses wal_autocheckpoint, on the serving connection, so that commit
// (and the whole event loop with it, bun:sqlite being synchronous) waits for the copy and its two fsyncs:
// 3-40 ms each time. Measured at one chat client, those stalls were the requests of the 99.9th percentile
// (15 ms, 5 ms without them); at 64 clients they came about once a second, up to 42 ms.
// A worker with its own connection runs PASSIVE checkpoints instead: they copy what is in the log without
// taking the write lock, so the serving connection keeps committing meanwhile. The serving connection keeps
// a far larger threshold of its own, in case the worker stalls; if the worker fails, it is back to the usual
// until a new worker, started after a pause that doubles with each failure in a row, takes over again.
import { resolve } from "node:path";
import { WAL_AUTOCHECKPOINT_PAGES } from "./bun_sqlite_dialect.ts";

/** How often the worker copies the log into the database file. */
export const WAL_CHECKPOINT_INTERVAL_MS = 500;

/** Log pages after which the serving connection checkpoints by itself all the same (the worker is stuck). */
export const WAL_BACKSTOP_PAGES = 4 * WAL_AUTOCHECKPOINT_PAGES;

/** How long a stop waits for the worker to close its connection before ending the thread. */
const STOP_WAIT_MS = 2000;

/** How long the worker may take to open the database before the serving connection keeps the checkpoints. */
const START_WAIT_MS = 5000;

/** The pause before a new worker replaces one that failed; it doubles with each failure in a row, up to the cap. */
export const WAL_RESTART_DELAY_MS = 30_000;
const WAL_RESTART_DELAY_CAP_MS = 15 * 60_000;

// Plain JavaScript run from a Blob: a worker file of its own would need a second entry point in the binary.
// It reports a checkpoint only when it moved the log (an idle database costs no message and no fsync).
const WORKER_SOURCE = `
import { Database } from "bun:sqlite";
let db = null;
let timer = null;
const failed = (error) => postMessage({ type: "failed", message: String((error && error.message) || error) });
self.onmessage = ({ data }) => {
  if (data.type === "start") {
    let checkpoint;
    try {
      db = new Database(data.file, { readwrite: true, create: false });
      checkpoint = db.query("PRAGMA wal_checkpoint(PASSIVE)");
      checkpoint.get();
    } catch (error) {
      return failed(error);
    }
    let last = "";
    timer = setInterval(() => {
      try {
        const result = checkpoint.get();
        const seen = result.log + "/" + result.checkpointed;
        if (result.checkpointed > 0 && seen !== last) postMessage({ type: "checkpointed", pages: result.checkpointed, log: result.log });
        last = seen;
      } catch (error) {
        clearInterval(timer);
        failed(error);
      }
    }, data.intervalMs);
    postMessage({ type: "started" });
  } else if (data.type === "stop") {
    clearInterval(timer);
    try {
      db && db.close();
    } catch {}
    postMessage({ type: "stopped" });
  }
};
`;

/** The serving connection's side: the threshold at which its own commits checkpoint. */
export interface CheckpointedConnection {
  setWalAutocheckpoint(pages: number): void;
}

/** A running checkpointer. */
export interface WalCheckpointer {
  /** Resolves true once the first worker checkpoints, false when it could not start (the connection then does it). */
  readonly started: Promise<boolean>;
  /** Checkpoints that moved the log, by every worker so far. */
  readonly checkpoints: number;
  /** True while a worker does the checkpoints. */
  readonly running: boolean;
  /** Workers started after one failed. */
  readonly restarts: number;
  /** Closes the worker's connection and ends its thread; the serving connection checkpoints by itself again. */
  stop(): Promise<void>;
}

export interface WalCheckpointerOptions {
  file: string;
  connection: CheckpointedConnection;
  intervalMs?: number;
  /** The first pause before a failed worker is replaced (WAL_RESTART_DELAY_MS by default). */
  restartDelayMs?: number;
  /**
   * Told when a worker fails, with the pause before the next one: the serving connection has already taken
   * the checkpoints back.
   */
  onError?: (error: Error) => void;
}

/**
 * Starts checkpointing `file` (a SQLite database in WAL mode that `connection` serves) on a worker thread, and
 * replaces a worker that fails (a full disk, say) once the pause is over, until stopped.
 */
export function startWalCheckpointer(options: WalCheckpointerOptions): WalCheckpointer {
  const firstDelay = options.restartDelayMs ?? WAL_RESTART_DELAY_MS;
  let delay = firstDelay;
  let restarts = 0;
  let stopping = false;
  let pause: ReturnType<typeof setTimeout> | null = null;
  let finished = 0;
  const launch = (): CheckpointWorker => {
    const launchedAt = Date.now();
    return startWorker(options, (error) => {
      if (stopping) return;
      // A worker that lasted longer than the longest pause ends the run of failures.
      if (Date.now() - launchedAt > WAL_RESTART_DELAY_CAP_MS) delay = firstDelay;
      options.onError?.(new Error(`${error.message}; a new worker will take over in ${delay / 1000} s`));
      pause = setTimeout(() => {
        pause = null;
        restarts += 1;
        finished += current.checkpoints;
        current = launch();
      }, delay);
      pause.unref?.();
      delay = Math.min(delay * 2, WAL_RESTART_DELAY_CAP_MS);
    });
  };
  let current = launch();
  return {
    started: current.started,
    get checkpoints() {
      return finished + current.checkpoints;
    },
    get running() {
      return current.running;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      if (pause) clearTimeout(pause);
      pause = null;
      await current.stop();
    },
  };
}

/** One worker thread and its connection. */
interface CheckpointWorker {
  readonly started: Promise<boolean>;
  readonly checkpoints: number;
  readonly running: boolean;
  stop(): Promise<void>;
}

/** Starts one worker; `failed` is told once if it fails (not when stopped). */
function startWorker(options: WalCheckpointerOptions, failed: (error: Error) => void): CheckpointWorker {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
  // A worker is a JavaScript heap of its own: about 3.5 MB resident, `smol` keeps it small.
  const worker = new Worker(url, { smol: true } as WorkerOptions);
  // The thread never keeps the process alive (Bun's Worker has unref, the DOM type does not know it).
  (worker as Worker & { unref(): void }).unref();
  let running = false;
  let ended = false;
  let checkpoints = 0;
  let settleStarted: (value: boolean) => void = () => {};
  const started = new Promise<boolean>((resolve) => (settleStarted = resolve));
  let stopped: () => void = () => {};

  const end = (error: Error | null) => {
    if (ended) return;
    ended = true;
    running = false;
    options.connection.setWalAutocheckpoint(WAL_AUTOCHECKPOINT_PAGES);
    settleStarted(false);
    worker.terminate();
    URL.revokeObjectURL(url);
    if (error) failed(error);
  };

  worker.onmessage = ({ data }: MessageEvent<{ type: string; message?: string }>) => {
    if (data.type === "started" && !ended) {
      running = true;
      options.connection.setWalAutocheckpoint(WAL_BACKSTOP_PAGES);
      settleStarted(true);
    } else if (data.type === "checkpointed") {
      checkpoints += 1;
    } else if (data.type === "failed") {
      end(new Error(`checkpointing the SQLite log on a worker failed: ${data.message}`));
    } else if (data.type === "stopped") {
      stopped();
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    end(new Error(`the SQLite checkpoint worker failed: ${event.message}`));
  };
  worker.postMessage({ type: "start", file: resolve(options.file), intervalMs: options.intervalMs ?? WAL_CHECKPOINT_INTERVAL_MS });
  const startLimit = setTimeout(() => {
    if (!running) end(new Error(`the SQLite checkpoint worker did not start within ${START_WAIT_MS} ms`));
  }, START_WAIT_MS);
  void started.then(() => clearTimeout(startLimit));

  return {
    started,
    get checkpoints() {
      return checkpoints;
    },
    get running() {
      return running;
    },
    async stop() {
      if (ended) return;
      // Its connection closed first, or the file's last close would not remove the log.
      const closed = new Promise<void>((resolve) => {
        stopped = resolve;
        setTimeout(resolve, STOP_WAIT_MS).unref?.();
      });
      worker.postMessage({ type: "stop" });
      await closed;
      end(null);
    },
  };
}
