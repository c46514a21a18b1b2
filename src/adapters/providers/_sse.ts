/** Server-sent events: an incremental decoder and a reader that turns an upstream body into events as they arrive. */

import { type AttemptControl, networkError } from "./_shared.ts";

/** One decoded event: its `event:` name (when given) and its `data:` lines joined by "\n". */
export interface SseMessage {
  event?: string;
  data: string;
}

/**
 * Decodes the SSE wire format from text pieces split anywhere, even inside a CRLF pair. Follows the WHATWG rules
 * (comments, one optional space after the colon, multi-line data, events without data are dropped) except that a
 * last event without its closing blank line is still delivered.
 */
export class SseDecoder {
  private partial = "";
  private afterCR = false;
  private event: string | undefined;
  private data: string[] = [];

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let start = 0;
    // A CR that ended the previous piece already ended its line; a LF right after it is the same line break.
    if (this.afterCR && text.length > 0) {
      this.afterCR = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code !== 10 && code !== 13) continue;
      const line = this.partial + text.slice(start, i);
      this.partial = "";
      this.line(line, out);
      if (code === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.afterCR = true;
        }
      }
      start = i + 1;
    }
    this.partial += text.slice(start);
    return out;
  }

  /** Ends the input; returns the last event when the stream stopped without its blank line. */
  end(): SseMessage[] {
    const out: SseMessage[] = [];
    if (this.partial !== "") this.line(this.partial, out);
    this.partial = "";
    this.afterCR = false;
    this.line("", out);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === "") {
      if (this.data.length > 0) {
        const message: SseMessage = { data: this.data.join("\n") };
        if (this.event !== undefined && this.event !== "") message.event = this.event;
        out.push(message);
      }
      this.event = undefined;
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" starts a comment (keep-alives)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    // "id" and "retry" mean nothing for a one-shot upstream call.
  }
}

/**
 * Yields the events of an SSE body as its bytes arrive. Each wait for bytes runs under the attempt's timeout
 * (an idle timeout); a body that fails throws a ProviderError ("timeout", "aborted", or "network").
 * Stopping the iteration early closes the connection.
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  control: AttemptControl,
  provider: string,
): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const text = new TextDecoder();
  const decoder = new SseDecoder();
  let finished = false;
  try {
    while (true) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      control.arm();
      try {
        chunk = await reader.read();
      } catch {
        throw control.failure(() => networkError(provider, "stream broke off"));
      } finally {
        control.disarm();
      }
      // A timer or abort that fired while the read was settling still ends the stream.
      const cancelled = control.cancellation();
      if (cancelled) throw cancelled;
      if (chunk.done) break;
      yield* decoder.push(text.decode(chunk.value, { stream: true }));
    }
    finished = true;
    yield* decoder.push(text.decode());
    yield* decoder.end();
  } finally {
    if (!finished) {
      control.abort();
      reader.cancel().catch(() => undefined);
    }
    control.dispose();
  }
}
