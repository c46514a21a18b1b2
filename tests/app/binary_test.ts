// The single binary as an operator gets it: built with package.json's build script (`npm run build`), alone in
// an empty directory, it migrates a fresh database of the run's dialect (a throwaway MariaDB database in the
// MariaDB run), runs the CLI, and serves the admin login page, the Swagger page with its assets, and
// /api/validate, with nothing of the repository around it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../../bench/_setup.ts";
import { MARIADB_MIGRATIONS } from "../../src/adapters/db/migrations/mariadb/list.ts";
import { SQLITE_MIGRATIONS } from "../../src/adapters/db/migrations/sqlite/list.ts";
import { FTL_OPTION } from "../../src/app/ftl.ts";
import { createSandbox, environmentOf, randomKey, REPO_ROOT, runJson, startServe, TEST_DIALECT, type Program, type Sandbox, type ServeProcess } from "./process_support.ts";

const SWAGGER_UI = join(REPO_ROOT, "node_modules", "swagger-ui-dist");

describe("the single binary, alone in an empty directory", () => {
  let directory: string;
  let program: Program;
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let server: ServeProcess | null = null;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "chatello-binary-"));
    const binary = buildBinary(REPO_ROOT, join(directory, "chatello"));
    program = { command: [binary], cwd: directory };
    sandbox = await createSandbox();
    env = sandbox.env({ NODE_ENV: "production", ENCRYPTION_KEY: randomKey() });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await sandbox?.remove();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  test("the build leaves one file: the executable", async () => {
    expect(await readdir(directory)).toEqual(["chatello"]);
    expect((await stat(join(directory, "chatello"))).mode & 0o100).toBe(0o100);
  });

  test(`migrate applies every ${TEST_DIALECT} migration to a fresh database`, async () => {
    const expected = (TEST_DIALECT === "mariadb" ? MARIADB_MIGRATIONS : SQLITE_MIGRATIONS).map((m) => m.name);
    const migrated = await runJson<{ migrated: boolean; migrations: string[] }>(["migrate"], env, program);
    expect(migrated).toEqual({ migrated: true, migrations: expected });
  }, 60_000);

  test("serve answers the admin login page, the Swagger page and its assets, and /api/validate", async () => {
    const created = await runJson<{ license_key: string }>(["license", "create", "--email", "binary@example.com", "--plan", "pro"], env, program);
    server = await startServe(env, program);
    // The binary re-executed itself in place with the FTL JIT off (src/app/ftl.ts).
    expect(environmentOf(server.pid)[FTL_OPTION]).toBe("0");

    const login = await fetch(`${server.url}/admin/login`);
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('name="password"');

    const page = await fetch(`${server.url}/swagger`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const asset of ["swagger-ui.css", "swagger-ui-bundle.js"]) {
      expect(html).toContain(`/swagger/assets/${asset}`);
      const answer = await fetch(`${server.url}/swagger/assets/${asset}`);
      expect(answer.status).toBe(200);
      // The file Swagger UI ships, byte for byte, from inside the binary.
      expect(new Uint8Array(await answer.arrayBuffer())).toEqual(new Uint8Array(await Bun.file(join(SWAGGER_UI, asset)).arrayBuffer()));
    }
    const document = (await (await fetch(`${server.url}/swagger/json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toStartWith("3.");
    expect(Object.keys(document.paths)).toContain("/api/validate");

    const validate = await fetch(`${server.url}/api/validate`, { method: "POST", headers: { "X-License-Key": created.license_key } });
    expect(validate.status).toBe(200);
    expect(await validate.json()).toMatchObject({ valid: true, plan: "pro" });
  }, 60_000);
});
