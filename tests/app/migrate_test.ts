// `migrate`: creates or updates the schema and seeds the plans, then exits; running it again changes nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSandbox, runJson, runMain, type Sandbox } from "./process_support.ts";

describe("migrate", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await createSandbox();
  });
  afterAll(async () => sandbox.remove());

  test("migrate on an empty database applies every migration and exits 0, and a second run is a no-op", async () => {
    const first = await runJson<{ migrated: boolean; migrations: string[] }>(["migrate"], sandbox.env());
    expect(first.migrated).toBe(true);
    expect(first.migrations.length).toBeGreaterThanOrEqual(2);
    expect(first.migrations[0]).toContain("initial");
    const second = await runJson<{ migrations: string[] }>(["migrate"], sandbox.env());
    expect(second.migrations).toEqual(first.migrations);
    const plans = await runMain(["license", "create", "--email", "m@example.com", "--plan", "founders"], sandbox.env());
    expect(plans.code).toBe(0);
  });

  test("migrate with an extra argument prints the usage and exits 2", async () => {
    const result = await runMain(["migrate", "now"], sandbox.env());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unexpected argument: now");
    expect(result.stderr).toContain("Usage:");
  });
});
