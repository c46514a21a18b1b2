/** Chat proxy: provider port, admission, settlement and usage of AI calls. */
export { ProviderError } from "./_ports.ts";
export type { ChatMessage, ChatProviders, ProviderAnswer, ProviderCall, ProviderStream, StreamEvent, TokenUsage } from "./_ports.ts";
export type { ProviderKeys, StoredKeyInfo, UsableKey } from "./_keys.ts";
export {
  DEFAULT_MAX_TOKENS,
  proxyChat,
  resolveChatRequest,
  type ChatCaller,
  type ChatCompleted,
  type ChatDeps,
  type ChatInput,
  type ChatOutcome,
  type ChatRefusal,
  type ChatStreaming,
  type SettledUsage,
} from "./proxy_chat.ts";
