/** Chat proxy: provider port, admission, settlement and usage of AI calls. */
export { ProviderError } from "./_ports.ts";
export type { ChatMessage, ChatProviders, ProviderAnswer, ProviderCall, ProviderStream, StreamEvent, TokenUsage } from "./_ports.ts";
