import type Database from "better-sqlite3";
import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { useCompiledRowMapper, type MappedQuery } from "./row-mapper.js";
import type { Db, Preparable, Query, Store, Tables, Tx } from "./store.js";

interface Job {
  readonly work: (tx: Tx) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A FIFO lock, one per database file in this process, shared with the delivery thread through a
 * SharedArrayBuffer. Connections take turns through it instead of polling SQLite's lock, so the
 * write lock passes from the inbound batch to the delivery thread the moment it is free; polling
 * with backoff would leave the thread behind back-to-back inbound batches.
 *
 * Within a thread, turns are a promise chain; between threads, a ticket lock ([next ticket,
 * ticket served]). A turn held past `stallMs` (a thread that died holding or awaiting it) is
 * skipped, so a dead thread never stops the gateway's writes; SQLite's own lock still keeps two
 * writers apart if the holder was only slow.
 */
export class WriteLock {
  private tail: Promise<void> = Promise.resolve();
  private readonly tickets: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT),
    private readonly stallMs = 5000,
  ) {
    this.tickets = new Int32Array(buffer);
  }

  async acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    const ticket = Atomics.add(this.tickets, NEXT, 1);
    try {
      await this.turnOf(ticket);
    } catch (error) {
      release();
      throw error;
    }
    return () => {
      // A holder skipped as stalled no longer owns the turn: it must not end someone else's.
      if (Atomics.compareExchange(this.tickets, SERVED, ticket, ticket + 1) === ticket) Atomics.notify(this.tickets, SERVED);
      release();
    };
  }

  private async turnOf(ticket: number): Promise<void> {
    for (;;) {
      const served = Atomics.load(this.tickets, SERVED);
      // Tickets wrap around at 2^31: compare by difference. Ahead of the ticket: it was skipped as stalled.
      if (((served - ticket) | 0) >= 0) return;
      const waiting = waitAsync(this.tickets, SERVED, served, this.stallMs);
      const outcome = waiting.async ? await waiting.value : waiting.value;
      if (outcome === "timed-out") Atomics.compareExchange(this.tickets, SERVED, served, served + 1);
    }
  }
}

const NEXT = 0;
const SERVED = 1;
/** Node 20 has Atomics.waitAsync; the ES2022 library types do not declare it yet. */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

export interface SqliteStoreOptions {
  /** Shared by every Store on the same file in this process. */
  readonly writeLock: WriteLock;
  /** How long to keep trying for the write lock another connection holds, waiting asynchronously. */
  readonly busyTimeoutMs: number;
  /** At most this many transactions share one COMMIT. */
  readonly maxBatch?: number;
  /**
   * Makes what COMMIT wrote durable, off the event loop: with it, a batch's promises settle (and
   * its afterCommit effects run) only once it has resolved. synchronous=FULL is kept this way
   * (see WalSync); without it the connection's own pragma decides.
   */
  readonly commitSync?: CommitSync;
  /** Told of every COMMIT; checkpoints the WAL away from the event loop (wal-checkpointer.ts). */
  readonly checkpointer?: { committed(): void; close(): Promise<void> };
}

/** Flushes committed transactions to stable storage. */
export interface CommitSync {
  /** Resolves once every COMMIT that returned before the call is on disk. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A Store on one better-sqlite3 connection.
 *
 * Group commit: transactions submitted in the same turn of the event loop, or the next, run one
 * after another inside one `BEGIN IMMEDIATE`, each in its own savepoint, so one durable fsync covers many inbound
 * messages while a job that throws rolls back alone. Every promise settles only after the shared
 * COMMIT has returned and, with a commitSync, is on disk: what lets the SMTP side answer 250.
 *
 * Nothing else touches the connection while a transaction is open: reads and the next batch wait
 * their turn. Other connections (the delivery worker's, the CLI's) are other Stores; waiting for
 * their write lock is asynchronous, because better-sqlite3's own busy wait would block the event
 * loop, and with it the very transaction that holds the lock.
 */
export class SqliteStore implements Store {
  private readonly pending: Job[] = [];
  private flushScheduled = false;
  /** The tail of the chain of work on this connection: one batch or read at a time. */
  private turn: Promise<void> = Promise.resolve();
  private readonly prepared = new Map<Query, ReturnType<Preparable["prepare"]>>();
  /** A read's own transaction (see inReadTransaction), prepared once. */
  private readonly beginRead: Database.Statement;
  private readonly commitRead: Database.Statement;
  /** Inside `read`: its transaction is not one a savepoint may be taken in. */
  private reading = false;
  /** Prepared queries whose rows are mapped by row-mapper.ts: their `get` answers `[row]`. */
  private readonly compiled = new WeakSet<object>();
  private savepoints = 0;
  /** Effects the running job asked for after COMMIT; undefined outside a transaction. */
  private effects: (() => void)[] | undefined;
  private closed = false;
  /** Committed batches waiting for their sync before they settle. */
  private readonly syncing = new Set<Promise<void>>();
  private readonly tx: Tx;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly db: Db,
    private readonly tables: Tables,
    private readonly options: SqliteStoreOptions,
  ) {
    this.beginRead = sqlite.prepare("BEGIN");
    this.commitRead = sqlite.prepare("COMMIT");
    const statement = (query: Query) => {
      let prepared = this.prepared.get(query);
      if (!prepared) {
        const build = typeof query === "function" ? query : query.sqlite;
        prepared = build(this.db, this.tables).prepare();
        if (useCompiledRowMapper(prepared as MappedQuery)) this.compiled.add(prepared);
        this.prepared.set(query, prepared);
      }
      return prepared;
    };
    // better-sqlite3 answers synchronously; the promises keep one interface with PostgreSQL.
    this.tx = {
      db,
      t: tables,
      one: async (query, values) => {
        const prepared = statement(query);
        const row = prepared.get(values);
        return (this.compiled.has(prepared) ? (row as unknown[] | undefined)?.[0] : row) as never;
      },
      all: async (query, values) => statement(query).all(values) as never,
      run: async (query, values) => (statement(query).run(values) as Database.RunResult).changes,
      rows: async (build) => build(this.db, this.tables),
      savepoint: (work) => this.savepoint(work),
      afterCommit: (effect) => {
        if (this.effects) this.effects.push(effect);
        else effect();
      },
    };
  }

  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the database is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Two turns of the event loop, not one: the sessions whose I/O completed in the same poll
        // finish their parsing and checks in the first turn and join the batch. Each COMMIT writes
        // every page it changed to the WAL again (the post table's last page, the indexes, the
        // conversation's rows), so fewer, larger batches cost less: in-process, with smtp-source
        // over 20 kept sessions, 1.36-1.52 ms of CPU per reply against 1.70-1.82, and a batch of
        // 2.3 replies instead of 1.3 with a connection per message. A lone transaction waits for
        // one more turn of an idle loop, which is immediate.
        setImmediate(() =>
          setImmediate(() => {
            this.flushScheduled = false;
            void this.exclusive(() => this.flush());
          }),
        );
      }
    });
  }

  read<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the database is closed"));
    return this.exclusive(() => this.retryBusy(() => this.inReadTransaction(work)));
  }

  /**
   * The reads of one `read` in one transaction: SQLite takes and releases its shared lock (file
   * locks and a stat, system calls all) around every statement run on its own, which cost more
   * than the lookups themselves; a copy's few reads pay for it once. They also see one snapshot.
   */
  private async inReadTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    this.beginRead.run();
    this.reading = true;
    try {
      const value = await work(this.tx);
      this.commitRead.run();
      return value;
    } finally {
      this.reading = false;
      // An error, or a read that wrote and could not commit: nothing of it stays.
      if (this.sqlite.inTransaction) this.sqlite.exec("ROLLBACK");
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Transactions already accepted still commit: those waiting for the next turn of the event
    // loop, and the rest of a burst split into several batches, which queue behind the current one.
    for (;;) {
      if (this.pending.length > 0) void this.exclusive(() => this.flush());
      const turn = this.turn;
      await turn;
      if (turn === this.turn && this.pending.length === 0) break;
    }
    await Promise.all(this.syncing);
    await this.options.commitSync?.close();
    await this.options.checkpointer?.close();
    this.sqlite.close();
  }

  /** Runs `work` when everything queued before it on this connection has finished. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work);
    this.turn = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.options.maxBatch ?? 256);
    if (batch.length === 0) return;
    if (this.pending.length > 0) void this.exclusive(() => this.flush());
    const release = await this.options.writeLock.acquire();
    let settle: (() => void) | undefined;
    try {
      settle = await this.runBatch(batch);
    } catch (error) {
      // Whatever went wrong past the per-job handling (a failed ROLLBACK), no caller may wait forever.
      for (const job of batch) job.reject(error);
    } finally {
      release();
    }
    if (!settle) return;
    const commitSync = this.options.commitSync;
    if (!commitSync) return settle();
    // The next batch runs while this one's sync is under way; one sync covers every batch committed before it starts.
    const done = commitSync.sync().then(settle, (error: unknown) => {
      for (const job of batch) job.reject(error);
    });
    this.syncing.add(done);
    void done.finally(() => this.syncing.delete(done));
  }

  /** Runs the batch up to its COMMIT; answers how to settle its jobs, or undefined when they are already rejected. */
  private async runBatch(batch: readonly Job[]): Promise<(() => void) | undefined> {
    try {
      // Other processes (the CLI, another gateway) may hold SQLite's lock; this process's own connections wait in the WriteLock.
      await this.retryBusy(async () => this.sqlite.exec("BEGIN IMMEDIATE"));
    } catch (error) {
      for (const job of batch) job.reject(error);
      return undefined;
    }
    const results: { ok: boolean; value: unknown; effects: (() => void)[] }[] = [];
    /** The error that ended the whole transaction under a job (SQLITE_FULL may), if one did. */
    let ended: { error: unknown } | undefined;
    for (const job of batch) {
      if (ended) break;
      const effects: (() => void)[] = [];
      this.effects = effects;
      try {
        results.push({ ok: true, value: await this.savepoint(() => job.work(this.tx)), effects });
      } catch (error) {
        results.push({ ok: false, value: error, effects: [] });
        if (!this.sqlite.inTransaction) ended = { error };
      } finally {
        this.effects = undefined;
      }
    }
    if (ended) {
      // Nothing of the batch is left to commit: every job gets the cause (a full disk gets its own 451 sentence), not "no transaction".
      for (const job of batch) job.reject(ended.error);
      return undefined;
    }
    try {
      this.sqlite.exec("COMMIT");
    } catch (error) {
      // The shared COMMIT failed (disk full, I/O error): nothing of the batch is durable.
      if (this.sqlite.inTransaction) this.sqlite.exec("ROLLBACK");
      for (const job of batch) job.reject(error);
      return undefined;
    }
    this.options.checkpointer?.committed();
    return () =>
      batch.forEach((job, i) => {
        const result = results[i];
        if (result?.ok) {
          for (const effect of result.effects) effect();
          job.resolve(result.value);
        } else job.reject(result?.value);
      });
  }

  private async savepoint<T>(work: () => Promise<T>): Promise<T> {
    // A read's own transaction is only there to take SQLite's lock once: nothing in it is undone.
    if (!this.sqlite.inTransaction || this.reading) throw new Error("a savepoint needs an open transaction");
    const name = `sp${++this.savepoints}`;
    this.sqlite.exec(`SAVEPOINT ${name}`);
    try {
      const value = await work();
      this.sqlite.exec(`RELEASE ${name}`);
      return value;
    } catch (error) {
      // A failed statement may already have ended the transaction (SQLITE_FULL does); then there is nothing to undo here.
      if (this.sqlite.inTransaction) this.sqlite.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw error;
    } finally {
      this.savepoints -= 1;
    }
  }

  /** SQLITE_BUSY means another connection holds the lock: wait without blocking, up to the timeout. */
  private async retryBusy<T>(work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.busyTimeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, 25)) {
      try {
        return await work();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        await sleep(wait);
      }
    }
  }
}

/**
 * synchronous=FULL without blocking the event loop: the connection commits with
 * synchronous=NORMAL, which in WAL mode writes a commit's frames to the WAL (write(), so a crash of
 * the process loses nothing) without syncing them, and this syncs the WAL file from libuv's
 * thread pool before anyone is told the commit happened. What FULL would have synced inside
 * COMMIT is on disk before the 250 all the same, and a sync under way covers every batch
 * committed before it started, so a burst costs one or two syncs, not one per batch.
 *
 * The file is opened once, on the first sync: SQLite keeps the WAL file (and its inode) while a
 * connection is open, and this Store's connection is open until close(). The directory is synced
 * once too, for the WAL file's own entry, as SQLite does for a journal it creates.
 */
export class WalSync implements CommitSync {
  private handle: Promise<FileHandle> | undefined;
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private directorySynced = false;

  constructor(private readonly walPath: string) {}

  sync(): Promise<void> {
    if (this.waiting) return this.waiting;
    const running = this.running;
    if (!running) return this.start();
    // Commits made since `running` began are not covered by it: one more sync after it, shared by all who ask meanwhile.
    this.waiting = running
      .catch(() => undefined)
      .then(() => {
        this.waiting = undefined;
        return this.start();
      });
    return this.waiting;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.waiting]);
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await handle.then((h) => h.close()).catch(() => undefined);
  }

  private start(): Promise<void> {
    const run = this.syncFile().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async syncFile(): Promise<void> {
    this.handle ??= open(this.walPath, "r");
    let handle: FileHandle;
    try {
      handle = await this.handle;
    } catch (error) {
      this.handle = undefined;
      throw error;
    }
    await handle.datasync();
    if (!this.directorySynced) {
      const directory = await open(dirname(this.walPath), "r");
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      this.directorySynced = true;
    }
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT";
}
