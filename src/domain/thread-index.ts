import { createHash, randomBytes } from "node:crypto";

/**
 * Outlook's Thread-Index (MS-OXOMSG §2.2.1.3, PidTagConversationIndex): a 22-byte header (the
 * reserved byte 0x01, the top 40 bits of a FILETIME, a 16-byte GUID) and one 5-byte response level
 * per reply. Outlook groups a conversation by the header, so every copy of one conversation shares it.
 */

const HEADER_BYTES = 22;
const CHILD_BYTES = 5;
/**
 * Response levels written at most. A level adds 5 bytes (about 7 base64 characters) and the index
 * cannot be folded, so a conversation hundreds of replies deep would otherwise break the 998-octet
 * line limit; Outlook groups on the header alone and orders by date.
 */
export const MAX_RESPONSE_LEVELS = 60;
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

function header(at: number, guid: Buffer): Buffer {
  const block = Buffer.alloc(HEADER_BYTES);
  block[0] = 0x01;
  const time = filetime(at) >> 24n;
  for (let i = 5; i >= 1; i--) block[i] = Number((time >> BigInt((5 - i) * 8)) & 0xffn);
  guid.copy(block, 6, 0, 16);
  return block;
}

/** The 22-byte header of a Thread-Index header value, when the value is one. */
function validRoot(value: string | undefined): Buffer | undefined {
  const given = value === undefined ? undefined : decode(value);
  if (!given || given.length < HEADER_BYTES || (given.length - HEADER_BYTES) % CHILD_BYTES !== 0 || given[0] !== 0x01) return undefined;
  return given.subarray(0, HEADER_BYTES);
}

/**
 * The conversation's root: the first message's own Thread-Index header when it carried a valid
 * one (so the author's Outlook threads our copies with what they sent), else a new one.
 */
export function threadIndexRoot(inbound: string | undefined, now: number): string {
  return (validRoot(inbound) ?? header(now, randomBytes(16))).toString("base64");
}

/**
 * A root for a conversation that has none stored (created before roots were kept): the same for
 * every copy and every render, from something that never changes (the first post's Message-ID)
 * and the conversation's creation time, so nothing needs writing back.
 */
export function derivedThreadIndexRoot(seed: string, createdAt: number): string {
  return header(createdAt, createHash("sha256").update(`postern-thread-index:${seed}`).digest()).toString("base64");
}

/** The stored root if it is one, else the derived one. */
export function threadIndexRootOr(stored: string | null, seed: string, createdAt: number): string {
  return stored !== null && validRoot(stored) ? stored : derivedThreadIndexRoot(seed, createdAt);
}

/**
 * The Thread-Index of a message below the root: one response level per reply on the way down,
 * `replyTimes` being the times (Unix ms) of the replies from the first answer to this message
 * (empty for the first message itself). Each level holds its reply's time since the header's, as
 * Outlook writes it, so a reply's index extends its parent's. Deterministic: every copy of one
 * post carries the same index.
 */
export function threadIndexAt(root: string, replyTimes: readonly number[]): string {
  const head = validRoot(root);
  if (!head) throw new Error("not a Thread-Index root");
  const base = headerTime(head);
  const levels = replyTimes.slice(0, MAX_RESPONSE_LEVELS).map((at, i) => responseLevel(filetime(at) - base, i + 1));
  return Buffer.concat([head, ...levels]).toString("base64");
}

/**
 * One response level (MS-OXOMSG §2.2.1.3): DC (1 bit), TimeDelta (31 bits), Random (4 bits) and
 * Sequence (4 bits). A delta below 2^49 (about 1.8 years) keeps its bits 18..48 with DC = 0; a
 * larger one its bits 23..53 with DC = 1. Random is left 0 and the sequence counts the level,
 * so the value depends on the post alone.
 */
function responseLevel(delta: bigint, level: number): Buffer {
  const diff = delta < 0n ? 0n : delta;
  const wide = diff >= 1n << 49n;
  const field = ((wide ? diff >> 23n : diff >> 18n) & 0x7fffffffn) | (wide ? 0x80000000n : 0n);
  const block = Buffer.alloc(CHILD_BYTES);
  block.writeUInt32BE(Number(field), 0);
  block[4] = level & 0x0f;
  return block;
}

function decode(value: string): Buffer | undefined {
  const clean = value.replace(/\s+/g, "");
  if (clean.length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) return undefined;
  return Buffer.from(clean, "base64");
}
