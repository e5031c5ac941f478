import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { isMainThread, Worker } from "node:worker_threads";
import Database from "better-sqlite3";

/** The WAL size past which a checkpoint is asked for: SQLite's own default (1000 pages of 4 KiB). */
const CHECKPOINT_AT_BYTES = 1000 * 4096;
/** The WAL's size is looked at every this many commits: a stat is cheap, but not free. */
const CHECK_EVERY_COMMITS = 32;
/**
 * The connection's own automatic checkpoint, kept as a safety net at 16 times SQLite's default:
 * should the checkpointer fail, the WAL still stops growing there (at the cost of a blocking checkpoint).
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 4_000;

/** Where the PASSIVE checkpoint itself runs. */
interface CheckpointRunner {
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Copies the WAL back into the database file away from the event loop that answers SMTP. SQLite's
 * automatic checkpoint runs inside the COMMIT that crosses its threshold: writing a few megabytes
 * to the database file and syncing it, every few hundred messages. Here the Store's connection
 * keeps only a far-off automatic checkpoint as a safety net, and every CHECK_EVERY_COMMITS commits
 * the WAL's size is looked at; past the threshold, a PASSIVE checkpoint (it never waits for
 * readers or writers) runs on a connection of its own:
 *  - on the main thread, in a thread started for it on the first checkpoint (a short-lived command
 *    never starts it);
 *  - in a worker thread (the delivery thread), right there: that thread answers no SMTP session,
 *    so a pause of its own costs less than one more thread.
 *
 * One per database file and thread, shared by the Stores open on it (checkpointerFor).
 */
export class WalCheckpointer {
  private commits = 0;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly runner: CheckpointRunner,
  ) {}

  /** Called after each COMMIT. */
  committed(): void {
    if (this.closed || this.running || ++this.commits < CHECK_EVERY_COMMITS) return;
    this.commits = 0;
    // A checkpoint that fails (a reader holds old pages) is tried again 32 commits later, and the
    // connection's own automatic checkpoint still bounds the WAL meanwhile.
    const run = this.checkpointIfLarge().catch(() => undefined);
    this.running = run.finally(() => {
      this.running = undefined;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.runner.close();
  }

  private async checkpointIfLarge(): Promise<void> {
    const wal = await stat(`${this.path}-wal`).catch(() => undefined);
    if (!wal || wal.size < CHECKPOINT_AT_BYTES || this.closed) return;
    await this.runner.checkpoint();
  }
}

interface Shared {
  readonly checkpointer: WalCheckpointer;
  users: number;
}

const shared = new Map<string, Shared>();

/**
 * The checkpointer of `path` for one more Store of this thread; the Store calls `close()` once,
 * and the last one closed stops it. Two Stores of one file (the gateway's and its in-process
 * delivery worker's) thus share one checkpoint thread.
 */
export function checkpointerFor(
  path: string,
  where: "thread" | "inline" = isMainThread ? "thread" : "inline",
): { committed(): void; close(): Promise<void> } {
  const key = resolve(path);
  let entry = shared.get(key);
  if (!entry) {
    const runner = where === "thread" ? new ThreadRunner(key) : new InlineRunner(key);
    entry = { checkpointer: new WalCheckpointer(key, runner), users: 0 };
    shared.set(key, entry);
  }
  entry.users++;
  const taken = entry;
  let released = false;
  return {
    committed: () => taken.checkpointer.committed(),
    close: async () => {
      if (released) return;
      released = true;
      if (--taken.users > 0) return;
      if (shared.get(key) === taken) shared.delete(key);
      await taken.checkpointer.close();
    },
  };
}

/** A connection of its own in this thread: never the Store's, which may be inside a transaction. */
class InlineRunner implements CheckpointRunner {
  private db: Database.Database | undefined;

  constructor(private readonly path: string) {}

  async checkpoint(): Promise<void> {
    this.db ??= new Database(this.path, { timeout: 0 });
    this.db.pragma("wal_checkpoint(PASSIVE)");
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

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

class ThreadRunner implements CheckpointRunner {
  private thread: Worker | undefined;

  constructor(private readonly path: string) {}

  async checkpoint(): Promise<void> {
    const thread = (this.thread ??= this.start());
    // Waiting for its answer keeps the process alive (the thread is unreferenced while idle): the
    // caller's await would otherwise end with the event loop, the rest of a shutdown unrun.
    thread.ref();
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
        thread.unref();
      };
      thread.on("message", answered);
      thread.on("exit", stopped);
      thread.postMessage("checkpoint");
    });
    if (!answer.ok) throw new Error(answer.message);
  }

  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    if (!thread) return;
    const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()));
    thread.ref();
    thread.postMessage("close");
    await exited;
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { driver, path: this.path }, name: "postern-checkpoint" });
    // A thread that is only waiting for work must not keep the process alive.
    thread.unref();
    // A thread that died is started again on the next checkpoint; its error reaches the caller as "stopped".
    thread.on("error", () => undefined);
    thread.once("exit", () => {
      if (this.thread === thread) this.thread = undefined;
    });
    return thread;
  }
}
