/** IANA time zones through Intl, which carries the tz database: no copy of it in Postern. */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at that instant, in milliseconds. */
export function offsetAt(at: number, zone: string): number {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((part) => [part.type, part.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall - Math.floor(at / 1000) * 1000;
}

/** True when Intl knows the zone by that name (it throws a RangeError for any other). */
export function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The instant a wall-clock time in `zone` names (given as if it were UTC). A time the clocks skip
 * or show twice resolves to one of its candidates: a calendar answer is a proposal, not a contract.
 */
export function wallTimeToInstant(wall: number, zone: string): number {
  const first = wall - offsetAt(wall, zone);
  const second = wall - offsetAt(first, zone);
  return Math.min(first, second);
}

/** A zone's canonical spelling (Europe/paris → Europe/Paris). */
export function canonicalZone(zone: string): string {
  return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
}
