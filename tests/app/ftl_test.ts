// When `serve` re-executes itself with the FTL JIT off (src/app/ftl.ts), and with which arguments; the process
// tests (main_test.ts, binary_test.ts) check a served process's environment.
import { describe, expect, test } from "bun:test";
import { FTL_OPTION, ftlRestart, type Started } from "../../src/app/ftl.ts";

const SOURCE: Started = {
  argv: ["/usr/bin/bun", "/srv/chatello/src/app/main.ts", "serve"],
  execArgv: ["--smol"],
  execPath: "/usr/bin/bun",
  env: { PATH: "/usr/bin", DATABASE_URL: "sqlite:data/chatello.db", UNSET: undefined },
  compiled: false,
};
const BINARY: Started = { argv: ["bun", "/$bunfs/root/chatello", "serve"], execArgv: [], execPath: "/opt/chatello/chatello", env: { PATH: "/usr/bin" }, compiled: true };

describe("ftlRestart", () => {
  test("from source: the runtime with its flags, the script and the arguments, and the environment plus the option", () => {
    expect(ftlRestart(SOURCE)).toEqual({
      path: "/usr/bin/bun",
      args: ["/usr/bin/bun", "--smol", "/srv/chatello/src/app/main.ts", "serve"],
      env: { PATH: "/usr/bin", DATABASE_URL: "sqlite:data/chatello.db", [FTL_OPTION]: "0" },
    });
  });

  test("the binary: itself and its arguments (the script inside it is not an argument)", () => {
    expect(ftlRestart(BINARY)).toEqual({ path: "/opt/chatello/chatello", args: ["/opt/chatello/chatello", "serve"], env: { PATH: "/usr/bin", [FTL_OPTION]: "0" } });
  });

  test("no command means serve", () => {
    expect(ftlRestart({ ...BINARY, argv: BINARY.argv.slice(0, 2) })?.args).toEqual(["/opt/chatello/chatello"]);
  });

  test("CLI commands, and a serve whose environment sets the option (whatever its value), run as they are", () => {
    expect(ftlRestart({ ...BINARY, argv: ["bun", "/$bunfs/root/chatello", "license", "list"] })).toBeNull();
    expect(ftlRestart({ ...BINARY, argv: ["bun", "/$bunfs/root/chatello", "migrate"] })).toBeNull();
    for (const value of ["0", "1", "false", ""]) expect(ftlRestart({ ...SOURCE, env: { ...SOURCE.env, [FTL_OPTION]: value } })).toBeNull();
  });
});
