import { destination, pino, symbols, type DestinationStream } from "pino";
import type { Logger } from "../log.js";

/**
 * A logger, as far as a thread can have it: its level and bindings, and either the file
 * descriptor it writes to (the thread writes there itself, synchronously, so a process killed just
 * after a line loses none of it) or, for a logger writing to a stream of its own (tests, or a
 * thread that itself sends its lines on), nothing: the thread then sends each line to its parent,
 * which writes it to that stream.
 */
export interface ThreadLog {
  readonly level: string;
  readonly bindings: Record<string, unknown>;
  readonly fd: number | null;
}

/** What a thread needs of `logger`, and the stream its parent writes the thread's lines to when there is no descriptor. */
export function threadLogOf(logger: Logger): { readonly log: ThreadLog; readonly stream: { write(line: string): unknown } | undefined } {
  const stream = (logger as unknown as Record<symbol, unknown>)[symbols.streamSym] as { fd?: unknown; write(line: string): unknown } | undefined;
  const fd = typeof stream?.fd === "number" && stream.fd >= 0 ? stream.fd : null;
  return { log: { level: logger.level, bindings: logger.bindings(), fd }, stream: fd === null ? stream : undefined };
}

/** The logger inside the thread: the parent's level and bindings, writing to its descriptor or sending each line with `sendLine`. */
export function threadLogger(log: ThreadLog, sendLine: (line: string) => void): Logger {
  const options = { level: log.level, base: log.bindings };
  if (log.level === "silent") return pino(options);
  if (log.fd !== null) return pino(options, destination({ dest: log.fd, sync: true }));
  const toParent: DestinationStream = { write: sendLine };
  return pino(options, toParent);
}
