/** OpenAI and DeepSeek (OpenAI-compatible Chat Completions) through the official `openai` SDK. */

import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import {
  type ChatProviders,
  type ProviderAnswer,
  type ProviderCall,
  ProviderError,
  type ProviderStream,
  type StreamEvent,
  type TokenUsage,
} from "../../domain/chat/mod.ts";
import { sha256Hex } from "../crypto/webcrypto_keyring.ts";
import {
  AttemptControl,
  count,
  elapsedSince,
  httpError,
  isRecord,
  networkError,
  type ProviderOptions,
  retryPolicyOf,
  timeoutError,
  withRetries,
} from "./_shared.ts";
import { readServerSentEvents } from "./_sse.ts";

// Enough for every (base URL, key) pair a deployment uses; the oldest client goes when a new one would not fit.
const MAX_CLIENTS = 32;

/** Reads OpenAI-style usage; cached tokens come from DeepSeek's cache hits or OpenAI's cached_tokens, never both. */
export function openAIUsage(raw: unknown): TokenUsage | null {
  if (!isRecord(raw)) return null;
  const promptTokens = count(raw.prompt_tokens);
  const completionTokens = count(raw.completion_tokens);
  if (promptTokens === null && completionTokens === null) return null;
  const details = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const cachedTokens = count(raw.prompt_cache_hit_tokens) ?? count(details.cached_tokens) ?? 0;
  return {
    promptTokens: promptTokens ?? 0,
    completionTokens: completionTokens ?? 0,
    cachedTokens,
    estimated: false,
  };
}

/** Builds the ChatProviders adapter for OpenAI-compatible upstreams ("openai", "deepseek"). */
export function createOpenAICompatibleProvider(options: ProviderOptions = {}): ChatProviders {
  const policy = retryPolicyOf(options);
  const clients = new Map<string, OpenAI>();

  function clientFor(call: ProviderCall): OpenAI {
    // The key is cached by digest so the map itself never holds it as a lookup string.
    const cacheKey = `${call.baseUrl}\n${sha256Hex(call.apiKey)}`;
    const cached = clients.get(cacheKey);
    if (cached) {
      clients.delete(cacheKey);
      clients.set(cacheKey, cached);
      return cached;
    }
    const client = new OpenAI({
      apiKey: call.apiKey,
      baseURL: call.baseUrl,
      // Retries, timeouts and cancellation are ours: the SDK's retries would also fire on 408/409 and its
      // backoff cannot be tuned.
      maxRetries: 0,
      // Never pick up OpenAI-only settings from the environment; they would leak into DeepSeek calls.
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      logLevel: "off",
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    clients.set(cacheKey, client);
    if (clients.size > MAX_CLIENTS) clients.delete(clients.keys().next().value as string);
    return client;
  }

  /** Names an SDK (or fetch) failure without any of the upstream's text. */
  function failureOf(call: ProviderCall, control: AttemptControl, error: unknown): ProviderError {
    return control.failure(() => {
      if (error instanceof APIConnectionTimeoutError) return timeoutError(call);
      if (error instanceof APIUserAbortError) return networkError(call.provider, "request cancelled");
      if (error instanceof APIError && typeof error.status === "number") {
        return httpError(call.provider, error.status, error.headers);
      }
      return networkError(call.provider);
    });
  }

  function paramsOf(call: ProviderCall): Record<string, unknown> {
    // `stream` and `stream_options` are the adapter's to set: OpenAI rejects stream_options on a non-stream call.
    const { stream: _stream, stream_options: _streamOptions, ...extra } = call.extra ?? {};
    return {
      ...extra,
      model: call.model,
      messages: call.messages.map((message) => ({ role: message.role, content: message.content })),
      max_tokens: call.maxTokens,
      ...(call.temperature === undefined ? {} : { temperature: call.temperature }),
    };
  }

  async function complete(call: ProviderCall): Promise<ProviderAnswer> {
    const started = performance.now();
    const client = clientFor(call);
    const params = { ...paramsOf(call), stream: false } as unknown as ChatCompletionCreateParamsNonStreaming;
    const body = await withRetries(call, policy, async () => {
      const control = new AttemptControl(call);
      control.arm();
      try {
        // The SDK's parsed result is the provider's JSON as sent (plus a non-enumerable `_request_id`).
        return await client.chat.completions.create(params, {
          signal: control.signal,
          timeout: call.timeoutMs,
          maxRetries: 0,
        });
      } catch (error) {
        throw failureOf(call, control, error);
      } finally {
        control.dispose();
      }
    });
    return { body, usage: openAIUsage(isRecord(body) ? body.usage : null), upstreamMs: elapsedSince(started) };
  }

  async function stream(call: ProviderCall): Promise<ProviderStream> {
    const started = performance.now();
    const client = clientFor(call);
    const extraStreamOptions = isRecord(call.extra?.stream_options) ? call.extra.stream_options : {};
    const params = {
      ...paramsOf(call),
      stream: true,
      // The final usage chunk is what the call is billed from.
      stream_options: { ...extraStreamOptions, include_usage: true },
    } as unknown as ChatCompletionCreateParamsStreaming;

    const { response, control } = await withRetries(call, policy, async () => {
      const control = new AttemptControl(call);
      control.arm();
      try {
        // The raw response: the SDK's own stream reader swallows aborts and cannot tell a cut from an end.
        const response = await client.chat.completions
          .create(params, { signal: control.signal, timeout: call.timeoutMs, maxRetries: 0 })
          .asResponse();
        control.disarm();
        if (!response.body) throw networkError(call.provider, "sent no body");
        return { response, control };
      } catch (error) {
        control.dispose();
        if (error instanceof ProviderError) throw error;
        throw failureOf(call, control, error);
      }
    });
    const upstreamMs = elapsedSince(started);

    let usage: TokenUsage | null = null;
    async function* events(): AsyncGenerator<StreamEvent> {
      let done = false;
      for await (const message of readServerSentEvents(response.body!, control, call.provider)) {
        if (message.data === "[DONE]") {
          done = true;
          break;
        }
        let chunk: unknown;
        try {
          chunk = JSON.parse(message.data);
        } catch {
          throw networkError(call.provider, "sent a malformed stream chunk");
        }
        if (isRecord(chunk) && chunk.error !== undefined && chunk.error !== null) {
          throw networkError(call.provider, "reported an error mid-stream");
        }
        if (isRecord(chunk) && chunk.usage) usage = openAIUsage(chunk.usage) ?? usage;
        yield { data: message.data };
      }
      // A body that ends without the sentinel was cut short (proxies close connections cleanly too).
      if (!done) throw networkError(call.provider, "stream broke off");
      yield { data: "[DONE]" };
    }

    return { events: events(), usage: () => usage, upstreamMs };
  }

  return { complete, stream };
}
