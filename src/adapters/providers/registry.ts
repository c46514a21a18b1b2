/** The ChatProviders port: one dispatch over the OpenAI-compatible and Anthropic adapters. */

import type { ChatProviders, ProviderCall } from "../../domain/chat/mod.ts";
import type { ProviderOptions } from "./_shared.ts";
import { createAnthropicProvider } from "./anthropic.ts";
import { createOpenAICompatibleProvider } from "./openai_compatible.ts";

/** Options of `createChatProviders`: retry tuning and the fetch every upstream request goes through. */
export type ChatProvidersOptions = ProviderOptions;

/** Builds the ChatProviders port: "openai" and "deepseek" go through the OpenAI SDK, "anthropic" over fetch. */
export function createChatProviders(options: ChatProvidersOptions = {}): ChatProviders {
  const openAICompatible = createOpenAICompatibleProvider(options);
  const anthropic = createAnthropicProvider(options);

  function adapterFor(call: ProviderCall): ChatProviders {
    switch (call.provider) {
      case "openai":
      case "deepseek":
        return openAICompatible;
      case "anthropic":
        return anthropic;
      default: {
        const unknown: never = call.provider;
        throw new Error(`no adapter for provider ${String(unknown)}`);
      }
    }
  }

  return {
    complete: async (call) => adapterFor(call).complete(call),
    stream: async (call) => adapterFor(call).stream(call),
  };
}
