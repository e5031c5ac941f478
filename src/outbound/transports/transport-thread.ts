import { Worker } from "node:worker_threads";
import type { Logger } from "../../log.js";
import { threadLogOf, type ThreadLog } from "../thread-log.js";
import type { SmtpTransportSettings } from "./smtp-transport.js";
import type { OutboundMessage, SendResult, Transport } from "./transport.js";

/** What the transport thread starts from. */
export interface TransportThreadData {
  readonly settings: SmtpTransportSettings;
  readonly log: ThreadLog;
  /** The entry module the tsx bootstrap imports, when running from TypeScript sources. */
  readonly entry?: string;
}

/** A failed send's error fields, which src/domain/delivery-errors.ts classifies, as they cross back. */
export interface SendFailure {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly responseCode?: number;
  readonly command?: string;
  readonly response?: string;
  readonly syscall?: string;
}

export type ToTransportThread =
  | { readonly type: "send"; readonly id: number; readonly envelope: OutboundMessage["envelope"]; readonly raw: Uint8Array }
  | { readonly type: "close" };
export type FromTransportThread =
  | { readonly type: "sent"; readonly id: number; readonly result: SendResult }
  | { readonly type: "failed"; readonly id: number; readonly failure: SendFailure }
  | { readonly type: "closed" }
  | { readonly type: "log"; readonly line: string };

interface Waiting {
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The SMTP transport in a worker thread of its own. The SMTP side of a copy (the pool, the
 * SMTP dialogue, the socket writes) costs about as much CPU as claiming, rendering and recording
 * it; here it runs on the other core, beside the thread that renders the next copies. A copy's
 * bytes cross once, moved rather than shared; the relay's answer or the send's error fields come
 * back, so retries and bounces are decided exactly as with the transport in place.
 *
 * The thread starts with the first copy and runs until close(). One that dies fails the copies it
 * held as a connection failure (retried after the usual delay, like a relay that dropped them) and
 * is started again by the next copy. While no copy is in flight it does not keep the process alive.
 */
export class TransportThread implements Transport {
  private running: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;
  private readonly log: ThreadLog;
  private readonly stream: { write(line: string): unknown } | undefined;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly settings: SmtpTransportSettings,
    logger?: Logger,
  ) {
    this.logger = logger?.child({ component: "transport" });
    if (this.logger) {
      const { log, stream } = threadLogOf(this.logger);
      this.log = log;
      this.stream = stream;
    } else {
      this.log = { level: "silent", bindings: {}, fd: null };
      this.stream = undefined;
    }
  }

  /** The running thread, for tests; undefined before the first copy and after a crash. */
  get thread(): Worker | undefined {
    return this.running;
  }

  send(message: OutboundMessage): Promise<SendResult> {
    if (this.closed) return Promise.reject(Object.assign(new Error("the SMTP transport is closed"), { code: "ECONNECTION" }));
    const thread = this.running ?? this.spawn();
    const id = this.nextId++;
    // A copy of its own, moved to the thread: the rendered bytes may share their memory with others.
    const raw = new Uint8Array(message.raw);
    return new Promise<SendResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) thread.ref();
      const request: ToTransportThread = { type: "send", id, envelope: message.envelope, raw };
      thread.postMessage(request, [raw.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const thread = this.running;
    if (!thread) return;
    thread.ref();
    await new Promise<void>((resolve) => {
      thread.on("message", (message: FromTransportThread) => {
        if (message.type === "closed") resolve();
      });
      thread.once("exit", () => resolve());
      const request: ToTransportThread = { type: "close" };
      thread.postMessage(request);
    });
    this.running = undefined;
    await thread.terminate();
  }

  private spawn(): Worker {
    // Under tsx (bin/postern.js, vitest) this module is TypeScript and a new thread knows nothing
    // of tsx: the delivery thread's bootstrap registers it there, then imports the entry.
    const typescript = import.meta.url.endsWith(".ts");
    const entry = new URL(`./transport-thread-entry.${typescript ? "ts" : "js"}`, import.meta.url);
    const data: TransportThreadData = { settings: this.settings, log: this.log, ...(typescript ? { entry: entry.href } : {}) };
    const thread = new Worker(typescript ? new URL("../delivery-thread-tsx.mjs", import.meta.url) : entry, { workerData: data, name: "postern-transport" });
    thread.unref();
    this.running = thread;
    thread.on("message", (message: FromTransportThread) => {
      if (message.type === "log") {
        this.stream?.write(message.line);
        return;
      }
      if (message.type !== "sent" && message.type !== "failed") return;
      const waiting = this.waiting.get(message.id);
      if (!waiting) return;
      this.waiting.delete(message.id);
      if (this.waiting.size === 0) thread.unref();
      if (message.type === "sent") waiting.resolve(message.result);
      else waiting.reject(Object.assign(new Error(message.failure.message), message.failure));
    });
    let failure: Error | undefined;
    thread.on("error", (error) => {
      failure = error;
    });
    thread.once("exit", (code) => {
      if (this.running === thread) this.running = undefined;
      if (this.waiting.size === 0) return;
      const reason = failure?.message ?? `exit code ${code}`;
      this.logger?.error({ event: "outbound.transport_thread_exited", code, err: failure, inFlight: this.waiting.size }, "the transport thread ended with copies in flight; they are retried");
      const lost = [...this.waiting.values()];
      this.waiting.clear();
      for (const { reject } of lost) reject(Object.assign(new Error(`the transport thread ended before the relay answered (${reason})`), { code: "ECONNECTION" }));
    });
    return thread;
  }
}
