/**
 * A budget of bytes kept in shared memory, so that threads of one process draw on the same one:
 * the SMTP listener (main thread) for large received messages and the delivery thread for large
 * copies. Each costs several times its size in memory and both land in the same resident set, so
 * two budgets side by side would add up; one shared counter keeps the peak where a single budget
 * puts it. Splitting it in two halves instead would let one 10 MB message of either kind wait for
 * the other side while half the room stood empty.
 *
 * Lock-free: the bytes in use are one Int32 changed by compare-and-swap. A second Int32 counts
 * releases; a taker that found no room waits (asynchronously, never blocking its event loop) for
 * that count to change. Order among the waiters of one thread is kept by ProcessingLanes; between
 * threads, whoever tries first after a release gets the room.
 */
/** Node 20 has Atomics.waitAsync; the ES2022 library types do not declare it yet. */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

export class SharedByteBudget {
  private static readonly BYTES = 0;
  private static readonly RELEASES = 1;
  private readonly cells: Int32Array;

  /** `buffer`: from another thread's budget (`.buffer`), to share it; a new one by default. */
  constructor(
    readonly limit: number,
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT),
  ) {
    this.cells = new Int32Array(buffer);
  }

  /** Bytes taken and not yet given back, by every thread sharing the budget. */
  get used(): number {
    return Atomics.load(this.cells, SharedByteBudget.BYTES);
  }

  /**
   * Takes `size` bytes when they fit, or when nothing else holds any (a message larger than the
   * whole budget then runs alone). Every large message is larger than zero bytes, so "nothing
   * taken" is "nothing running".
   */
  tryTake(size: number): boolean {
    for (;;) {
      const used = Atomics.load(this.cells, SharedByteBudget.BYTES);
      if (used > 0 && used + size > this.limit) return false;
      if (Atomics.compareExchange(this.cells, SharedByteBudget.BYTES, used, used + size) === used) return true;
    }
  }

  give(size: number): void {
    Atomics.sub(this.cells, SharedByteBudget.BYTES, size);
    Atomics.add(this.cells, SharedByteBudget.RELEASES, 1);
    Atomics.notify(this.cells, SharedByteBudget.RELEASES);
  }

  /** Marks the moment before a tryTake, so that a release right after it is not missed. */
  mark(): number {
    return Atomics.load(this.cells, SharedByteBudget.RELEASES);
  }

  /**
   * Resolves once some thread has given bytes back since `mark`. Does not keep the event loop
   * alive on its own; the timeout re-checks in case a notification raced the wait.
   */
  async released(mark: number, timeoutMs = 1000): Promise<void> {
    const wait = waitAsync(this.cells, SharedByteBudget.RELEASES, mark, timeoutMs);
    if (wait.async) await wait.value;
  }
}
