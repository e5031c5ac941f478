import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** The WAL size past which a checkpoint is asked for: SQLite's own default (1000 pages of 4 KiB). */
const CHECKPOINT_AT_BYTES = 1000 * 4096;
/** The WAL's size is looked at every this many commits: a stat is cheap, but not free. */
const CHECK_EVERY_COMMITS = 32;
/**
 * The connection's own automatic checkpoint, kept as a safety net at 16 times SQLite's default:
 * should the thread fail, the WAL still stops growing there (at the cost of a blocking checkpoint).
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 4_000;

// Plain JavaScript evaluated in the thread: no loader for TypeScript is needed there.
const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 0 });
parentPort.on("message", (message) => {
  if (message === "close") {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ ok: true });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message || error) });
  }
});
`;

/**
 * Copies the WAL back into the database file from a thread of its own. SQLite's automatic
 * checkpoint runs inside the COMMIT that crosses its threshold: writing a few megabytes to the
 * database file and syncing it, on the event loop, every few hundred messages. Here the Store's
 * connection keeps only a far-off automatic checkpoint as a safety net, and every
 * CHECK_EVERY_COMMITS commits the WAL's size is looked at; past the threshold, the thread runs a
 * PASSIVE checkpoint on its own connection (it never waits for readers or writers).
 *
 * The thread starts on the first checkpoint: a short-lived command never starts it.
 */
export class WalCheckpointer {
  private thread: Worker | undefined;
  private commits = 0;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly onError: (message: string) => void = () => undefined,
  ) {}

  /** Called after each COMMIT. */
  committed(): void {
    if (this.closed || this.running || ++this.commits < CHECK_EVERY_COMMITS) return;
    this.commits = 0;
    const run = this.checkpointIfLarge().catch((error: unknown) => this.onError(error instanceof Error ? error.message : String(error)));
    this.running = run.finally(() => {
      this.running = undefined;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    const thread = this.thread;
    this.thread = undefined;
    if (!thread) return;
    const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()));
    thread.postMessage("close");
    await exited;
  }

  private async checkpointIfLarge(): Promise<void> {
    const wal = await stat(`${this.path}-wal`).catch(() => undefined);
    if (!wal || wal.size < CHECKPOINT_AT_BYTES || this.closed) return;
    const thread = (this.thread ??= this.start());
    const answer = await new Promise<{ ok: boolean; message?: string }>((resolve) => {
      const answered = (message: { ok: boolean; message?: string }) => {
        done();
        resolve(message);
      };
      const stopped = () => {
        done();
        resolve({ ok: false, message: "the checkpoint thread stopped" });
      };
      const done = () => {
        thread.off("message", answered);
        thread.off("exit", stopped);
      };
      thread.on("message", answered);
      thread.on("exit", stopped);
      thread.postMessage("checkpoint");
    });
    if (!answer.ok) throw new Error(answer.message);
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { driver, path: this.path }, name: "postern-checkpoint" });
    // A thread that is only waiting for work must not keep the process alive.
    thread.unref();
    thread.on("error", (error) => this.onError(error.message));
    // A thread that died is started again on the next checkpoint.
    thread.once("exit", () => {
      if (this.thread === thread) this.thread = undefined;
    });
    return thread;
  }
}
