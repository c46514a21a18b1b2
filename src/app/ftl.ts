// `serve` runs with JavaScriptCore's top JIT tier, the FTL, turned off. Measured on the binary at 64
// connections, in pairs with and without it: the resident size a full collection leaves under load is 3-4 MB
// lower, and the peaks 4-9 MB lower (validate on MariaDB 135-136 vs 140-142 MB; validate and chat on SQLite
// 141-143 vs 146-150 MB), at the same throughput: the service's hot code waits on sockets and SQLite, and the
// FTL's compilations (their memory, and the code they leave) bought it nothing the DFG tier below does not.
//
// JavaScriptCore reads its options once, from the environment, before any JavaScript runs. So a `serve` whose
// environment does not set BUN_JSC_useFTLJIT re-executes itself in place with BUN_JSC_useFTLJIT=0: the same
// program, process id, arguments and standard streams (process.execve). ftl_off.ts does it, and main.ts imports
// that first, so it happens before the service reads its configuration or opens anything; it costs the start
// about 80 ms. An operator who sets the variable (to 1, to keep the FTL) is left alone, and so is every CLI
// command.

/** The environment variable of JavaScriptCore's useFTLJIT option. */
export const FTL_OPTION = "BUN_JSC_useFTLJIT";

/** How this process was started. */
export interface Started {
  /** process.argv: the runtime, the script (the binary's own virtual path when compiled), then the arguments. */
  argv: readonly string[];
  /** Runtime flags given before the script (`bun --smol src/app/main.ts`); none in the binary. */
  execArgv: readonly string[];
  execPath: string;
  env: Readonly<Record<string, string | undefined>>;
  /** True in the single binary, whose script lives inside it. */
  compiled: boolean;
}

/** The execve that restarts a `serve` with the FTL off, or null when this process runs as it is. */
export function ftlRestart(started: Started): { path: string; args: string[]; env: Record<string, string> } | null {
  const command = started.argv[2];
  if ((command !== undefined && command !== "serve") || started.env[FTL_OPTION] !== undefined) return null;
  const args = started.compiled
    ? [started.execPath, ...started.argv.slice(2)]
    : [started.execPath, ...started.execArgv, ...started.argv.slice(1)];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(started.env)) if (value !== undefined) env[name] = value;
  env[FTL_OPTION] = "0";
  return { path: started.execPath, args, env };
}
