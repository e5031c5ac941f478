import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

/**
 * A real SMTP server on 127.0.0.1 that keeps what it receives: the relay in outbound tests.
 *
 *   const sink = await startSmtpSink();            // or startSmtpSink({ port }) to come back on a port
 *   config = buildConfig({ outbound: { transport: "smtp", port: sink.port } });
 *   sink.failNext(451);                            // next message answered 451; failAll(550) for every one
 *   const [message] = await sink.waitFor(1);       // accepted messages, parsed
 *   await sink.close();
 *
 * No auth, no STARTTLS (hidden, so clients stay in plain text), no reverse DNS: nothing leaves
 * the machine.
 */
export interface SinkMessage {
  readonly envelope: { readonly mailFrom: string; readonly rcptTo: readonly string[] };
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
}

export interface SmtpSink {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** Messages answered 250, in arrival order. */
  readonly messages: readonly SinkMessage[];
  /** Every reply given after DATA (250 or the injected code), in order: shows the attempts made. */
  readonly replies: readonly number[];
  /** Answer the next `times` messages with `code` (4xx or 5xx) after DATA. */
  failNext(code: number, times?: number): void;
  /** Answer every message with `code` until accept() is called. */
  failAll(code: number): void;
  /** Back to accepting everything. */
  accept(): void;
  /**
   * Hold each DATA reply for `ms`. The message already counts for waitFor() while its reply is
   * held, so a test can act while the sender is still waiting for the 250.
   */
  delayReplies(ms: number): void;
  /** Resolves with the accepted messages once there are at least `count` of them. */
  waitFor(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  /** Stops listening and drops open connections (pooled clients see the server go away). */
  close(): Promise<void>;
}

export async function startSmtpSink(options: { port?: number } = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  const replies: number[] = [];
  const waiters = new Set<() => void>();
  let failCode: number | undefined;
  let failRemaining = 0;
  let replyDelayMs = 0;

  const nextReply = (): number => {
    if (failCode === undefined) return 250;
    const code = failCode;
    if (failRemaining !== Infinity && --failRemaining <= 0) failCode = undefined;
    return code;
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH"],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    // Pooled clients keep idle connections open; do not wait 30 s for them on close().
    closeTimeout: 50,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", callback);
      stream.on("end", () => {
        void (async () => {
          const raw = Buffer.concat(chunks);
          const code = nextReply();
          replies.push(code);
          if (code === 250) {
            messages.push({
              envelope: {
                mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              },
              raw,
              parsed: await simpleParser(raw),
            });
            for (const wake of waiters) wake();
          }
          if (replyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, replyDelayMs));
          if (code === 250) return callback();
          const error = Object.assign(new Error(code >= 500 ? "5.0.0 rejected by the test sink" : "4.0.0 try again later (test sink)"), {
            responseCode: code,
          });
          callback(error);
        })();
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  // A client dropping the connection must not crash the test process.
  server.on("error", () => {});

  return {
    host: "127.0.0.1",
    port,
    messages,
    replies,
    failNext(code, times = 1) {
      failCode = code;
      failRemaining = times;
    },
    failAll(code) {
      failCode = code;
      failRemaining = Infinity;
    },
    accept() {
      failCode = undefined;
      failRemaining = 0;
    },
    delayReplies(ms) {
      replyDelayMs = ms;
    },
    waitFor(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve([...messages]);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`smtp sink: expected ${count} message(s) within ${timeoutMs} ms, got ${messages.length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
