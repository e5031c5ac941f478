/**
 * Encoded parts every copy of a post carries alike (its attachments, base64-encoded with their
 * part headers), made once for all the post's copies. Copies of one post go out in a burst, so an
 * entry is useful for seconds: it is dropped once unused for SHARED_IDLE_MS, and the whole cache is
 * bounded in bytes, so a large attachment is kept once at most (and one past the bound not at all)
 * while its copies are sent.
 */

/**
 * Bytes of encoded parts kept at most: one 10 MB attachment (13.7 MB encoded) and small ones, never
 * two large ones; a file of more than about 17 MB is encoded per copy instead of being kept.
 */
export const MAX_SHARED_BYTES = 24 * 1024 * 1024;
/** An entry unused this long is dropped: its post's copies have gone. */
const SHARED_IDLE_MS = 15_000;

interface Entry {
  readonly bytes: Buffer;
  usedAt: number;
}

const entries = new Map<string, Entry>();
let sharedBytes = 0;
let sweep: NodeJS.Timeout | undefined;

/**
 * The part `key` names, made by `make` when not kept. The key must name the content for the
 * process's life: a sent post's attachment row never changes, so its Message-ID, row id and size,
 * and the part's headers, say which bytes it holds.
 */
export function sharedPart(key: string, make: () => Buffer): Buffer {
  const now = Date.now();
  const known = entries.get(key);
  if (known) {
    known.usedAt = now;
    // Most recently used last: the oldest go first when the cache is full.
    entries.delete(key);
    entries.set(key, known);
    return known.bytes;
  }
  const bytes = make();
  if (bytes.length > MAX_SHARED_BYTES) return bytes;
  entries.set(key, { bytes, usedAt: now });
  sharedBytes += bytes.length;
  while (sharedBytes > MAX_SHARED_BYTES) {
    const [oldestKey, oldest] = entries.entries().next().value as [string, Entry];
    entries.delete(oldestKey);
    sharedBytes -= oldest.bytes.length;
  }
  scheduleSweep();
  return bytes;
}

/** Bytes the cache holds now (tests, and the memory figures). */
export function sharedPartBytes(): number {
  return sharedBytes;
}

function scheduleSweep(): void {
  if (sweep || entries.size === 0) return;
  sweep = setTimeout(() => {
    sweep = undefined;
    const idleSince = Date.now() - SHARED_IDLE_MS;
    for (const [key, entry] of entries) {
      if (entry.usedAt > idleSince) continue;
      entries.delete(key);
      sharedBytes -= entry.bytes.length;
    }
    scheduleSweep();
  }, SHARED_IDLE_MS);
  // The process may end while entries remain: they are nothing to wait for.
  sweep.unref();
}
