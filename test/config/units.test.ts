import { describe, expect, it } from "vitest";
import { parseDuration, parseSize } from "../../src/config/units.js";

describe("parseSize", () => {
  it.each([
    ["25MB", 25 * 1024 ** 2],
    ["512KB", 512 * 1024],
    ["1GB", 1024 ** 3],
    ["1.5MB", 1.5 * 1024 ** 2],
    ["100B", 100],
    ["100", 100],
    ["25mb", 25 * 1024 ** 2],
    [" 25 MB ", 25 * 1024 ** 2],
  ])("%j is %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it("takes a number as bytes", () => {
    expect(parseSize(4096)).toBe(4096);
  });

  it.each(["", "MB", "lots", "25TB", "25 parsecs", "-1MB", "25MB extra", "1e6"])("refuses %j", (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});

describe("parseDuration", () => {
  it.each([
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["4h", 14_400_000],
    ["5d", 432_000_000],
    ["1.5h", 5_400_000],
    ["5M", 300_000],
    [" 2 s ", 2000],
  ])("%j is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it("takes a number as milliseconds", () => {
    expect(parseDuration(1500)).toBe(1500);
  });

  it.each(["", "5", "m", "5 minutes", "5w", "-5m", "soon", "5m30s"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
