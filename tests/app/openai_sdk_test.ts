// The AI proxy as third-party developers and plugin owners meet it: the official `openai` SDK pointed at
// `<service>/v1` of a real `bun src/app/main.ts serve` process (whose providers are a fake upstream running
// in this test process), a plugin that drops a stream, and the README's quick start.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { DEFAULT_PLANS } from "../../src/domain/plans/mod.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake_upstream.ts";
import { createSandbox, LICENSE_KEY_PATTERN, randomKey, runJson, startServe, type Sandbox, type ServeProcess } from "./process_support.ts";

const FAKE_TEXT = "Hello from the fake upstream";
const VENDOR_KEYS = {
  OPENAI_API_KEY: "sk-vendor-openai-CLEARTEXT-7f3a9c0b1e2d",
  ANTHROPIC_API_KEY: "sk-ant-vendor-CLEARTEXT-5b8e2a41c9d0",
  DEEPSEEK_API_KEY: "sk-vendor-deepseek-CLEARTEXT-3c1d77e0a9f4",
};
const UNKNOWN_KEY = "CHA-00000000-00000000-00000000-00000000";

type Created = { license_key: string; customer_id: number; expires_at: string | null };

/** Every chunk of an SDK stream, in order. */
async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The text carried by the content deltas of OpenAI chunks. */
function contentOf(chunks: OpenAI.Chat.Completions.ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
}

/** The rejection of `promise` (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to be rejected, but it resolved");
}

describe("the official openai SDK against a running service", () => {
  let fake: FakeUpstream;
  let sandbox: Sandbox;
  let server: ServeProcess;
  let env: Record<string, string>;
  let sdkKey = "";
  let dropKey = "";
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    sandbox = await createSandbox();
    env = sandbox.env({
      ENCRYPTION_KEY: randomKey(),
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      ANTHROPIC_BASE_URL: fake.anthropicBaseUrl,
      DEEPSEEK_BASE_URL: fake.openaiBaseUrl,
      PROVIDER_MAX_RETRIES: "0",
      ...VENDOR_KEYS,
    });
    sdkKey = (await runJson<Created>(["license", "create", "--email", "sdk@example.com", "--plan", "pro"], env)).license_key;
    dropKey = (await runJson<Created>(["license", "create", "--email", "dropper@example.com", "--plan", "pro"], env)).license_key;
    server = await startServe(env);
    client = new OpenAI({ apiKey: sdkKey, baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 15_000 });
  });

  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
    await sandbox?.remove();
  });

  beforeEach(() => {
    fake?.reset();
  });

  test("chat.completions.create with gpt-4o-mini completes with the provider's answer and usage", async () => {
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Say hello" }],
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("gpt-4o-mini");
    expect(completion.choices[0].message.content).toBe(FAKE_TEXT);
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });

    // The upstream saw the vendor's key and the requested model, never the license key.
    const upstream = fake.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(upstream).toHaveLength(1);
    expect(upstream[0].headers.authorization).toBe(`Bearer ${VENDOR_KEYS.OPENAI_API_KEY}`);
    expect(upstream[0].body.model).toBe("gpt-4o-mini");
    expect(JSON.stringify(upstream[0])).not.toContain(sdkKey);
  });

  test("a streamed gpt-4o-mini completion with include_usage delivers every content chunk and then the usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(chunk.object).toBe("chat.completion.chunk");
    expect(contentOf(chunks)).toBe(FAKE_TEXT);
    const usageChunks = chunks.filter((c) => c.usage != null);
    expect(usageChunks).toHaveLength(1);
    expect(usageChunks[0].choices).toEqual([]);
    expect(usageChunks[0].usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    // The usage chunk is the last one.
    expect(chunks[chunks.length - 1]).toBe(usageChunks[0]);
  });

  test("anthropic/claude-3-5-haiku-latest completes as an OpenAI chat.completion with the provider's text and usage", async () => {
    const completion = await client.chat.completions.create({
      model: "anthropic/claude-3-5-haiku-latest",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Say hello" },
      ],
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("anthropic/claude-3-5-haiku-latest");
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0].message.role).toBe("assistant");
    expect(completion.choices[0].message.content).toBe(FAKE_TEXT);
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });

    const upstream = fake.requests.filter((r) => r.path === "/v1/messages");
    expect(upstream).toHaveLength(1);
    expect(upstream[0].headers["x-api-key"]).toBe(VENDOR_KEYS.ANTHROPIC_API_KEY);
    expect(upstream[0].body.model).toBe("claude-3-5-haiku-latest");
  });

  test("a streamed anthropic/claude-3-5-haiku-latest completion arrives as chat.completion.chunk events with the provider's text and a usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "anthropic/claude-3-5-haiku-latest",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    for (const chunk of chunks) {
      expect(chunk.object).toBe("chat.completion.chunk");
      expect(chunk.model).toBe("anthropic/claude-3-5-haiku-latest");
    }
    expect(contentOf(chunks)).toBe(FAKE_TEXT);
    expect(chunks.some((c) => c.choices[0]?.finish_reason === "stop")).toBe(true);
    const usageChunks = chunks.filter((c) => c.usage != null);
    expect(usageChunks).toHaveLength(1);
    expect(usageChunks[0].choices).toEqual([]);
    expect(usageChunks[0].usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    expect(fake.requests.filter((r) => r.path === "/v1/messages")).toHaveLength(1);
  });

  test("a stream without include_usage delivers the content but no usage-only chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Say hello" }],
      stream: true,
    });
    const chunks = await collect(stream);
    expect(contentOf(chunks)).toBe(FAKE_TEXT);
    expect(chunks.filter((c) => c.choices.length === 0)).toEqual([]);
    expect(chunks.filter((c) => c.usage != null)).toEqual([]);
    // The proxy still asked the provider for usage, to bill the call.
    const upstream = fake.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(upstream).toHaveLength(1);
    expect(upstream[0].body.stream_options).toEqual({ include_usage: true });
  });

  test("models.list lists exactly the models the pro plan allows, Anthropic ones as anthropic/<model>", async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    const pro = DEFAULT_PLANS.find((p) => p.name === "pro")!;
    const expected = [
      ...pro.allowedModels.openai,
      ...pro.allowedModels.anthropic.map((m) => `anthropic/${m}`),
      ...pro.allowedModels.deepseek,
    ];
    expect(models.map((m) => m.id).sort()).toEqual([...expected].sort());
    expect(models.map((m) => m.id)).toContain("anthropic/claude-3-5-haiku-latest");
    for (const model of models) expect(model.object).toBe("model");
    expect(models.find((m) => m.id === "anthropic/claude-3-5-haiku-latest")!.owned_by).toBe("anthropic");
  });

  test("an unknown license key makes the SDK throw AuthenticationError with status 401 and code license_invalid", async () => {
    const stranger = new OpenAI({ apiKey: UNKNOWN_KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const error = await rejectionOf(stranger.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.code).toBe("license_invalid");
    expect(error.type).toBe("authentication_error");
    expect(error.error).toMatchObject({ message: "Invalid or inactive license", code: "license_invalid" });
    expect(fake.requests).toHaveLength(0);
  });

  test("the raw 401 answer of /v1 uses OpenAI's error envelope", async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${UNKNOWN_KEY}` },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(response.status).toBe(401);
    const body = await response.json();
    expect(body).toMatchObject({ error: { message: "Invalid or inactive license", type: "authentication_error", code: "license_invalid" } });
    expect(typeof body.error.message).toBe("string");
  });

  test("a model the plan does not allow makes the SDK throw BadRequestError with code model_not_allowed", async () => {
    for (const model of ["gpt-4.1", "anthropic/claude-sonnet-4-5"]) {
      const error = await rejectionOf(client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] }));
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.status).toBe(400);
      expect(error.code).toBe("model_not_allowed");
      expect(error.type).toBe("invalid_request_error");
    }
    expect(fake.requests).toHaveLength(0);
  });

  test("a plugin that drops a stream after the first chunk is still billed for the provider's whole usage", async () => {
    fake.script({ chunkDelayMs: 100, usage: { prompt: 50, completion: 25 }, content: "one two three four five six seven eight nine ten" });
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-license-key": dropKey },
      body: JSON.stringify({ messages: [{ role: "user", content: "Count to ten" }], stream: true }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(new TextDecoder().decode(first.value)).toContain("data: ");
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const abortedAt = Date.now();

    let month: { requests: number; tokens: number; cost_eur: number } | null = null;
    const deadline = Date.now() + 6_000;
    while (Date.now() < deadline) {
      const current = await fetch(`${server.url}/api/usage/current`, { headers: { "x-license-key": dropKey } });
      expect(current.status).toBe(200);
      month = (await current.json()).current_usage.current_month;
      if (month!.requests >= 1 && month!.tokens >= 75) break;
      await Bun.sleep(100);
    }
    expect(month).toMatchObject({ requests: 1, tokens: 75 });
    expect(month!.cost_eur).toBeGreaterThan(0);
    // The upstream was read to its end (about a second of chunks) rather than cut when the client left.
    expect(Date.now() - abortedAt).toBeGreaterThan(300);
    const upstream = fake.requests.filter((r) => r.path === "/v1/chat/completions");
    expect(upstream).toHaveLength(1);
    expect(upstream[0].body.stream_options).toEqual({ include_usage: true });
  });
});

describe("the README quick start", () => {
  let fake: FakeUpstream;
  let dataDir = "";
  let server: ServeProcess | null = null;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    dataDir = await mkdtemp(join(tmpdir(), "chatello-readme-"));
  });

  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("npm start, license create and POST /api/chat with Hello answer 200 from gpt-4o-mini, and the stopped database holds neither the vendor key nor the license key in clear", async () => {
    // Like a new user: no DATABASE_URL and no ENCRYPTION_KEY, only the data directory and the vendor's OpenAI key.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dataDir,
      TMPDIR: tmpdir(),
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      OPENAI_BASE_URL: fake.openaiBaseUrl,
      OPENAI_API_KEY: VENDOR_KEYS.OPENAI_API_KEY,
    };
    server = await startServe(env);
    const created = await runJson<Created>(["license", "create", "--email", "mario@shop.example.com", "--plan", "pro"], env);
    expect(created.license_key).toMatch(LICENSE_KEY_PATTERN);

    const response = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-license-key": created.license_key },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }] }),
    });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      success: true,
      provider: "openai",
      model: "gpt-4o-mini",
      usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, tokens: 19 },
    });
    expect(body.response.choices[0].message.content).toBe(FAKE_TEXT);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${VENDOR_KEYS.OPENAI_API_KEY}`);

    expect(await server.stop()).toBe(0);
    server = null;
    const dbPath = join(dataDir, "chatello.db");
    expect(existsSync(dbPath)).toBe(true);
    const stored = [dbPath, `${dbPath}-wal`]
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path).toString("latin1"))
      .join("\n");
    expect(stored).toContain("gpt-4o-mini"); // the file is readable and really holds the call
    expect(stored).not.toContain(VENDOR_KEYS.OPENAI_API_KEY);
    expect(stored).not.toContain(VENDOR_KEYS.OPENAI_API_KEY.slice(0, 24));
    expect(stored).not.toContain(created.license_key);
  });
});
