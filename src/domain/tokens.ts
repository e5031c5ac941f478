import { randomFillSync } from "node:crypto";

// RFC 4648 base32, lowercase: MTAs may lowercase local parts, so tokens must survive that.
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** The same 32 characters in byte order, for the time prefix: its text sorts as its number does. */
const SORTED_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz";
const PREFIX_LENGTH = 8;
/** Hundredths of a second since 1970 fit the prefix's 40 bits until the year 2318. */
const PREFIX_UNIT_MS = 10;

const TOKEN_BYTES = 20;
/**
 * Random bytes are drawn for many tokens at once: a message queues a copy (and a bounce token) per
 * recipient, and one call to the generator per token cost more than the tokens themselves.
 */
const POOL_TOKENS = 128;
const pool = Buffer.alloc(TOKEN_BYTES * POOL_TOKENS);
let used = pool.length;

/**
 * When the token was made, to the hundredth of a second, then 160 random bits (SPEC asks for at
 * least 128): 40 lowercase base32 characters. Every token is looked up through a unique index,
 * and one that began with random bits went to a random page of that index: each new delivery
 * (and Message-ID, and participant) rewrote a page of its own and, on a big table, read it
 * from disk first. Tokens that start with the time go to the last pages, which the rows written
 * together share. The prefix tells no more than the Date of the mail that carries the token.
 */
export function newToken(now: number = Date.now()): string {
  return timePrefix(now) + randomPart();
}

function timePrefix(now: number): string {
  let value = Math.max(0, Math.floor(now / PREFIX_UNIT_MS));
  let out = "";
  for (let i = 0; i < PREFIX_LENGTH; i++) {
    out = SORTED_ALPHABET[value % 32]! + out;
    value = Math.floor(value / 32);
  }
  return out;
}

function randomPart(): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const start = used;
  used += TOKEN_BYTES;
  let out = "";
  // Five bytes are eight characters, most significant bits first.
  for (let i = start; i < start + TOKEN_BYTES; i += 5) {
    const b0 = pool[i]!;
    const b1 = pool[i + 1]!;
    const b2 = pool[i + 2]!;
    const b3 = pool[i + 3]!;
    const b4 = pool[i + 4]!;
    out +=
      ALPHABET[b0 >>> 3]! +
      ALPHABET[((b0 & 7) << 2) | (b1 >>> 6)]! +
      ALPHABET[(b1 >>> 1) & 31]! +
      ALPHABET[((b1 & 1) << 4) | (b2 >>> 4)]! +
      ALPHABET[((b2 & 15) << 1) | (b3 >>> 7)]! +
      ALPHABET[(b3 >>> 2) & 31]! +
      ALPHABET[((b3 & 3) << 3) | (b4 >>> 5)]! +
      ALPHABET[b4 & 31]!;
  }
  return out;
}

/** A token as newToken makes it, or as it made it before the time prefix (32 random characters). */
export const TOKEN_PATTERN = /^(?:[a-z2-7]{8})?[a-z2-7]{32}$/;
