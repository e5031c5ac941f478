import { destination, pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured logs to stderr, so stdout stays free for CLI output. Every line carries `event`
 * (a stable name such as `smtp.rcpt` or `delivery.sent`) and the ids needed to follow one message.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: "postern" } }, destination(2));
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
