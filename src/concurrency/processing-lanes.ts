import { largeWorkDone } from "./reclaim.js";
import { SharedByteBudget } from "./shared-budget.js";

/**
 * How many messages are worked on at once: received ones (read back, parsed, authenticated,
 * committed) and copies being sent (rendered, composed, handed to the relay). Working on a message
 * costs several times its size in memory, so large messages share a budget of bytes and wait their
 * turn in arrival order, while small ones have a lane of their own and never queue behind them. A
 * message larger than the whole budget runs alone.
 */
export interface LaneLimits {
  /** Messages up to this many bytes take the small lane. */
  readonly smallMessage: number;
  /** Small messages worked on at once. */
  readonly smallConcurrency: number;
  /** Bytes of large messages worked on at once. */
  readonly largeBudget: number;
}

/** One 10 MB message (or a few of a few MB) in work at once, and one of up to the 25 MB default SIZE alone. */
export const DEFAULT_LANE_LIMITS: LaneLimits = { smallMessage: 256 * 1024, smallConcurrency: 8, largeBudget: 16 * 1024 * 1024 };

interface Waiting {
  readonly size: number;
  readonly start: () => void;
}

export class ProcessingLanes {
  private smallRunning = 0;
  private readonly smallQueue: Waiting[] = [];
  private readonly largeQueue: Waiting[] = [];
  private readonly sharedLarge: ProcessingLanes | undefined;
  private readonly budget: SharedByteBudget;
  /** Set while the head of the large queue waits for another thread to give bytes back. */
  private budgetWait: Promise<void> | undefined;

  /**
   * `shared`: where large messages take their bytes instead of a budget of this one's own, so that
   * messages received and copies sent, each large, do not add up: one budget for both. Other lanes
   * of the same thread, or a SharedByteBudget whose memory another thread shares too.
   */
  constructor(
    private readonly limits: LaneLimits = DEFAULT_LANE_LIMITS,
    shared?: ProcessingLanes | SharedByteBudget,
  ) {
    this.sharedLarge = shared instanceof ProcessingLanes ? shared : undefined;
    this.budget = shared instanceof SharedByteBudget ? shared : new SharedByteBudget(limits.largeBudget);
  }

  /**
   * Runs `work` once its lane has room. Aborting `signal` before then takes the message out of
   * the queue: it is never worked on, and the promise rejects with the signal's reason.
   */
  run<T>(size: number, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const small = size <= this.limits.smallMessage;
    if (!small && this.sharedLarge) return this.sharedLarge.run(size, work, signal);
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        const queue = small ? this.smallQueue : this.largeQueue;
        const at = queue.indexOf(waiting);
        if (at >= 0) queue.splice(at, 1);
        reject(signal!.reason);
        // A large message leaving the head of the queue may let the next one in.
        this.next();
      };
      const waiting: Waiting = {
        size,
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          work()
            .then(resolve, reject)
            .finally(() => {
              if (small) this.smallRunning--;
              else {
                // Before the bytes go back: the next large message starts with this one's garbage gone.
                largeWorkDone(size);
                this.budget.give(size);
              }
              this.next();
            });
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      (small ? this.smallQueue : this.largeQueue).push(waiting);
      this.next();
    });
  }

  /** Messages waiting for their turn, by lane (for diagnostics and tests). */
  get waiting(): { readonly small: number; readonly large: number } {
    return { small: this.smallQueue.length, large: this.largeQueue.length };
  }

  private next(): void {
    while (this.smallQueue.length > 0 && this.smallRunning < this.limits.smallConcurrency) {
      this.smallRunning++;
      this.smallQueue.shift()!.start();
    }
    // In arrival order: a message too large for the room left waits, and so do those behind it.
    for (let head = this.largeQueue[0]; head; head = this.largeQueue[0]) {
      const mark = this.budget.mark();
      if (!this.budget.tryTake(head.size)) {
        this.awaitBudget(mark);
        break;
      }
      this.largeQueue.shift();
      head.start();
    }
  }

  /** Bytes given back by this thread call next() themselves; those of another thread wake this one here. */
  private awaitBudget(mark: number): void {
    if (this.budgetWait) return;
    this.budgetWait = this.budget.released(mark).then(() => {
      this.budgetWait = undefined;
      this.next();
    });
  }
}
