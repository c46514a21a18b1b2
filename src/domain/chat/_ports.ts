// Types and ports of the chat proxy: what a provider call is, what comes back, and how it fails.
import type { ProviderName } from "../plans/mod.ts";

/** One chat message as plugins send it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Token usage as the provider reported it (or estimated, flagged, when it reported none). */
export interface TokenUsage {
  /** All prompt tokens, cached ones included. */
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the provider's cache (OpenAI cached_tokens, DeepSeek cache hits, Anthropic cache reads). */
  cachedTokens: number;
  estimated: boolean;
}

/** One upstream call, fully resolved: provider, model, key and where to send it. */
export interface ProviderCall {
  provider: ProviderName;
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens: number;
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  /** Aborts the upstream call (client gone before the first byte, shutdown). */
  signal?: AbortSignal;
  /** Further OpenAI-style parameters passed through unchanged (top_p, stop, ...), for /v1/chat/completions. */
  extra?: Record<string, unknown>;
}

/** A complete (non-streamed) answer in the provider's own JSON shape. */
export interface ProviderAnswer {
  body: unknown;
  usage: TokenUsage | null;
  upstreamMs: number;
}

/** One server-sent event in the provider's native format (`event` is set for Anthropic). */
export interface StreamEvent {
  event?: string;
  data: string;
  /**
   * Characters of generated text the event carries, as the adapter read them while parsing it (absent: none).
   * A stream whose provider reports no usage is billed on an estimate built from them.
   */
  generatedChars?: number;
  /** True for a chunk that carries only the call's usage (OpenAI-compatible `include_usage`) and no content. */
  usageOnly?: boolean;
}

/**
 * A streamed answer whose upstream already answered 2xx (retries are over). Iterate `events` to the end to
 * capture usage; `usage()` is final once the iteration ended (null when the provider reported none).
 */
export interface ProviderStream {
  events: AsyncIterable<StreamEvent>;
  usage(): TokenUsage | null;
  /** Milliseconds until the upstream's response headers arrived. */
  upstreamMs: number;
}

/** Why an upstream call failed: an HTTP status, a timeout, or the network. */
export class ProviderError extends Error {
  constructor(
    readonly kind: "http" | "timeout" | "network" | "aborted",
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}

/** Port: the AI providers, one adapter each behind a single dispatch. */
export interface ChatProviders {
  complete(call: ProviderCall): Promise<ProviderAnswer>;
  stream(call: ProviderCall): Promise<ProviderStream>;
}
