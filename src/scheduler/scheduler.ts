import type { Logger } from "../log.js";

/** Periodic work: runs once at start, then `intervalMs` after each run ends. */
export interface Job {
  /** Stable name, in logs. */
  readonly name: string;
  readonly intervalMs: number;
  /** `now` is the scheduler's clock, so tests can move time forward. */
  run(now: number): Promise<void>;
}

export interface SchedulerOptions {
  readonly logger: Logger;
  readonly jobs: readonly Job[];
  readonly now?: () => number;
}

/**
 * A small interval runner. A job never overlaps itself: the next run is timed from the end of the
 * previous one, so a slow run (a busy database) delays the next instead of piling up. A failed run
 * is logged and tried again at the next interval. stop() waits for runs in progress.
 */
export class Scheduler {
  private readonly log: Logger;
  private readonly jobs: readonly Job[];
  private readonly now: () => number;
  private readonly timers = new Map<Job, NodeJS.Timeout>();
  /** The last run queued per job (it never rejects): the next one starts after it. */
  private readonly tails = new Map<Job, Promise<void>>();
  private started = false;
  private stopped = false;

  constructor(options: SchedulerOptions) {
    this.log = options.logger.child({ component: "scheduler" });
    this.jobs = options.jobs;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const job of this.jobs) void this.cycle(job);
  }

  /** Runs every job now (after any run in progress), outside the timer: for tests and admin tools. */
  async runNow(): Promise<void> {
    for (const job of this.jobs) await this.runOnce(job);
  }

  /** No new runs; resolves once the runs in progress have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.tails.values()]);
  }

  private async cycle(job: Job): Promise<void> {
    await this.runOnce(job);
    if (this.stopped) return;
    const timer = setTimeout(() => void this.cycle(job), job.intervalMs);
    // The SMTP listener keeps the process alive; a pending run alone must not.
    timer.unref();
    this.timers.set(job, timer);
  }

  /** Queues one run behind the job's previous one: a job never runs twice at once. */
  private runOnce(job: Job): Promise<void> {
    const run = (this.tails.get(job) ?? Promise.resolve()).then(() => this.execute(job));
    this.tails.set(job, run);
    return run;
  }

  private async execute(job: Job): Promise<void> {
    if (this.stopped) return;
    const started = Date.now();
    try {
      await job.run(this.now());
    } catch (error) {
      this.log.error({ event: "scheduler.job_failed", job: job.name, err: error }, "scheduled job failed; it runs again at its next interval");
      return;
    }
    this.log.debug({ event: "scheduler.job_done", job: job.name, ms: Date.now() - started }, "scheduled job done");
  }
}
