// Imported first by main.ts: a `serve` without BUN_JSC_useFTLJIT in its environment re-executes itself in place
// with the FTL JIT off (see ftl.ts for why and how).
import { ftlRestart } from "./ftl.ts";

const restart = ftlRestart({
  argv: process.argv,
  execArgv: process.execArgv,
  execPath: process.execPath,
  env: process.env,
  compiled: import.meta.path.startsWith("/$bunfs/"),
});
if (restart) (process as unknown as { execve(path: string, args: string[], env: Record<string, string>): never }).execve(restart.path, restart.args, restart.env);
