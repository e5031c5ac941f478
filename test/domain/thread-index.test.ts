// Outlook's Thread-Index as MS-OXOMSG §2.2.1.3 lays it out: a 22-byte header (0x01, the top 40 bits
// of a FILETIME, a GUID) and 5-byte response levels (DC, TimeDelta, Random, Sequence).

import { describe, expect, it } from "vitest";
import { derivedThreadIndexRoot, MAX_RESPONSE_LEVELS, threadIndexAt, threadIndexRoot, threadIndexRootOr } from "../../src/domain/thread-index.js";

const T = Date.UTC(2025, 0, 15, 9, 30);
const FILETIME_UNIX_OFFSET = 116_444_736_000_000_000n;
const filetime = (ms: number) => BigInt(ms) * 10_000n + FILETIME_UNIX_OFFSET;
const bytes = (value: string) => Buffer.from(value, "base64");

describe("Thread-Index root", () => {
  it("is 0x01, the FILETIME's top 40 bits big-endian, then a GUID", () => {
    const root = bytes(threadIndexRoot(undefined, T));
    expect(root).toHaveLength(22);
    expect(root[0]).toBe(0x01);
    expect(BigInt(`0x${root.subarray(1, 6).toString("hex")}`)).toBe(filetime(T) >> 24n);
    expect(bytes(threadIndexRoot(undefined, T)).subarray(6)).not.toEqual(root.subarray(6));
  });

  it("keeps the header of the first message's own Thread-Index, a reply's levels dropped", () => {
    // An Outlook desktop reply: a header and one response level.
    const outlook = Buffer.concat([bytes("AQHbjC3xv2b0c8m9R0eJ5uW3yP4tZg=="), Buffer.from([0x00, 0x00, 0x12, 0x34, 0x5a])]).toString("base64");
    expect(bytes(threadIndexRoot(outlook, T))).toEqual(bytes(outlook).subarray(0, 22));
    expect(threadIndexRoot(" AduMG4p8Pm0wzB3YSkqvV2pEq8g1Kw== ", T)).toBe("AduMG4p8Pm0wzB3YSkqvV2pEq8g1Kw==");
  });

  it("makes a new one for a missing, malformed or hostile header", () => {
    for (const bad of ["", "not base64!", Buffer.alloc(21, 1).toString("base64"), Buffer.alloc(24, 1).toString("base64"), Buffer.alloc(22, 2).toString("base64"), "A".repeat(100_000)]) {
      const root = bytes(threadIndexRoot(bad, T));
      expect(root).toHaveLength(22);
      expect(root[0]).toBe(0x01);
    }
  });

  it("is derived the same way every time for a conversation that has none stored", () => {
    expect(derivedThreadIndexRoot("<postern.post.abc@example.test>", T)).toBe(derivedThreadIndexRoot("<postern.post.abc@example.test>", T));
    expect(derivedThreadIndexRoot("<postern.post.abc@example.test>", T)).not.toBe(derivedThreadIndexRoot("<postern.post.abd@example.test>", T));
    expect(threadIndexRootOr(null, "<a@b>", T)).toBe(derivedThreadIndexRoot("<a@b>", T));
    expect(threadIndexRootOr("AduMG4p8Pm0wzB3YSkqvV2pEq8g1Kw==", "<a@b>", T)).toBe("AduMG4p8Pm0wzB3YSkqvV2pEq8g1Kw==");
  });
});

describe("Thread-Index response levels", () => {
  const root = threadIndexRoot(undefined, T);
  const base = filetime(T) >> 24n << 24n;

  it("holds each reply's time since the header, bits 18..48 below 2^49 with DC = 0", () => {
    const index = bytes(threadIndexAt(root, [T + 60_000, T + 3_600_000]));
    expect(index).toHaveLength(32);
    expect(index.subarray(0, 22)).toEqual(bytes(root));
    const first = index.readUInt32BE(22);
    expect(first >>> 31).toBe(0);
    expect(BigInt(first)).toBe((filetime(T + 60_000) - base) >> 18n);
    expect(BigInt(index.readUInt32BE(27))).toBe((filetime(T + 3_600_000) - base) >> 18n);
    // The sequence nibble counts the levels.
    expect([index[26]! & 0x0f, index[31]! & 0x0f]).toEqual([1, 2]);
  });

  it("switches to bits 23..53 with DC = 1 past about 1.8 years", () => {
    const later = T + 3 * 365 * 86_400_000;
    const field = bytes(threadIndexAt(root, [later])).readUInt32BE(22);
    expect(field >>> 31).toBe(1);
    expect(BigInt(field & 0x7fffffff)).toBe(((filetime(later) - base) >> 23n) & 0x7fffffffn);
  });

  it("extends the parent's index: a reply's first levels are its parent's", () => {
    const parent = bytes(threadIndexAt(root, [T + 1000]));
    const child = bytes(threadIndexAt(root, [T + 1000, T + 2000]));
    expect(child.subarray(0, parent.length)).toEqual(parent);
  });

  it("stops adding levels deep in a long conversation, so the header stays one short line", () => {
    const times = Array.from({ length: 500 }, (_, i) => T + i * 1000);
    const index = threadIndexAt(root, times);
    expect(bytes(index)).toHaveLength(22 + 5 * MAX_RESPONSE_LEVELS);
    expect(`Thread-Index: ${index}`.length).toBeLessThan(998);
  });

  it("refuses a root that is not one", () => {
    expect(() => threadIndexAt("nonsense", [])).toThrow(/not a Thread-Index root/);
  });
});
