import { destination, pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured logs to stderr, so stdout stays free for CLI output. Every line carries `event`
 * (a stable name such as `smtp.rcpt` or `delivery.sent`) and the ids needed to follow one message.
 */
export function createLogger(level: string): Logger {
  // Synchronous: a process killed with SIGKILL must not lose the lines it wrote just before.
  return pino({ level, base: { app: "postern" } }, destination({ dest: 2, sync: true }));
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
