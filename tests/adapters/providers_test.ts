import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { SseDecoder, type SseMessage } from "../../src/adapters/providers/_sse.ts";
import { parseRetryAfter } from "../../src/adapters/providers/_shared.ts";
import { createChatProviders } from "../../src/adapters/providers/registry.ts";
import {
  type ChatProviders,
  type ProviderCall,
  ProviderError,
  type StreamEvent,
} from "../../src/domain/chat/mod.ts";
import type { ProviderName } from "../../src/domain/plans/mod.ts";
import { type FakeUpstream, startFakeUpstream } from "../support/fake_upstream.ts";

const apiKey = "sk-test-SECRET-4f9a2c";
let upstream: FakeUpstream;
let providers: ChatProviders;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  providers = createChatProviders({ retryBaseDelayMs: 1 });
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

const models: Record<ProviderName, string> = {
  openai: "gpt-4o-mini",
  deepseek: "deepseek-chat",
  anthropic: "claude-sonnet-4-5",
};

function callFor(provider: ProviderName, overrides: Partial<ProviderCall> = {}): ProviderCall {
  return {
    provider,
    model: models[provider],
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello?" },
    ],
    maxTokens: 64,
    apiKey,
    baseUrl: provider === "anthropic" ? upstream.anthropicBaseUrl : upstream.openaiBaseUrl,
    timeoutMs: 2_000,
    ...overrides,
  };
}

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const seen: StreamEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

async function failureOf(work: Promise<unknown>): Promise<ProviderError> {
  try {
    await work;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error("expected a ProviderError, but the call succeeded");
}

/** Text of an OpenAI-style stream, from its content deltas. */
function openAIText(events: StreamEvent[]): string {
  return events
    .filter((event) => event.data !== "[DONE]")
    .map((event) => JSON.parse(event.data).choices[0]?.delta?.content ?? "")
    .join("");
}

/** Text of an Anthropic stream, from its text deltas. */
function anthropicText(events: StreamEvent[]): string {
  return events
    .filter((event) => event.event === "content_block_delta")
    .map((event) => JSON.parse(event.data).delta.text)
    .join("");
}

const allProviders: ProviderName[] = ["openai", "deepseek", "anthropic"];

describe("OpenAI-compatible adapter", () => {
  test("complete returns OpenAI's own chat.completion JSON and its usage", async () => {
    upstream.script({ content: "Hi there", usage: { prompt: 20, completion: 5, cached: 8 } });
    const answer = await providers.complete(
      callFor("openai", {
        temperature: 0.3,
        extra: { top_p: 0.9, stop: ["\n\n"], presence_penalty: 0.5, stream: true, stream_options: { include_usage: false } },
      }),
    );

    const body = answer.body as any;
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0].message.content).toBe("Hi there");
    expect(body.usage.prompt_tokens).toBe(20);
    expect(answer.usage).toEqual({ promptTokens: 20, completionTokens: 5, cachedTokens: 8, estimated: false });
    expect(answer.upstreamMs).toBeGreaterThanOrEqual(0);

    expect(upstream.requests).toHaveLength(1);
    const request = upstream.requests[0];
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1/chat/completions");
    expect(request.headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(request.body).toMatchObject({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hello?" },
      ],
      max_tokens: 64,
      temperature: 0.3,
      top_p: 0.9,
      stop: ["\n\n"],
      presence_penalty: 0.5,
    });
    expect(request.body.stream).not.toBe(true);
    expect(request.body.stream_options).toBeUndefined();
  });

  test("complete counts DeepSeek cache hits once, not once per field", async () => {
    upstream.script({ usage: { prompt: 30, completion: 4, cached: 10 } });
    const answer = await providers.complete(callFor("deepseek"));
    expect((answer.body as any).usage.prompt_cache_hit_tokens).toBe(10);
    expect(answer.usage).toEqual({ promptTokens: 30, completionTokens: 4, cachedTokens: 10, estimated: false });
    expect(upstream.requests[0].body.model).toBe("deepseek-chat");
  });

  test("complete reports null usage when the provider sent none", async () => {
    upstream.script({ omitUsage: true });
    const answer = await providers.complete(callFor("openai"));
    expect(answer.usage).toBeNull();
  });

  test("stream yields each chunk as it arrives, then [DONE], and asks for the usage chunk", async () => {
    upstream.script({ content: "one two three", usage: { prompt: 15, completion: 3, cached: 4 } });
    const stream = await providers.stream(callFor("openai", { extra: { top_p: 0.5, stream: false } }));
    expect(stream.usage()).toBeNull();
    expect(stream.upstreamMs).toBeGreaterThanOrEqual(0);

    const events = await collect(stream.events);
    expect(events.at(-1)).toEqual({ data: "[DONE]" });
    expect(events.every((event) => event.event === undefined)).toBe(true);
    expect(JSON.parse(events[0].data).object).toBe("chat.completion.chunk");
    expect(openAIText(events)).toBe("one two three");
    expect(stream.usage()).toEqual({ promptTokens: 15, completionTokens: 3, cachedTokens: 4, estimated: false });

    const body = upstream.requests[0].body;
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.top_p).toBe(0.5);
    expect(body.max_tokens).toBe(64);
  });

  test("stream events carry the length of their generated text, and only the usage chunk is marked usage-only", async () => {
    upstream.script({ content: "one two three", usage: { prompt: 15, completion: 3, cached: 0 } });
    const events = await collect((await providers.stream(callFor("openai"))).events);
    const chunks = events.filter((event) => event.data !== "[DONE]");
    expect(chunks.reduce((sum, event) => sum + (event.generatedChars ?? 0), 0)).toBe("one two three".length);
    for (const event of chunks) {
      const parsed = JSON.parse(event.data);
      expect(event.generatedChars).toBe((parsed.choices[0]?.delta?.content ?? "").length);
      expect(event.usageOnly).toBe(parsed.choices.length === 0 && parsed.usage != null);
    }
    expect(chunks.filter((event) => event.usageOnly)).toHaveLength(1);
  });

  test("stream hands chunks over before the upstream has finished", async () => {
    upstream.script({ content: "a b c d", chunkDelayMs: 150 });
    const started = performance.now();
    const stream = await providers.stream(callFor("openai"));
    const iterator = stream.events[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    expect(performance.now() - started).toBeLessThan(500);
    // Stopping early is allowed: it closes the upstream connection.
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test("stream captures DeepSeek cache-hit tokens from the final usage chunk", async () => {
    upstream.script({ usage: { prompt: 40, completion: 9, cached: 32 } });
    const stream = await providers.stream(callFor("deepseek"));
    await collect(stream.events);
    expect(stream.usage()).toEqual({ promptTokens: 40, completionTokens: 9, cachedTokens: 32, estimated: false });
  });

  test("stream usage stays null when the provider sends no usage chunk", async () => {
    upstream.script({ omitUsage: true });
    const stream = await providers.stream(callFor("openai"));
    const events = await collect(stream.events);
    expect(events.at(-1)).toEqual({ data: "[DONE]" });
    expect(stream.usage()).toBeNull();
  });

  test("each API key gets its own client and header", async () => {
    await providers.complete(callFor("openai", { apiKey: "sk-first" }));
    await providers.complete(callFor("openai", { apiKey: "sk-second" }));
    await providers.complete(callFor("openai", { apiKey: "sk-first" }));
    expect(upstream.requests.map((request) => request.headers.authorization)).toEqual([
      "Bearer sk-first",
      "Bearer sk-second",
      "Bearer sk-first",
    ]);
  });
});

describe("Anthropic adapter", () => {
  test("complete moves system messages to `system` and returns Anthropic's own JSON and usage", async () => {
    upstream.script({ content: "Bonjour", usage: { prompt: 50, completion: 6, cached: 30 } });
    const answer = await providers.complete(
      callFor("anthropic", {
        temperature: 0.2,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hello?" },
          { role: "assistant", content: "Hi." },
          { role: "system", content: "Answer in French." },
          { role: "user", content: "How are you?" },
        ],
      }),
    );

    const body = answer.body as any;
    expect(body.type).toBe("message");
    expect(body.content[0].text).toBe("Bonjour");
    // The fake reports 20 fresh input tokens + 30 cache reads.
    expect(answer.usage).toEqual({ promptTokens: 50, completionTokens: 6, cachedTokens: 30, estimated: false });

    const request = upstream.requests[0];
    expect(request.path).toBe("/v1/messages");
    expect(request.headers["x-api-key"]).toBe(apiKey);
    expect(request.headers["anthropic-version"]).toBe("2023-06-01");
    expect(request.headers["content-type"]).toContain("application/json");
    expect(request.body).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      temperature: 0.2,
      system: "Be brief.\n\nAnswer in French.",
      messages: [
        { role: "user", content: "Hello?" },
        { role: "assistant", content: "Hi." },
        { role: "user", content: "How are you?" },
      ],
    });
  });

  test("complete counts cache writes as prompt tokens but not as cached ones", async () => {
    const fetchWithCacheWrite = (async () =>
      Response.json({
        type: "message",
        content: [],
        usage: { input_tokens: 5, cache_creation_input_tokens: 100, cache_read_input_tokens: 20, output_tokens: 3 },
      })) as unknown as typeof fetch;
    const answer = await createChatProviders({ fetch: fetchWithCacheWrite }).complete(callFor("anthropic"));
    expect(answer.usage).toEqual({ promptTokens: 125, completionTokens: 3, cachedTokens: 20, estimated: false });
  });

  test("stream yields Anthropic's named events as they arrive and reads usage from message_start and message_delta", async () => {
    upstream.script({ content: "alpha beta", usage: { prompt: 25, completion: 11, cached: 5 } });
    const stream = await providers.stream(callFor("anthropic"));
    const events = await collect(stream.events);

    expect(events[0].event).toBe("message_start");
    expect(events.at(-1)).toEqual({ event: "message_stop", data: '{"type":"message_stop"}' });
    expect(events.map((event) => event.event)).toContain("ping");
    expect(anthropicText(events)).toBe("alpha beta");
    expect(stream.usage()).toEqual({ promptTokens: 25, completionTokens: 11, cachedTokens: 5, estimated: false });

    const body = upstream.requests[0].body;
    expect(body.stream).toBe(true);
    expect(body.system).toBe("Be brief.");
    expect(body.messages).toEqual([{ role: "user", content: "Hello?" }]);
  });

  test("stream marks each text delta with the length of its text, and no other event", async () => {
    upstream.script({ content: "alpha beta gamma" });
    const events = await collect((await providers.stream(callFor("anthropic"))).events);
    const deltas = events.filter((event) => event.event === "content_block_delta");
    expect(deltas.length).toBeGreaterThan(1);
    for (const event of deltas) expect(event.generatedChars).toBe(JSON.parse(event.data).delta.text.length);
    expect(deltas.reduce((sum, event) => sum + (event.generatedChars ?? 0), 0)).toBe("alpha beta gamma".length);
    expect(events.filter((event) => event.event !== "content_block_delta").every((event) => event.generatedChars === undefined)).toBe(true);
  });

  test("stream usage stays null when Anthropic reports none", async () => {
    upstream.script({ omitUsage: true });
    const stream = await providers.stream(callFor("anthropic"));
    await collect(stream.events);
    expect(stream.usage()).toBeNull();
  });
});

describe("retries", () => {
  for (const provider of allProviders) {
    test(`${provider}: a 500 is retried and the next answer is returned`, async () => {
      upstream.script({ status: 500 });
      const answer = await providers.complete(callFor(provider));
      expect(answer.usage?.promptTokens).toBe(12);
      expect(upstream.requests).toHaveLength(2);
    });

    test(`${provider}: a 429 is retried`, async () => {
      upstream.script({ status: 429 }, { status: 429 });
      const answer = await providers.complete(callFor(provider));
      expect(answer.usage?.completionTokens).toBe(7);
      expect(upstream.requests).toHaveLength(3);
    });

    test(`${provider}: a 400 is not retried`, async () => {
      upstream.script({ status: 400 });
      const error = await failureOf(providers.complete(callFor(provider)));
      expect(error.kind).toBe("http");
      expect(error.status).toBe(400);
      expect(upstream.requests).toHaveLength(1);
    });

    test(`${provider}: retries stop after maxRetries and the last status is reported`, async () => {
      upstream.defaultBehaviour = { status: 503 };
      const error = await failureOf(providers.complete(callFor(provider)));
      expect(error.kind).toBe("http");
      expect(error.status).toBe(503);
      expect(upstream.requests).toHaveLength(3);
    });

    test(`${provider}: a stream is retried while no byte has been handed over`, async () => {
      upstream.script({ status: 502 });
      const stream = await providers.stream(callFor(provider));
      const events = await collect(stream.events);
      expect(events.length).toBeGreaterThan(3);
      expect(stream.usage()?.promptTokens).toBe(12);
      expect(upstream.requests).toHaveLength(2);
    });

    test(`${provider}: maxRetries 0 turns retries off`, async () => {
      upstream.script({ status: 500 });
      const error = await failureOf(createChatProviders({ maxRetries: 0 }).complete(callFor(provider)));
      expect(error.status).toBe(500);
      expect(upstream.requests).toHaveLength(1);
    });

    test(`${provider}: connection failures are retried and end as a network error`, async () => {
      let attempts = 0;
      const refusingFetch = (async () => {
        attempts++;
        throw new TypeError("fetch failed: connection refused");
      }) as unknown as typeof fetch;
      const error = await failureOf(
        createChatProviders({ fetch: refusingFetch, retryBaseDelayMs: 1 }).complete(callFor(provider)),
      );
      expect(error.kind).toBe("network");
      expect(error.status).toBeNull();
      expect(attempts).toBe(3);
    });
  }

  test("a retry-after within the cap is waited for", async () => {
    let attempts = 0;
    const rateLimitedOnce = (async (input: RequestInfo | URL, init?: RequestInit) => {
      attempts++;
      if (attempts === 1) return new Response("{}", { status: 429, headers: { "retry-after": "0.3" } });
      return fetch(input, init);
    }) as unknown as typeof fetch;
    const started = performance.now();
    const answer = await createChatProviders({ fetch: rateLimitedOnce, retryBaseDelayMs: 1 }).complete(
      callFor("anthropic"),
    );
    expect(answer.usage?.promptTokens).toBe(12);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(attempts).toBe(2);
  });

  test("a retry-after beyond the cap ends the retries at once", async () => {
    let attempts = 0;
    const rateLimited = (async () => {
      attempts++;
      return new Response("{}", { status: 429, headers: { "retry-after": "120" } });
    }) as unknown as typeof fetch;
    const started = performance.now();
    const error = await failureOf(createChatProviders({ fetch: rateLimited }).complete(callFor("openai")));
    expect(error.status).toBe(429);
    expect(attempts).toBe(1);
    expect(performance.now() - started).toBeLessThan(500);
  });

  test("retry-after is read as milliseconds, seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter(new Headers({ "retry-after-ms": "150" }), now)).toBe(150);
    expect(parseRetryAfter(new Headers({ "retry-after": "2" }), now)).toBe(2000);
    expect(parseRetryAfter(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(3000);
    expect(parseRetryAfter(new Headers({ "retry-after": "soon" }), now)).toBeNull();
    expect(parseRetryAfter(new Headers(), now)).toBeNull();
  });
});

describe("timeouts and aborts", () => {
  for (const provider of allProviders) {
    test(`${provider}: complete times out after timeoutMs and is not retried`, async () => {
      upstream.script({ delayMs: 1_500 });
      const started = performance.now();
      const error = await failureOf(providers.complete(callFor(provider, { timeoutMs: 200 })));
      const elapsed = performance.now() - started;
      expect(error.kind).toBe("timeout");
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(1_000);
      expect(upstream.requests).toHaveLength(1);
    });

    test(`${provider}: stream times out while waiting for headers`, async () => {
      upstream.script({ delayMs: 1_500 });
      const started = performance.now();
      const error = await failureOf(providers.stream(callFor(provider, { timeoutMs: 200 })));
      expect(error.kind).toBe("timeout");
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    test(`${provider}: a stream that goes quiet for longer than timeoutMs fails with a timeout`, async () => {
      upstream.script({ chunkDelayMs: 1_000 });
      const stream = await providers.stream(callFor(provider, { timeoutMs: 200 }));
      const started = performance.now();
      const error = await failureOf(collect(stream.events));
      expect(error.kind).toBe("timeout");
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    test(`${provider}: the caller's signal aborts a pending call`, async () => {
      upstream.script({ delayMs: 1_500 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = performance.now();
      const error = await failureOf(providers.complete(callFor(provider, { signal: controller.signal })));
      expect(error.kind).toBe("aborted");
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    test(`${provider}: an already aborted signal sends nothing`, async () => {
      const error = await failureOf(providers.stream(callFor(provider, { signal: AbortSignal.abort() })));
      expect(error.kind).toBe("aborted");
      expect(upstream.requests).toHaveLength(0);
    });

    test(`${provider}: aborting during the retry backoff ends the call`, async () => {
      upstream.defaultBehaviour = { status: 500 };
      const controller = new AbortController();
      const slowRetries = createChatProviders({ retryBaseDelayMs: 2_000 });
      setTimeout(() => controller.abort(), 150);
      const started = performance.now();
      const error = await failureOf(slowRetries.complete(callFor(provider, { signal: controller.signal })));
      expect(error.kind).toBe("aborted");
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(upstream.requests).toHaveLength(1);
    });
  }
});

describe("streams that break mid-way", () => {
  for (const provider of allProviders) {
    test(`${provider}: a cut connection makes the iterator throw a network error and nothing is retried`, async () => {
      upstream.script({ content: "one two three four five", failAfterChunks: 2 });
      const stream = await providers.stream(callFor(provider));
      const seen: StreamEvent[] = [];
      let failure: unknown;
      try {
        for await (const event of stream.events) seen.push(event);
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(ProviderError);
      expect((failure as ProviderError).kind).toBe("network");
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.some((event) => event.data === "[DONE]" || event.event === "message_stop")).toBe(false);
      expect(upstream.requests).toHaveLength(1);
    });
  }

  test("anthropic: usage seen before the cut stays available", async () => {
    upstream.script({ failAfterChunks: 1, usage: { prompt: 18, completion: 9, cached: 6 } });
    const stream = await providers.stream(callFor("anthropic"));
    await failureOf(collect(stream.events));
    expect(stream.usage()).toEqual({ promptTokens: 18, completionTokens: 1, cachedTokens: 6, estimated: false });
  });

  test("openai: a body that ends cleanly without [DONE] counts as broken", async () => {
    const truncated = (async () =>
      new Response('data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n', {
        headers: { "content-type": "text/event-stream" },
      })) as unknown as typeof fetch;
    const stream = await createChatProviders({ fetch: truncated }).stream(callFor("openai"));
    const error = await failureOf(collect(stream.events));
    expect(error.kind).toBe("network");
  });

  test("anthropic: an error event mid-stream ends the iteration with a network error", async () => {
    const overloaded = (async () =>
      new Response(
        'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
          'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
        { headers: { "content-type": "text/event-stream" } },
      )) as unknown as typeof fetch;
    const stream = await createChatProviders({ fetch: overloaded }).stream(callFor("anthropic"));
    const error = await failureOf(collect(stream.events));
    expect(error.kind).toBe("network");
    expect(error.message).not.toContain("Overloaded");
    expect(stream.usage()?.promptTokens).toBe(3);
  });
});

describe("error messages", () => {
  for (const provider of allProviders) {
    for (const status of [401, 429, 500]) {
      test(`${provider}: an HTTP ${status} names the provider and status but neither the key nor the upstream's text`, async () => {
        upstream.defaultBehaviour = {
          status,
          errorBody: { error: { message: `Incorrect API key provided: ${apiKey} (upstream detail)` } },
        };
        const error = await failureOf(providers.complete(callFor(provider)));
        expect(error.kind).toBe("http");
        expect(error.status).toBe(status);
        expect(error.message).toContain(provider);
        expect(error.message).toContain(String(status));
        expect(error.message).not.toContain(apiKey);
        expect(error.message).not.toContain("upstream detail");
        expect(JSON.stringify(error)).not.toContain(apiKey);
        expect(String(error.stack)).not.toContain(apiKey);
      });
    }

    test(`${provider}: network and timeout errors do not carry the key either`, async () => {
      const leakyFetch = (async () => {
        throw new TypeError(`connect failed for ${apiKey}`);
      }) as unknown as typeof fetch;
      const network = await failureOf(
        createChatProviders({ fetch: leakyFetch, maxRetries: 0 }).complete(callFor(provider)),
      );
      expect(network.message).not.toContain(apiKey);
      expect(network.message).not.toContain("connect failed");

      upstream.script({ delayMs: 1_000 });
      const timeout = await failureOf(providers.complete(callFor(provider, { timeoutMs: 100 })));
      expect(timeout.message).not.toContain(apiKey);
    });
  }
});

describe("SseDecoder", () => {
  const wire =
    ": keep-alive\r\n" +
    "event: message_start\r\n" +
    'data: {"a":1}\r\n' +
    "\r\n" +
    "data: line one\n" +
    "data:line two\n" +
    "\n" +
    "event: empty\r\r" +
    "event: ping\rdata: {}\r\r" +
    "id: 7\nretry: 100\ndata: [DONE]";
  const expected: SseMessage[] = [
    { event: "message_start", data: '{"a":1}' },
    { data: "line one\nline two" },
    { event: "ping", data: "{}" },
    { data: "[DONE]" },
  ];

  function decodeInPieces(pieces: string[]): SseMessage[] {
    const decoder = new SseDecoder();
    const out = pieces.flatMap((piece) => decoder.push(piece));
    return [...out, ...decoder.end()];
  }

  test("decodes events with CRLF, CR and LF line ends, comments, multi-line data and a last event without a blank line", () => {
    expect(decodeInPieces([wire])).toEqual(expected);
  });

  test("gives the same events whatever the chunk boundaries, even between CR and LF", () => {
    expect(decodeInPieces([...wire])).toEqual(expected);
    for (let cut = 1; cut < wire.length; cut++) {
      expect(decodeInPieces([wire.slice(0, cut), wire.slice(cut)])).toEqual(expected);
    }
  });

  test("keeps a CRLF split across pieces as one line break", () => {
    const decoder = new SseDecoder();
    expect(decoder.push("data: x\r")).toEqual([]);
    expect(decoder.push("\n\r")).toEqual([{ data: "x" }]);
    expect(decoder.push("\ndata: y\n\n")).toEqual([{ data: "y" }]);
    expect(decoder.end()).toEqual([]);
  });
});
