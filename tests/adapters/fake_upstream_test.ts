import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { type FakeUpstream, startFakeUpstream } from "../support/fake_upstream.ts";

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream();
});

afterAll(async () => {
  await upstream.stop();
});

beforeEach(() => {
  upstream.reset();
});

const userMessages = [{ role: "user", content: "Say hello" }];

/** Posts a Chat Completions request with a bearer key unless other headers are given. */
function postChat(body: unknown, headers: Record<string, string> = { authorization: "Bearer sk-test" }): Promise<Response> {
  return fetch(`${upstream.openaiBaseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const anthropicHeaders = { "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" };

/** Posts an Anthropic Messages request with a key and version unless other headers are given. */
function postMessages(body: unknown, headers: Record<string, string> = anthropicHeaders): Promise<Response> {
  return fetch(`${upstream.anthropicBaseUrl}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Reads a body to the end; `error` is set when the connection broke before the end. */
async function readAll(response: Response): Promise<{ text: string; error?: unknown }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return { text };
  } catch (error) {
    return { text, error };
  }
}

/** The JSON payloads of `data:` lines, skipping `[DONE]`. */
function dataPayloads(sse: string): any[] {
  return sse
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => JSON.parse(line.slice("data: ".length)));
}

/** Event names of an Anthropic stream in order. */
function eventNames(sse: string): string[] {
  return sse
    .split("\n")
    .filter((line) => line.startsWith("event: "))
    .map((line) => line.slice("event: ".length));
}

describe("fake upstream basics", () => {
  test("it listens on 127.0.0.1 and exposes the provider base URLs", () => {
    expect(upstream.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(upstream.openaiBaseUrl).toBe(`${upstream.url}/v1`);
    expect(upstream.anthropicBaseUrl).toBe(upstream.url);
  });

  test("GET /v1/models answers an OpenAI-style model list", async () => {
    const response = await fetch(`${upstream.openaiBaseUrl}/models`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.object).toBe("list");
    expect(body.data.length).toBeGreaterThan(1);
    expect(body.data[0]).toMatchObject({ id: expect.any(String), object: "model", owned_by: expect.any(String) });
  });

  test("every request is recorded with method, path, lowercased headers and parsed body", async () => {
    await (await postChat({ model: "gpt-4o-mini", messages: userMessages }, { Authorization: "Bearer sk-test", "X-Custom": "Yes" })).json();
    expect(upstream.requests).toHaveLength(1);
    const [recorded] = upstream.requests;
    expect(recorded.method).toBe("POST");
    expect(recorded.path).toBe("/v1/chat/completions");
    expect(recorded.headers.authorization).toBe("Bearer sk-test");
    expect(recorded.headers["x-custom"]).toBe("Yes");
    expect(recorded.body).toEqual({ model: "gpt-4o-mini", messages: userMessages });
  });

  test("an unknown path answers 404 and is still recorded", async () => {
    const response = await fetch(`${upstream.url}/nowhere`, { method: "POST" });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe("unknown_url");
    expect(upstream.requests[0]).toMatchObject({ method: "POST", path: "/nowhere", body: null });
  });

  test("scripted behaviours apply in order and then the default behaviour takes over", async () => {
    upstream.defaultBehaviour = { content: "default" };
    upstream.script({ content: "first" }, { content: "second" });
    const contents: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = await (await postChat({ model: "gpt-4o-mini", messages: userMessages })).json();
      contents.push(body.choices[0].message.content);
    }
    expect(contents).toEqual(["first", "second", "default"]);
  });

  test("reset clears the requests, the script queue and the default behaviour", async () => {
    upstream.defaultBehaviour = { content: "default" };
    upstream.script({ status: 500 });
    await (await postChat({ model: "gpt-4o-mini", messages: userMessages })).json();
    upstream.script({ status: 500 });
    upstream.reset();
    expect(upstream.requests).toHaveLength(0);
    expect(upstream.defaultBehaviour).toEqual({});
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages });
    expect(response.status).toBe(200);
    expect((await response.json()).choices[0].message.content).toBe("Hello from the fake upstream");
  });

  test("a delayed request holds its headers back without blocking a concurrent request", async () => {
    upstream.script({ delayMs: 400, content: "slow" }, { content: "fast" });
    const started = performance.now();
    const slow = postChat({ model: "gpt-4o-mini", messages: userMessages }).then(async (response) => ({
      content: (await response.json()).choices[0].message.content,
      at: performance.now() - started,
    }));
    await Bun.sleep(20);
    const fastResponse = await postChat({ model: "gpt-4o-mini", messages: userMessages });
    const fastAt = performance.now() - started;
    expect((await fastResponse.json()).choices[0].message.content).toBe("fast");
    expect(fastAt).toBeLessThan(300);
    const slowResult = await slow;
    expect(slowResult.content).toBe("slow");
    expect(slowResult.at).toBeGreaterThanOrEqual(390);
  });

  test("a client timeout fires while the upstream is delaying", async () => {
    upstream.script({ delayMs: 1_000 });
    const attempt = fetch(`${upstream.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: userMessages }),
      signal: AbortSignal.timeout(100),
    });
    await expect(attempt).rejects.toThrow();
  });

  test("a hanging request sends nothing until its client leaves, and is then counted as abandoned", async () => {
    upstream.script({ hang: true });
    const controller = new AbortController();
    const attempt = fetch(`${upstream.openaiBaseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: userMessages }),
      signal: controller.signal,
    });
    await Bun.sleep(150);
    expect(upstream.openRequests()).toBe(1);
    controller.abort();
    await expect(attempt).rejects.toThrow();
    for (let i = 0; i < 50 && upstream.openRequests() > 0; i++) await Bun.sleep(10);
    expect(upstream.openRequests()).toBe(0);
    expect(upstream.abandoned).toBe(1);
  });

  test("a stream that stalls after N chunks sends them, then nothing, until its client cancels", async () => {
    upstream.script({ content: "one two three", stallAfterChunks: 1 });
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes('"one"')) text += decoder.decode((await reader.read()).value, { stream: true });
    const next = await Promise.race([reader.read().then(() => "data"), Bun.sleep(300).then(() => "quiet")]);
    expect(next).toBe("quiet");
    expect(upstream.openRequests()).toBe(1);
    await reader.cancel();
    for (let i = 0; i < 50 && upstream.openRequests() > 0; i++) await Bun.sleep(10);
    expect(upstream.openRequests()).toBe(0);
    expect(upstream.abandoned).toBe(1);
  });

  test("a stream read to its end or cut by the fake is not counted as abandoned", async () => {
    upstream.script({}, { failAfterChunks: 1 });
    await readAll(await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true }));
    await readAll(await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true }));
    expect(upstream.abandoned).toBe(0);
    expect(upstream.openRequests()).toBe(0);
  });

  test("extra headers are sent with the answer, errors included", async () => {
    upstream.script({ status: 429, headers: { "retry-after": "60" } });
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("60");
  });

  test("stop closes the server and can be called twice", async () => {
    const other = await startFakeUpstream();
    await other.stop();
    await other.stop();
    await expect(fetch(`${other.url}/v1/models`)).rejects.toThrow();
  });
});

describe("OpenAI Chat Completions", () => {
  test("a request without a bearer key gets the OpenAI invalid_api_key error", async () => {
    const headerSets: Record<string, string>[] = [{}, { authorization: "Bearer " }, { authorization: "sk-test" }];
    for (const headers of headerSets) {
      const response = await postChat({ model: "gpt-4o-mini", messages: userMessages }, headers);
      expect(response.status).toBe(401);
      const body = await response.json();
      expect(body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", message: expect.any(String) });
    }
  });

  test("a non-stream completion is a full chat.completion object with default usage", async () => {
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = await response.json();
    expect(body).toMatchObject({
      id: expect.stringMatching(/^chatcmpl-fake-\d+$/),
      object: "chat.completion",
      created: expect.any(Number),
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello from the fake upstream" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, prompt_tokens_details: { cached_tokens: 0 } },
    });
    expect(body.usage.prompt_cache_hit_tokens).toBeUndefined();
  });

  test("custom content and usage appear in the completion", async () => {
    upstream.script({ content: "Custom answer", usage: { prompt: 100, completion: 30, cached: 40 } });
    const body = await (await postChat({ model: "gpt-4o", messages: userMessages })).json();
    expect(body.choices[0].message.content).toBe("Custom answer");
    expect(body.usage).toEqual({
      prompt_tokens: 100,
      completion_tokens: 30,
      total_tokens: 130,
      prompt_tokens_details: { cached_tokens: 40 },
    });
  });

  test("a DeepSeek model also reports prompt cache hit and miss tokens", async () => {
    upstream.script({ usage: { prompt: 100, completion: 30, cached: 40 } });
    const body = await (await postChat({ model: "deepseek-chat", messages: userMessages })).json();
    expect(body.model).toBe("deepseek-chat");
    expect(body.usage).toMatchObject({
      prompt_tokens: 100,
      prompt_tokens_details: { cached_tokens: 40 },
      prompt_cache_hit_tokens: 40,
      prompt_cache_miss_tokens: 60,
    });
  });

  test("omitUsage leaves usage out of the completion", async () => {
    upstream.script({ omitUsage: true });
    const body = await (await postChat({ model: "gpt-4o-mini", messages: userMessages })).json();
    expect(body.choices[0].message.content).toBe("Hello from the fake upstream");
    expect("usage" in body).toBe(false);
  });

  test("scripted error statuses answer the OpenAI error envelope", async () => {
    upstream.script({ status: 429 }, { status: 500 }, { status: 400 });
    const expected = [
      [429, "rate_limit_exceeded"],
      [500, "server_error"],
      [400, "invalid_request_error"],
    ] as const;
    for (const [status, code] of expected) {
      const response = await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true });
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = await response.json();
      expect(body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code });
    }
  });

  test("errorBody replaces the error JSON", async () => {
    upstream.script({ status: 503, errorBody: { error: { message: "down for maintenance" } } });
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: { message: "down for maintenance" } });
  });

  test("a request without messages is rejected with 400", async () => {
    const response = await postChat({ model: "gpt-4o-mini" });
    expect(response.status).toBe(400);
    expect((await response.json()).error.type).toBe("invalid_request_error");
  });

  test("a stream starts with the role chunk, splits the content and ends with stop and [DONE]", async () => {
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const { text, error } = await readAll(response);
    expect(error).toBeUndefined();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    const chunks = dataPayloads(text);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.model === "gpt-4o-mini")).toBe(true);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const pieces = chunks.slice(1, -1).map((chunk) => chunk.choices[0].delta.content);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join("")).toBe("Hello from the fake upstream");
    expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
  });

  test("a stream with include_usage ends with a usage chunk that has no choices", async () => {
    upstream.script({ usage: { prompt: 50, completion: 5, cached: 20 } });
    const response = await postChat({
      model: "deepseek-reasoner",
      messages: userMessages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = dataPayloads((await readAll(response)).text);
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({
      prompt_tokens: 50,
      completion_tokens: 5,
      total_tokens: 55,
      prompt_tokens_details: { cached_tokens: 20 },
      prompt_cache_hit_tokens: 20,
      prompt_cache_miss_tokens: 30,
    });
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
  });

  test("omitUsage leaves the usage chunk out even when include_usage is asked for", async () => {
    upstream.script({ omitUsage: true });
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true, stream_options: { include_usage: true } });
    const chunks = dataPayloads((await readAll(response)).text);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  test("chunkDelayMs spaces the stream chunks out", async () => {
    upstream.script({ content: "a b c d", chunkDelayMs: 40 });
    const started = performance.now();
    const { text } = await readAll(await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true }));
    // role + 4 content + stop + [DONE] = 7 frames, 6 pauses.
    expect(performance.now() - started).toBeGreaterThanOrEqual(6 * 40 - 10);
    expect(text).toContain("data: [DONE]");
  });

  test("failAfterChunks cuts the connection mid-stream so a fetch reader sees an error", async () => {
    upstream.script({ failAfterChunks: 2 });
    const response = await postChat({ model: "gpt-4o-mini", messages: userMessages, stream: true, stream_options: { include_usage: true } });
    expect(response.status).toBe(200);
    const { text, error } = await readAll(response);
    expect(error).toBeDefined();
    expect(text).not.toContain("[DONE]");
    const chunks = dataPayloads(text);
    expect(chunks.map((chunk) => chunk.choices[0].delta.content)).toEqual(["", "Hello", " from"]);
  });

  test("the openai SDK completes against the fake", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: upstream.openaiBaseUrl, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(completion.choices[0].message.content).toBe("Hello from the fake upstream");
    expect(completion.usage?.total_tokens).toBe(19);
    expect(upstream.requests[0].headers.authorization).toBe("Bearer sk-test");
  });

  test("the openai SDK streams against the fake and receives the usage chunk", async () => {
    upstream.script({ usage: { prompt: 30, completion: 4, cached: 10 } });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: upstream.openaiBaseUrl, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(content).toBe("Hello from the fake upstream");
    expect(usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 4, total_tokens: 34, prompt_tokens_details: { cached_tokens: 10 } });
    expect(upstream.requests[0].body.stream_options).toEqual({ include_usage: true });
  });

  test("the openai SDK surfaces a mid-stream cut as an error", async () => {
    upstream.script({ failAfterChunks: 1 });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: upstream.openaiBaseUrl, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });
    let content = "";
    const consume = async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? "";
    };
    await expect(consume()).rejects.toThrow();
    expect(content).toBe("Hello");
  });

  test("the openai SDK sees a scripted 429 as a rate limit error", async () => {
    upstream.script({ status: 429 });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: upstream.openaiBaseUrl, maxRetries: 0 });
    const failure = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })
      .then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.RateLimitError);
    expect((failure as InstanceType<typeof OpenAI.RateLimitError>).code).toBe("rate_limit_exceeded");
  });
});

describe("Anthropic Messages", () => {
  const request = { model: "claude-sonnet-4-5", max_tokens: 256, system: "Be brief.", messages: userMessages };

  test("a request without x-api-key or anthropic-version gets authentication_error", async () => {
    const headerSets: Record<string, string>[] = [{ "anthropic-version": "2023-06-01" }, { "x-api-key": "sk-ant-test" }];
    for (const headers of headerSets) {
      const response = await postMessages(request, headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ type: "error", error: { type: "authentication_error", message: expect.any(String) } });
    }
  });

  test("a system role inside messages is rejected because Anthropic wants a top-level system", async () => {
    const response = await postMessages({
      model: "claude-sonnet-4-5",
      max_tokens: 256,
      messages: [{ role: "system", content: "Be brief." }, ...userMessages],
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(body.error.message).toContain("system");
  });

  test("a non-stream message reports cache reads apart from input tokens", async () => {
    upstream.script({ content: "Brief.", usage: { prompt: 100, completion: 9, cached: 60 } });
    const response = await postMessages(request);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id: expect.stringMatching(/^msg_fake_\d+$/),
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Brief." }],
      stop_reason: "end_turn",
      usage: { input_tokens: 40, output_tokens: 9, cache_read_input_tokens: 60, cache_creation_input_tokens: 0 },
    });
    expect(upstream.requests[0]).toMatchObject({ path: "/v1/messages", headers: { "x-api-key": "sk-ant-test" }, body: request });
  });

  test("omitUsage leaves usage out of the message", async () => {
    upstream.script({ omitUsage: true });
    const body = await (await postMessages(request)).json();
    expect("usage" in body).toBe(false);
  });

  test("scripted error statuses answer the Anthropic error shape", async () => {
    upstream.script({ status: 529 }, { status: 500 }, { status: 429 });
    for (const type of ["overloaded_error", "api_error", "rate_limit_error"]) {
      const response = await postMessages({ ...request, stream: true });
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toMatchObject({ type: "error", error: { type, message: expect.any(String) } });
    }
  });

  test("errorBody replaces the Anthropic error JSON", async () => {
    upstream.script({ status: 500, errorBody: "<html>bad gateway</html>" });
    const response = await postMessages(request);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("<html>bad gateway</html>");
  });

  test("a stream follows the Anthropic event sequence with usage at start and end", async () => {
    upstream.script({ usage: { prompt: 20, completion: 7, cached: 5 } });
    const response = await postMessages({ ...request, stream: true });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const { text, error } = await readAll(response);
    expect(error).toBeUndefined();
    const names = eventNames(text);
    expect(names[0]).toBe("message_start");
    expect(names[1]).toBe("content_block_start");
    expect(names.filter((name) => name === "ping")).toHaveLength(1);
    expect(names.filter((name) => name === "content_block_delta").length).toBeGreaterThan(2);
    expect(names.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    const payloads = dataPayloads(text);
    expect(payloads.map((payload) => payload.type)).toEqual(names);
    expect(payloads[0].message).toMatchObject({
      id: expect.stringMatching(/^msg_fake_\d+$/),
      model: "claude-sonnet-4-5",
      usage: { input_tokens: 15, cache_read_input_tokens: 5, output_tokens: 1 },
    });
    const deltas = payloads.filter((payload) => payload.type === "content_block_delta");
    expect(deltas.every((payload) => payload.delta.type === "text_delta")).toBe(true);
    expect(deltas.map((payload) => payload.delta.text).join("")).toBe("Hello from the fake upstream");
    expect(payloads.at(-2)).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { output_tokens: 7 } });
  });

  test("omitUsage leaves usage out of the Anthropic stream", async () => {
    upstream.script({ omitUsage: true });
    const payloads = dataPayloads((await readAll(await postMessages({ ...request, stream: true }))).text);
    expect(payloads[0].message.usage).toBeUndefined();
    expect(payloads.find((payload) => payload.type === "message_delta").usage).toBeUndefined();
  });

  test("failAfterChunks cuts an Anthropic stream before message_stop", async () => {
    upstream.script({ failAfterChunks: 3 });
    const { text, error } = await readAll(await postMessages({ ...request, stream: true }));
    expect(error).toBeDefined();
    const names = eventNames(text);
    expect(names.filter((name) => name === "content_block_delta")).toHaveLength(3);
    expect(names).not.toContain("message_stop");
  });
});

describe("standalone mode", () => {
  test("running the file starts a server that prints its address and answers until killed", async () => {
    const repoRoot = resolve(import.meta.dir, "..", "..");
    const child = Bun.spawn([process.execPath, join(repoRoot, "tests", "support", "fake_upstream.ts"), "--port", "0"], {
      cwd: repoRoot,
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = child.stdout.getReader();
      let output = "";
      const deadline = Date.now() + 10_000;
      while (!output.includes("\n") && Date.now() < deadline) {
        const { done, value } = await reader.read();
        if (done) break;
        output += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const match = output.match(/^fake upstream listening on (http:\/\/127\.0\.0\.1:\d+) \(OpenAI base \/v1, Anthropic base \/\)$/m);
      expect(match).not.toBeNull();
      const response = await fetch(`${match![1]}/v1/models`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  });
});
