import { randomBytes } from "node:crypto";

// RFC 4648 base32, lowercase: MTAs may lowercase local parts, so tokens must survive that.
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** 160 random bits as 32 lowercase base32 characters (SPEC asks for at least 128). */
export function newToken(): string {
  const bytes = randomBytes(20);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export const TOKEN_PATTERN = /^[a-z2-7]{32}$/;
