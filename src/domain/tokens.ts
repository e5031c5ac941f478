import { randomFillSync } from "node:crypto";

// RFC 4648 base32, lowercase: MTAs may lowercase local parts, so tokens must survive that.
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

const TOKEN_BYTES = 20;
/**
 * Random bytes are drawn for many tokens at once: a message queues a copy (and a bounce token) per
 * recipient, and one call to the generator per token cost more than the tokens themselves.
 */
const POOL_TOKENS = 128;
const pool = Buffer.alloc(TOKEN_BYTES * POOL_TOKENS);
let used = pool.length;

/** 160 random bits as 32 lowercase base32 characters (SPEC asks for at least 128). */
export function newToken(): string {
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

export const TOKEN_PATTERN = /^[a-z2-7]{32}$/;
