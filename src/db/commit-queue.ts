import type Database from "better-sqlite3";

interface Job {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: work submitted in the same turn of the event loop runs in one SQLite
 * transaction, each piece inside its own savepoint, so one durable fsync covers many inbound
 * messages while a piece that throws rolls back alone. Every promise settles only after the
 * shared COMMIT has returned, which is what lets the SMTP side answer 250.
 */
export class CommitQueue {
  private pending: Job[] = [];
  private scheduled = false;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly maxBatch = 256,
  ) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Inside a job: a nested savepoint, so part of the job can roll back while the rest commits. */
  savepoint<T>(work: () => T): T {
    return this.sqlite.transaction(work)();
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0, this.maxBatch);
    if (this.pending.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      this.sqlite.transaction(() => {
        for (const job of batch) {
          try {
            results.push({ ok: true, value: this.sqlite.transaction(job.work)() });
          } catch (error) {
            results.push({ ok: false, value: error });
          }
        }
      }).immediate();
    } catch (error) {
      // The shared COMMIT failed (disk, lock): nothing of the batch is durable.
      for (const job of batch) job.reject(error);
      return;
    }
    batch.forEach((job, i) => {
      const result = results[i];
      if (result?.ok) job.resolve(result.value);
      else job.reject(result?.value);
    });
  }
}

/** One synchronous transaction, for the CLI and other single writers. */
export function inTransaction<T>(sqlite: Database.Database, work: () => T): T {
  return sqlite.transaction(work).immediate();
}
