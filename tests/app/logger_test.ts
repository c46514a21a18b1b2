import { describe, expect, test } from "bun:test";
import { createLogger, type LogLevel, redactText, redactValue } from "../../src/app/logger.ts";
import { DomainError } from "../../src/domain/shared/mod.ts";

const LICENSE = "CHA-1F3A9C0B-77D2E4A1-0B9C8D7E-A1B2C3D4";
const OPENAI = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz";
const ANTHROPIC = "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210-abcdQRST";
const DEEPSEEK = "sk-0123456789abcdef0123456789ab9f3e";
const BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
const SECRETS = [LICENSE, OPENAI, ANTHROPIC, DEEPSEEK, BEARER];

function capture(level: LogLevel = "debug") {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => lines.push(line));
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { lines, logger, records };
}

/** The parts of each secret that must never be written: everything past what the redaction keeps. */
function expectNoSecret(output: string) {
  for (const secret of SECRETS) expect(output).not.toContain(secret);
  expect(output).not.toContain("77D2E4A1");
  expect(output).not.toContain("A1B2C3D4");
  expect(output).not.toContain("AbCdEfGh");
  expect(output).not.toContain("ZyXwVuTs");
  expect(output).not.toContain("0123456789abcdef");
  expect(output).not.toContain("eyJhbGci");
}

describe("createLogger output", () => {
  test("each call writes one JSON object on one line with time, level, message and fields", () => {
    const { lines, logger, records } = capture();
    logger.info("license validated", { licenseId: 42, cached: true, plan: "pro" });
    expect(lines.length).toBe(1);
    expect(lines[0]).not.toContain("\n");
    const [record] = records();
    // pino's order: level and time open the line, the message closes it.
    const keys = Object.keys(record);
    expect([keys[0], keys[1], keys.at(-1)]).toEqual(["level", "time", "msg"]);
    expect(record).toMatchObject({ level: "info", msg: "license validated", licenseId: 42, cached: true, plan: "pro" });
    expect(new Date(record.time as string).toISOString()).toBe(record.time as string);
  });

  test("lines below the logger's level are dropped and silent drops everything", () => {
    const { logger, records } = capture("warn");
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(records().map((record) => record.level)).toEqual(["warn", "error"]);

    const silent = capture("silent");
    silent.logger.error("e");
    expect(silent.lines).toEqual([]);
  });

  test("child loggers add their fields to every line and calls can override them", () => {
    const { logger, records } = capture();
    const request = logger.child({ requestId: "r-1", route: "/api/chat" });
    request.info("start");
    request.child({ provider: "openai" }).info("upstream", { route: "/v1/chat/completions" });
    expect(records()).toEqual([
      expect.objectContaining({ msg: "start", requestId: "r-1", route: "/api/chat" }),
      expect.objectContaining({ msg: "upstream", requestId: "r-1", provider: "openai", route: "/v1/chat/completions" }),
    ]);
    expect(request.level).toBe("debug");
  });

  test("fields cannot overwrite the time, level or message of a line", () => {
    const { records, logger } = capture();
    logger.child({ level: "debug" }).error("real", { msg: "forged", time: "yesterday" });
    const [record] = records();
    expect(record).toMatchObject({ level: "error", msg: "real", field_msg: "forged", field_time: "yesterday", field_level: "debug" });
    expect(record.time).not.toBe("yesterday");
  });

  test("errors, dates, bytes, bigints and cycles are written as JSON-safe values", () => {
    const { records, logger } = capture();
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    logger.error("failed", {
      error: new DomainError("not_found", "license not found", { licenseId: 7 }),
      at: new Date("2025-01-02T03:04:05Z"),
      key: new Uint8Array(32).fill(1),
      big: 10n,
      cyclic,
      skipped: undefined,
      list: [1, undefined, "x"],
    });
    const [record] = records();
    expect(record.error).toMatchObject({
      name: "DomainError",
      message: "license not found",
      code: "not_found",
      details: { licenseId: 7 },
    });
    expect(record).toMatchObject({
      at: "2025-01-02T03:04:05.000Z",
      key: "[32 bytes]",
      big: "10",
      cyclic: { name: "loop", self: "[circular]" },
      list: [1, null, "x"],
    });
    expect("skipped" in record).toBe(false);
  });

  test("the default sink writes each line to stdout followed by a newline, kept even when the process exits at once", async () => {
    // A child process, because the default destination writes to file descriptor 1 itself (synchronously).
    const script = [
      `import { createLogger } from ${JSON.stringify(`${import.meta.dir}/../../src/app/logger.ts`)};`,
      "const logger = createLogger(\"info\");",
      "for (let i = 0; i < 200; i++) logger.info(\"hello\", { licenseKey: process.env.SECRET, i });",
      "process.exit(0);",
    ].join("\n");
    const child = Bun.spawn([process.execPath, "-e", script], { env: { ...process.env, SECRET: LICENSE }, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout.endsWith("}\n")).toBe(true);
    const lines = stdout.trimEnd().split("\n");
    expect(lines.length).toBe(200);
    expect(JSON.parse(lines[199])).toMatchObject({ msg: "hello", licenseKey: "[redacted]", i: 199 });
    expectNoSecret(stdout);
  });
});

describe("redaction", () => {
  test("license keys keep only their first group", () => {
    expect(redactText(`key ${LICENSE} rejected`)).toBe("key CHA-1F3A9C0B-… rejected");
    expect(redactText(LICENSE.toLowerCase())).toBe("cha-1f3a9c0b-…");
    expect(redactText("old key CHA-TEST-1234-5678-ABCD")).toBe("old key CHA-TEST-…");
    expect(redactText("CHA-1F3A9C0B77D2E4A10B9C8D7EA1B2C3D4")).toBe("CHA-1F3A9C0B…");
    expect(redactText("x-license-key=CHA-1F3A9C0B-77D2E4A1")).toBe("x-license-key=CHA-1F3A9C0B-…");
  });

  test("provider keys keep only their prefix and last four characters", () => {
    expect(redactText(`using ${OPENAI}`)).toBe("using sk-…wxyz");
    expect(redactText(ANTHROPIC)).toBe("sk-ant-…QRST");
    expect(redactText(`OPENAI_API_KEY=${DEEPSEEK}`)).toBe("OPENAI_API_KEY=sk-…9f3e");
    expect(redactText("task-force and sk-short stay")).toBe("task-force and sk-short stay");
  });

  test("admin API tokens keep only the prefix the admin shows", () => {
    const token = "chtl_0123456789abcdef0123456789abcdef01234567";
    expect(redactText(`token ${token} revoked`)).toBe("token chtl_0123456… revoked");
    expect(redactText(`x=${token.toUpperCase()}`)).toBe("x=CHTL_0123456…");
    expect(redactText("chtl_ alone and chtl_12 stay")).toBe("chtl_ alone and chtl_12 stay");
  });

  test("bearer and basic credentials and URL passwords are replaced", () => {
    expect(redactText(`Authorization: Bearer ${BEARER}`)).toBe("Authorization: Bearer [redacted]");
    expect(redactText(`bearer ${LICENSE}`)).toBe("bearer [redacted]");
    expect(redactText("Basic dXNlcjpwYXNz")).toBe("Basic [redacted]");
    expect(redactText("connect mariadb://chatello:hunter2@db:3306/chatello failed")).toBe(
      "connect mariadb://chatello:[redacted]@db:3306/chatello failed",
    );
  });

  test("fields named like secrets are replaced whatever their value", () => {
    const redacted = redactValue({
      password: "hunter2",
      token: "abc",
      api_key: "k",
      apiKey: "k",
      secret: 123,
      authorization: { scheme: "Bearer" },
      license_key: "CHA-X",
      cookie: "session=abc",
      "X-Api-Key": "k",
      db_password: "p",
      refresh_token: "t",
      client_secret: "s",
      prompt_tokens: 20,
      total_tokens: 55,
      apiKeyLast4: "wxyz",
      missing_token: null,
    });
    expect(redacted).toEqual({
      password: "[redacted]",
      token: "[redacted]",
      api_key: "[redacted]",
      apiKey: "[redacted]",
      secret: "[redacted]",
      authorization: "[redacted]",
      license_key: "[redacted]",
      cookie: "[redacted]",
      "X-Api-Key": "[redacted]",
      db_password: "[redacted]",
      refresh_token: "[redacted]",
      client_secret: "[redacted]",
      prompt_tokens: 20,
      total_tokens: 55,
      apiKeyLast4: "wxyz",
      missing_token: null,
    });
  });

  test("no key reaches the sink through the message, fields, nesting, arrays, errors, headers or child fields", () => {
    const { lines, logger, records } = capture();
    const child = logger.child({ license: LICENSE, upstream: { headers: { authorization: `Bearer ${BEARER}` } } });
    child.info(`validate ${LICENSE} with ${OPENAI}`, {
      body: { messages: [{ role: "user", content: `my key is ${ANTHROPIC}` }], note: [DEEPSEEK] },
      headers: new Headers({ "x-license-key": LICENSE, "content-type": "application/json" }),
      error: new Error(`upstream rejected ${OPENAI}`, { cause: new Error(`for ${LICENSE}`) }),
      domain: new DomainError("forbidden", "nope", { licenseKey: LICENSE, apiKey: DEEPSEEK }),
      map: new Map([["key", LICENSE]]),
      raw: `Authorization: Bearer ${BEARER}`,
    });
    child.warn("plain", { list: new Set([OPENAI]) });
    expect(lines.length).toBe(2);
    expectNoSecret(lines.join("\n"));

    const [record] = records();
    expect(record.msg).toBe("validate CHA-1F3A9C0B-… with sk-…wxyz");
    expect(record.license).toBe("CHA-1F3A9C0B-…");
    expect(record.headers).toEqual({ "x-license-key": "[redacted]", "content-type": "application/json" });
    expect(record.upstream).toEqual({ headers: { authorization: "[redacted]" } });
  });

  test("redaction leaves ordinary text alone", () => {
    const text = "Rate limit exceeded: 10 requests per minute for plan pro (chat-completions, cha-cha)";
    expect(redactText(text)).toBe(text);
  });
});
