import { randomBytes } from "node:crypto";

/**
 * Outlook's Thread-Index (MS-OXOMSG §2.2.1.3, PidTagConversationIndex): a 22-byte header (one
 * reserved byte, the top 40 bits of a FILETIME, a 16-byte GUID) and 5 bytes more per reply.
 * Outlook groups a conversation by the header, so every copy of one conversation shares it.
 */

const HEADER_BYTES = 22;
const CHILD_BYTES = 5;
/** 100-nanosecond intervals between 1601-01-01 (FILETIME's epoch) and 1970-01-01. */
const FILETIME_UNIX_OFFSET = 116_444_736_000_000_000n;

function filetime(unixMillis: number): bigint {
  return BigInt(Math.max(0, Math.floor(unixMillis))) * 10_000n + FILETIME_UNIX_OFFSET;
}

/** The header's time, as a FILETIME with its low 24 bits cleared. */
function headerTime(header: Buffer): bigint {
  let value = 0n;
  for (let i = 1; i < 6; i++) value = (value << 8n) | BigInt(header[i] ?? 0);
  return value << 24n;
}

/**
 * The conversation's root: the first message's own Thread-Index header when it carried a valid
 * one (so the author's Outlook threads our copies with what they sent), else a new one.
 */
export function threadIndexRoot(inbound: string | undefined, now: number): string {
  const given = inbound === undefined ? undefined : decode(inbound);
  if (given && given.length >= HEADER_BYTES && (given.length - HEADER_BYTES) % CHILD_BYTES === 0) {
    return given.subarray(0, HEADER_BYTES).toString("base64");
  }
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = 0x01;
  const time = filetime(now) >> 24n;
  for (let i = 5; i >= 1; i--) header[i] = Number((time >> BigInt((5 - i) * 8)) & 0xffn);
  randomBytes(16).copy(header, 6);
  return header.toString("base64");
}

/**
 * The Thread-Index of a message `depth` replies below the root (0 = the first message), each
 * reply block stamped with the time since the root as Outlook does. Deterministic: every copy of
 * one post carries the same index.
 */
export function threadIndexAt(root: string, depth: number, at: number): string {
  const header = decode(root)?.subarray(0, HEADER_BYTES);
  if (!header || header.length !== HEADER_BYTES) throw new Error("not a Thread-Index root");
  const blocks = [header];
  const delta = filetime(at) - headerTime(header);
  const diff = delta < 0n ? 0n : delta;
  // Below 2^49 (about 1.8 years) the delta keeps bits 18..48, above that bits 23..53 with the flag set.
  const flagged = diff >= 1n << 49n;
  const field = ((flagged ? diff >> 23n : diff >> 18n) & 0x7fffffffn) | (flagged ? 0x80000000n : 0n);
  for (let level = 1; level <= depth; level++) {
    const block = Buffer.alloc(CHILD_BYTES);
    block.writeUInt32BE(Number(field), 0);
    // The low nibble counts the sequence; the high nibble is Outlook's random bits, fixed here.
    block[4] = level & 0x0f;
    blocks.push(block);
  }
  return Buffer.concat(blocks).toString("base64");
}

function decode(value: string): Buffer | undefined {
  const clean = value.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) return undefined;
  return Buffer.from(clean, "base64");
}
