// A typed client generated from the live OpenAPI document: openapi-typescript turns /swagger/json of a real
// `bun src/app/main.ts serve` process into TypeScript types, a program using them with openapi-fetch must
// compile (and a wrong call must not), and the same calls then work against the running service: an admin
// API token from the CLI creates a customer and a license, and the plugin API validates the new key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createClient from "openapi-fetch";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { createSandbox, LICENSE_KEY_PATTERN, randomKey, REPO_ROOT, runJson, startServe, type Sandbox, type ServeProcess } from "./process_support.ts";

/** A program written against the generated `paths`: what a third-party developer would write. */
const CLIENT_PROGRAM = `
import createClient from "openapi-fetch";
import type { paths } from "./chatello.d.ts";

export async function run(baseUrl: string, adminToken: string): Promise<boolean> {
  const client = createClient<paths>({ baseUrl });
  const admin = { Authorization: \`Bearer \${adminToken}\` };
  const customer = await client.POST("/api/admin/customers", { headers: admin, body: { email: "typed@example.com", name: "Typed Client" } });
  const customerId = customer.data?.id;
  const issued = await client.POST("/api/admin/licenses", { headers: admin, body: { email: "typed@example.com", plan: "pro" } });
  const key: string | undefined = issued.data?.license_key;
  if (!key || customerId === undefined) return false;
  const validated = await client.POST("/api/validate", { headers: { "X-License-Key": key }, body: { site_url: null } });
  const valid: boolean | undefined = validated.data?.valid;
  const plan: string | undefined = validated.data?.plan;
  const limit: number | undefined = validated.data?.limits.max_sites;
  const code: string | undefined = validated.error?.code;
  void plan; void limit; void code;
  return valid === true;
}

export async function wrongCalls(baseUrl: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });
  // @ts-expect-error site_url is a string or null, never a number
  await client.POST("/api/validate", { body: { site_url: 42 } });
  // @ts-expect-error a license needs a plan
  await client.POST("/api/admin/licenses", { body: { email: "x@example.com" } });
  // @ts-expect-error no such route
  await client.GET("/api/nowhere");
  const validated = await client.POST("/api/validate", { body: {} });
  // @ts-expect-error valid is a boolean
  const wrong: string | undefined = validated.data?.valid;
  void wrong;
}
`;

/** Type-checks the generated types and the program; returns the diagnostics as text. */
function typeCheck(dir: string): string[] {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    types: [],
    // The temp dir has no node_modules: resolve the client library from the repository's.
    baseUrl: dir,
    paths: { "openapi-fetch": [join(REPO_ROOT, "node_modules", "openapi-fetch")] },
  };
  const program = ts.createProgram([join(dir, "chatello.d.ts"), join(dir, "client.ts")], options);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

describe("a typed client generated from the live OpenAPI document", () => {
  let sandbox: Sandbox;
  let server: ServeProcess;
  let env: Record<string, string>;
  let adminToken = "";
  let doc: any;
  let dir = "";

  beforeAll(async () => {
    sandbox = await createSandbox();
    env = sandbox.env({ ENCRYPTION_KEY: randomKey() });
    const created = await runJson<{ token: string; scope: string }>(["token", "create", "--name", "t", "--scope", "write"], env);
    adminToken = created.token;
    server = await startServe(env);
    const res = await fetch(`${server.url}/swagger/json`);
    expect(res.status).toBe(200);
    doc = await res.json();
    dir = await mkdtemp(join(tmpdir(), "chatello-openapi-client-"));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await sandbox?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("openapi-typescript generates types that a client program compiles against (and wrong calls do not)", async () => {
    const source = astToString(await openapiTS(structuredClone(doc)));
    for (const path of ["/api/validate", "/api/admin/customers", "/api/admin/licenses"]) expect(source).toContain(`"${path}"`);
    await writeFile(join(dir, "chatello.d.ts"), source);
    await writeFile(join(dir, "client.ts"), CLIENT_PROGRAM);
    expect(typeCheck(dir)).toEqual([]);
  }, 60_000);

  test("admin API token → customer → license → POST /api/validate, through openapi-fetch", async () => {
    const client = createClient<any>({ baseUrl: server.url });
    const admin = { Authorization: `Bearer ${adminToken}` };

    const customer = await client.POST("/api/admin/customers", { headers: admin, body: { email: "typed@example.com", name: "Typed Client" } });
    expect(customer.response.status).toBe(201);
    expect(customer.data).toMatchObject({ email: "typed@example.com", name: "Typed Client" });
    expect(doc.paths["/api/admin/customers"].post.responses["201"]).toBeDefined();

    const issued = await client.POST("/api/admin/licenses", { headers: admin, body: { email: "typed@example.com", plan: "pro" } });
    expect(issued.response.status).toBe(201);
    expect(issued.data.license_key).toMatch(LICENSE_KEY_PATTERN);
    expect(issued.data.customer_id).toBe(customer.data.id);
    expect(doc.paths["/api/admin/licenses"].post.responses["201"]).toBeDefined();

    const validated = await client.POST("/api/validate", { headers: { "X-License-Key": issued.data.license_key }, body: {} });
    expect(validated.response.status).toBe(200);
    expect(validated.data).toMatchObject({ valid: true, status: "active", plan: "pro" });

    // An error answer comes back as `error`, in the documented shape.
    const refused = await client.POST("/api/validate", { body: {} });
    expect(refused.response.status).toBe(401);
    expect(refused.error).toEqual({ error: "License key required", code: "license_missing" });
  }, 60_000);

  test("the program compiled above also runs against the service", async () => {
    // The same source, run for real (Bun strips the types): it answers true only when validate said valid.
    const runnable = CLIENT_PROGRAM.replaceAll("typed@example.com", "typed2@example.com").replace(
      'from "openapi-fetch"',
      `from ${JSON.stringify(join(REPO_ROOT, "node_modules", "openapi-fetch", "dist", "index.mjs"))}`,
    );
    await writeFile(join(dir, "client_run.ts"), runnable);
    const module = await import(join(dir, "client_run.ts"));
    expect(await module.run(server.url, adminToken)).toBe(true);
  }, 60_000);
});
