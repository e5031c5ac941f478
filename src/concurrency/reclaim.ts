import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Gives back the memory of large messages once a thread is done with them. A 10 MB message
 * leaves tens of MB of garbage behind (its bytes, the parsed or rendered parts, base64 text),
 * most of it Buffers outside V8's heap. V8 only collects when its own heap fills, and a gateway
 * busy with a few large messages allocates little else: the garbage stays for seconds or minutes,
 * in each thread (the SMTP listener's and the delivery thread's), and the two add up. Measured
 * with `npm run memory -- --scenarios a` (20 × 10 MB): the delivery thread kept about 70 MB of
 * dead Buffers between copies, the main thread about 40 MB.
 *
 * So after every `RECLAIM_EVERY` bytes of large work (ProcessingLanes' large lane), the thread
 * runs a full collection before the bytes go back to the budget: the next large message starts
 * with the last one's garbage gone. A full collection costs a few tens of ms, less than reading
 * or rendering a 10 MB message; small messages never trigger one.
 */
export const RECLAIM_EVERY = 8 * 1024 * 1024;

let bytesSinceCollection = 0;
let collector: (() => void) | null | undefined;

/** Notes `bytes` of large work just finished in this thread; collects garbage when enough has passed. */
export function largeWorkDone(bytes: number): void {
  bytesSinceCollection += bytes;
  if (bytesSinceCollection < RECLAIM_EVERY) return;
  bytesSinceCollection = 0;
  fullCollection()?.();
}

/**
 * V8's `gc()`, synchronous and full. Exposing it once the process runs is a known pattern: the
 * flag only decides whether a new context gets `gc`, so one context is made with it and the flag
 * is put back. Null where it cannot be had; collections are then V8's own, as without this.
 */
export function fullCollection(): (() => void) | null {
  if (collector !== undefined) return collector;
  const given = (globalThis as { gc?: unknown }).gc;
  if (typeof given === "function") return (collector = given as () => void);
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined;
    // V8's flags are the whole process's: another thread putting the flag back at that very moment
    // leaves this context without gc, and the next large message tries again.
    if (gc) collector = gc;
    return gc ?? null;
  } catch {
    return (collector = null);
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}
