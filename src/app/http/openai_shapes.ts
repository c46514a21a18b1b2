// OpenAI wire shapes for /v1: the error envelope, model names, and Anthropic answers translated to
// chat.completion / chat.completion.chunk.
import type { StreamEvent, TokenUsage } from "../../domain/chat/mod.ts";
import { PROVIDERS, type Plan, type ProviderName } from "../../domain/plans/mod.ts";

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "insufficient_quota",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
};

/** The contract's error body in OpenAI's envelope `{"error":{"message","type","code"}}`. */
export function openAiError(status: number, body: Record<string, unknown>): Record<string, unknown> {
  const { error, code, field, ...rest } = body;
  return {
    error: {
      message: String(error ?? "Error"),
      type: ERROR_TYPES[status] ?? "api_error",
      code: code ?? null,
      param: field ?? null,
      ...rest,
    },
  };
}

/** Splits `provider/model`; a bare name is a DeepSeek model when it starts with "deepseek", else OpenAI. */
export function splitModel(model: unknown): { provider: string | undefined; model: unknown } {
  if (typeof model !== "string") return { provider: undefined, model };
  const slash = model.indexOf("/");
  if (slash > 0 && PROVIDERS.includes(model.slice(0, slash) as ProviderName)) {
    return { provider: model.slice(0, slash), model: model.slice(slash + 1) };
  }
  return { provider: model.startsWith("deepseek") ? "deepseek" : "openai", model };
}

/** The name a model has on /v1: bare for OpenAI and DeepSeek, `anthropic/...` for Anthropic. */
export function publicModelName(provider: ProviderName, model: string): string {
  return provider === "anthropic" ? `anthropic/${model}` : model;
}

/** `GET /v1/models`: the models the plan allows. */
export function modelList(plan: Plan): Record<string, unknown> {
  const data = PROVIDERS.flatMap((provider) =>
    (plan.allowedModels[provider] ?? []).map((model) => ({
      id: publicModelName(provider, model),
      object: "model",
      created: 0,
      owned_by: provider,
    })),
  );
  return { object: "list", data };
}

/** Message contents on /v1 may be strings or arrays of text parts; both become plain text. */
export function flattenMessages(messages: unknown): unknown {
  if (!Array.isArray(messages)) return messages;
  return messages.map((m) => {
    if (!m || typeof m !== "object" || !Array.isArray((m as { content?: unknown }).content)) return m;
    const parts = (m as { content: Array<{ type?: string; text?: unknown }> }).content;
    if (!parts.every((p) => p && p.type === "text" && typeof p.text === "string")) return m;
    return { ...m, content: parts.map((p) => p.text).join("") };
  });
}

function finishReason(stopReason: unknown): string {
  if (stopReason === "max_tokens") return "length";
  if (stopReason === "tool_use") return "tool_calls";
  return "stop";
}

function openAiUsage(usage: TokenUsage): Record<string, unknown> {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/** An Anthropic message as an OpenAI `chat.completion`. */
export function anthropicToCompletion(body: any, model: string, usage: TokenUsage, created: number): Record<string, unknown> {
  const text = Array.isArray(body?.content)
    ? body.content.filter((b: any) => b?.type === "text").map((b: any) => String(b.text ?? "")).join("")
    : "";
  return {
    id: `chatcmpl-${String(body?.id ?? "anthropic")}`,
    object: "chat.completion",
    created,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finishReason(body?.stop_reason) }],
    usage: openAiUsage(usage),
  };
}

/**
 * Turns Anthropic stream events into OpenAI chunk events, one by one. Usage is followed from the events
 * themselves, so the closing usage chunk is right even though the call is settled only afterwards.
 */
export function anthropicChunkTranslator(model: string, created: number, includeUsage: boolean) {
  let id = "chatcmpl-anthropic";
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, estimated: false };
  const chunk = (delta: Record<string, unknown>, finish: string | null): StreamEvent => ({
    data: JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }),
  });
  return (event: StreamEvent): StreamEvent[] => {
    let data: any;
    try {
      data = JSON.parse(event.data);
    } catch {
      return [];
    }
    switch (data?.type) {
      case "message_start": {
        id = `chatcmpl-${String(data.message?.id ?? "anthropic")}`;
        const u = data.message?.usage ?? {};
        usage.cachedTokens = Number(u.cache_read_input_tokens ?? 0);
        usage.promptTokens = Number(u.input_tokens ?? 0) + usage.cachedTokens + Number(u.cache_creation_input_tokens ?? 0);
        usage.completionTokens = Number(u.output_tokens ?? 0);
        return [chunk({ role: "assistant", content: "" }, null)];
      }
      case "content_block_delta":
        return data.delta?.type === "text_delta" ? [chunk({ content: String(data.delta.text ?? "") }, null)] : [];
      case "message_delta":
        if (data.usage?.output_tokens != null) usage.completionTokens = Number(data.usage.output_tokens);
        return [chunk({}, finishReason(data.delta?.stop_reason))];
      case "message_stop": {
        const out: StreamEvent[] = [];
        if (includeUsage) out.push({ data: JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: openAiUsage(usage) }) });
        out.push({ data: "[DONE]" });
        return out;
      }
      default:
        return [];
    }
  };
}
