const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "25MB" → bytes; a bare number is bytes. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*$/i.exec(value);
  if (!match) return undefined;
  const factor = SIZE_UNITS[(match[2] ?? "").toUpperCase()];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

/** "5m" → milliseconds; a bare number is milliseconds. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(value);
  if (!match) return undefined;
  const factor = DURATION_UNITS[(match[2] ?? "").toLowerCase()];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}
