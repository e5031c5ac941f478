import { Worker } from "node:worker_threads";
import type { Config } from "../config/config.js";
import type { SharedByteBudget } from "../concurrency/shared-budget.js";
import type { Logger } from "../log.js";
import { sharedWriteLock } from "../db/database.js";
import type { Deliveries } from "./delivery-worker.js";
import { threadLogOf, type ThreadLog } from "./thread-log.js";

/** What the delivery thread starts from: plain data, since nothing else crosses to a thread. */
export interface DeliveryThreadData {
  /** The built Config; structured cloning drops its freezing, which the thread puts back. */
  readonly config: Config;
  readonly log: ThreadLog;
  /** The large-message budget's shared memory, so copies and received messages draw on one. */
  readonly largeBudget: { readonly limit: number; readonly buffer: SharedArrayBuffer };
  /** SQLite: the main thread's write lock for the file, so both threads take turns in order. */
  readonly writeLock?: SharedArrayBuffer;
  /** The entry module the tsx bootstrap imports, when running from TypeScript sources. */
  readonly entry?: string;
}

export type ToThread = { readonly type: "wake" } | { readonly type: "stop" };
export type FromThread = { readonly type: "ready" } | { readonly type: "stopped" } | { readonly type: "log"; readonly line: string };

const FIRST_RESTART_DELAY = 1000;
const MAX_RESTART_DELAY = 60_000;

export interface DeliveryThreadOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Shared with the SMTP listener's lanes on the main thread. */
  readonly largeBudget: SharedByteBudget;
}

/**
 * Delivery (claim, render, send, record) in a worker thread with its own database connection, so
 * that inbound work on the main thread and outbound work use a core each. The main thread wakes it
 * by message when a commit queues deliveries; it still polls at `outbound.poll_interval` for
 * retries, expired leases and rows queued by other processes.
 *
 * A thread that dies (an uncaught error, out of memory) is logged and started again after a
 * growing delay; the rows it held come back when their lease runs out, as after a crash of the
 * whole process. A thread that cannot start at all fails the gateway's start.
 */
export class DeliveryThread implements Deliveries {
  private readonly log: Logger;
  private running: Worker | undefined;
  private stopping: Promise<void> | undefined;
  private wakePosted = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = FIRST_RESTART_DELAY;
  private readonly threadLog: ThreadLog;
  private readonly stream: { write(line: string): unknown } | undefined;

  constructor(private readonly options: DeliveryThreadOptions) {
    this.log = options.logger.child({ component: "delivery" });
    const { log, stream } = threadLogOf(options.logger);
    this.threadLog = log;
    this.stream = stream;
  }

  /** The running thread, for diagnostics (resource usage) and tests; undefined between a crash and its restart. */
  get thread(): Worker | undefined {
    return this.running;
  }

  /** Resolves once the thread has opened its database and started polling; rejects when it cannot. */
  start(): Promise<void> {
    return this.spawn();
  }

  wake(): void {
    if (this.stopping || this.wakePosted || !this.running) return;
    // One message for a burst of commits (a group commit queues for many messages at once).
    this.wakePosted = true;
    queueMicrotask(() => {
      this.wakePosted = false;
      this.post({ type: "wake" });
    });
  }

  /**
   * Asks the thread to drain (sends in flight finish and are recorded, its connection closes) and
   * ends it. Bounded by `outbound.lease`: a send still running by then would be sent again by the
   * next worker anyway, so the thread is ended rather than let the shutdown hang.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.restartTimer);
      const thread = this.running;
      if (!thread) return;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await new Promise<"stopped" | "exited" | "timeout">((resolve) => {
        thread.on("message", (message: FromThread) => {
          if (message.type === "stopped") resolve("stopped");
        });
        thread.once("exit", () => resolve("exited"));
        timer = setTimeout(() => resolve("timeout"), this.options.config.outbound.lease);
        this.post({ type: "stop" });
      });
      clearTimeout(timer);
      if (outcome === "timeout") this.log.warn({ event: "delivery.thread_stop_timeout" }, "the delivery thread did not drain within the lease; ending it");
      this.running = undefined;
      await thread.terminate();
    })();
    return this.stopping;
  }

  private post(message: ToThread): void {
    this.running?.postMessage(message);
  }

  private spawn(): Promise<void> {
    const { config, largeBudget } = this.options;
    const writeLock = sharedWriteLock(config.database);
    // Under tsx (bin/postern.js, vitest) this module is TypeScript and a new thread knows nothing
    // of tsx: a small ES module registers it there, then imports the entry. Compiled, plain.
    const typescript = import.meta.url.endsWith(".ts");
    const entry = new URL(`./delivery-thread-entry.${typescript ? "ts" : "js"}`, import.meta.url);
    const data: DeliveryThreadData = {
      config,
      log: this.threadLog,
      largeBudget: { limit: largeBudget.limit, buffer: largeBudget.buffer },
      ...(writeLock ? { writeLock } : {}),
      ...(typescript ? { entry: entry.href } : {}),
    };
    const thread = new Worker(typescript ? new URL("./delivery-thread-tsx.mjs", import.meta.url) : entry, { workerData: data, name: "postern-delivery" });
    this.running = thread;
    // Read now: a thread that has exited answers -1.
    const threadId = thread.threadId;
    const startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let failure: Error | undefined;
      thread.on("message", (message: FromThread) => {
        if (message.type === "log") this.stream?.write(message.line);
        else if (message.type === "ready") {
          ready = true;
          this.log.info({ event: "delivery.thread_started", threadId }, "delivery thread started");
          resolve();
        }
      });
      thread.on("error", (error) => {
        failure = error;
        if (ready) this.log.error({ event: "delivery.thread_crashed", threadId, err: error }, "the delivery thread failed");
      });
      thread.once("exit", (code) => {
        if (this.running === thread) this.running = undefined;
        if (!ready) {
          reject(failure ?? new Error(`the delivery thread exited with code ${code} before it started`));
          return;
        }
        if (this.stopping) return;
        // A thread that ran a good while before it ended hit something passing: restart soon again.
        if (Date.now() - startedAt > MAX_RESTART_DELAY) this.restartDelay = FIRST_RESTART_DELAY;
        this.log.error({ event: "delivery.thread_exited", threadId, code }, "the delivery thread ended; starting it again");
        this.scheduleRestart();
      });
    });
  }

  private scheduleRestart(): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(delay * 2, MAX_RESTART_DELAY);
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.spawn().catch(
        (error: unknown) => {
          this.log.error({ event: "delivery.thread_restart_failed", err: error }, "the delivery thread could not start again");
          if (!this.stopping) this.scheduleRestart();
        },
      );
    }, delay);
  }
}
