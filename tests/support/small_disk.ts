// File systems that fail on purpose, for the SQLite fault tests: a small tmpfs that a filler file makes
// full, and a directory that turns read-only. Mounting needs root (or passwordless sudo, as in CI); root
// ignores file permissions, so a read-only directory is a tmpfs remounted read-only for root and plain
// chmod (0444 files, 0555 directory) for anyone else.
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const IS_ROOT = process.getuid?.() === 0;

/** Runs a command as root (directly, or with `sudo -n`), throwing with its output when it fails. */
function asRoot(command: string[]): void {
  const argv = IS_ROOT ? command : ["sudo", "-n", ...command];
  let failure: string | null = null;
  try {
    const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0) failure = `exit ${result.exitCode}: ${`${result.stdout.toString()}${result.stderr.toString()}`.trim()}`;
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  if (failure !== null) {
    throw new Error(`\`${argv.join(" ")}\` failed (${failure}). These tests need root or passwordless sudo to mount a tmpfs.`);
  }
}

/** A tmpfs of its own, mounted on a fresh directory. */
export interface SmallDisk {
  dir: string;
  /** Fills every free byte with a filler file. */
  fill(): void;
  /** Deletes the filler file. */
  free(): void;
  /** Remounts the tmpfs read-only or read-write (fails while a process has a file open for writing). */
  remount(mode: "ro" | "rw"): void;
  /** Unmounts it and removes the directory. */
  remove(): Promise<void>;
}

/** Mounts a tmpfs of `sizeBytes` on a fresh directory, writable by this process's user. */
export function mountSmallDisk(sizeBytes: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), "chatello-disk-"));
  const owner = IS_ROOT ? "" : `,uid=${process.getuid?.()},gid=${process.getgid?.()}`;
  try {
    asRoot(["mount", "-t", "tmpfs", "-o", `size=${sizeBytes},mode=0700${owner}`, "tmpfs", dir]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const filler = join(dir, "filler");
  return {
    dir,
    fill() {
      const fd = openSync(filler, "a");
      try {
        // Large writes first, then page-sized ones: a short write or ENOSPC means the disk is full.
        for (const size of [256 * 1024, 4096, 512]) {
          const chunk = Buffer.alloc(size, 1);
          for (;;) {
            try {
              if (writeSync(fd, chunk) < size) break;
            } catch (error) {
              if ((error as { code?: string }).code === "ENOSPC") break;
              throw error;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    remount(mode) {
      asRoot(["mount", "-o", `remount,${mode}`, dir]);
    },
    async remove() {
      // A process that just ended may hold the mount for a moment.
      for (let attempt = 1; ; attempt++) {
        try {
          asRoot(["umount", dir]);
          break;
        } catch (error) {
          if (attempt >= 20) throw error;
          await Bun.sleep(250);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A directory whose files can be made read-only for this process, by whichever means works for its user. */
export interface ReadOnlyCapableDir {
  dir: string;
  /** How read-only is made: "read-only tmpfs remount" (root) or "chmod" (any other user). */
  method: string;
  setReadOnly(readOnly: boolean): void;
  remove(): Promise<void>;
}

export function readOnlyCapableDir(): ReadOnlyCapableDir {
  if (IS_ROOT) {
    const disk = mountSmallDisk(16 * 1024 * 1024);
    return {
      dir: disk.dir,
      method: "read-only tmpfs remount",
      setReadOnly: (readOnly) => disk.remount(readOnly ? "ro" : "rw"),
      remove: () => disk.remove(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "chatello-ro-"));
  return {
    dir,
    method: "chmod",
    setReadOnly(readOnly) {
      if (!readOnly) chmodSync(dir, 0o755);
      for (const name of readdirSync(dir)) chmodSync(join(dir, name), readOnly ? 0o444 : 0o644);
      if (readOnly) chmodSync(dir, 0o555);
    },
    async remove() {
      if (existsSync(dir)) chmodSync(dir, 0o755);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
