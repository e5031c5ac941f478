import { isKnownZone, wallTimeToInstant } from "../domain/time-zones.js";

/**
 * Just enough of RFC 5545 to read a calendar answer (iMIP REPLY or COUNTER): unfolded content
 * lines, the first VEVENT's properties, and its times in UTC, whether written with Z, an IANA
 * TZID, or a TZID of the message's own VTIMEZONE (Outlook's Windows zone names).
 */

export interface IcsProperty {
  readonly name: string;
  readonly params: ReadonlyMap<string, string>;
  readonly value: string;
}

interface Component {
  readonly name: string;
  readonly properties: IcsProperty[];
  readonly children: Component[];
}

export interface CalendarReply {
  readonly method: string;
  readonly event: readonly IcsProperty[];
  /** An instant from one of the event's DATE-TIME properties; undefined when absent or unreadable. */
  time(name: "DTSTART" | "DTEND"): number | undefined;
}

export function readCalendar(text: string): CalendarReply | undefined {
  const root: Component = { name: "", properties: [], children: [] };
  const stack: Component[] = [root];
  for (const line of text.replace(/\r\n|\r/g, "\n").replace(/\n[ \t]/g, "").split("\n")) {
    const property = parseLine(line);
    if (!property) continue;
    const top = stack[stack.length - 1] ?? root;
    if (property.name === "BEGIN") {
      const child: Component = { name: property.value.toUpperCase(), properties: [], children: [] };
      top.children.push(child);
      stack.push(child);
    } else if (property.name === "END") {
      if (stack.length > 1) stack.pop();
    } else top.properties.push(property);
  }
  const calendar = root.children.find((c) => c.name === "VCALENDAR");
  const event = calendar?.children.find((c) => c.name === "VEVENT");
  if (!calendar || !event) return undefined;
  const method = (calendar.properties.find((p) => p.name === "METHOD")?.value ?? "").trim().toUpperCase();
  const zones = calendar.children.filter((c) => c.name === "VTIMEZONE");
  return {
    method,
    event: event.properties,
    time: (name) => {
      const property = event.properties.find((p) => p.name === name);
      return property ? instantOf(property, zones) : undefined;
    },
  };
}

function parseLine(line: string): IcsProperty | undefined {
  // The value starts at the first colon outside a quoted parameter value.
  let quoted = false;
  let colon = -1;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '"') quoted = !quoted;
    else if (char === ":" && !quoted) {
      colon = i;
      break;
    }
  }
  if (colon <= 0) return undefined;
  const [name = "", ...rawParams] = splitParams(line.slice(0, colon));
  const params = new Map<string, string>();
  for (const param of rawParams) {
    const eq = param.indexOf("=");
    if (eq > 0) params.set(param.slice(0, eq).toUpperCase(), param.slice(eq + 1).replace(/^"|"$/g, ""));
  }
  return { name: name.toUpperCase(), params, value: line.slice(colon + 1) };
}

function splitParams(head: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of head) {
    if (char === '"') quoted = !quoted;
    if (char === ";" && !quoted) {
      out.push(current);
      current = "";
    } else current += char;
  }
  out.push(current);
  return out;
}

const DATE_TIME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/i;

function wallOf(value: string): { wall: number; utc: boolean } | undefined {
  const match = DATE_TIME.exec(value.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, z] = match;
  return { wall: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)), utc: z !== "" };
}

function instantOf(property: IcsProperty, zones: readonly Component[]): number | undefined {
  const parsed = wallOf(property.value);
  if (!parsed) return undefined;
  if (parsed.utc) return parsed.wall;
  const tzid = property.params.get("TZID");
  if (!tzid) return undefined;
  const own = zones.find((zone) => zone.properties.find((p) => p.name === "TZID")?.value === tzid);
  if (own) {
    const offset = offsetFromVtimezone(own, parsed.wall);
    if (offset !== undefined) return parsed.wall - offset;
  }
  return isKnownZone(tzid) ? wallTimeToInstant(parsed.wall, tzid) : undefined;
}

/** The offset in force at a wall time: the observance with the latest onset not after it. */
function offsetFromVtimezone(zone: Component, wall: number): number | undefined {
  const year = new Date(wall).getUTCFullYear();
  let best: { onset: number; offset: number } | undefined;
  for (const observance of zone.children.filter((c) => c.name === "STANDARD" || c.name === "DAYLIGHT")) {
    const get = (name: string) => observance.properties.find((p) => p.name === name)?.value;
    const start = wallOf(get("DTSTART") ?? "");
    const offset = offsetValue(get("TZOFFSETTO") ?? "");
    if (!start || offset === undefined) continue;
    const rule = get("RRULE");
    const onsets = rule ? [year - 1, year].map((y) => yearlyOnset(rule, start.wall, y)) : [start.wall];
    for (const onset of onsets) {
      if (onset !== undefined && onset <= wall && (!best || onset > best.onset)) best = { onset, offset };
    }
  }
  return best?.offset;
}

/** FREQ=YEARLY;BYMONTH=M;BYDAY=nDD (how Outlook, Google and Apple write summer time) in one year. */
function yearlyOnset(rule: string, first: number, year: number): number | undefined {
  const parts = new Map(rule.split(";").map((p) => p.split("=") as [string, string]));
  if (parts.get("FREQ")?.toUpperCase() !== "YEARLY" || year < new Date(first).getUTCFullYear()) return undefined;
  const month = Number(parts.get("BYMONTH") ?? new Date(first).getUTCMonth() + 1) - 1;
  const timeOfDay = first % 86_400_000;
  const byDay = /^([+-]?\d)?(SU|MO|TU|WE|TH|FR|SA)$/i.exec(parts.get("BYDAY") ?? "");
  if (!byDay) return Date.UTC(year, month, new Date(first).getUTCDate()) + timeOfDay;
  const weekday = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"].indexOf((byDay[2] ?? "").toUpperCase());
  const nth = Number(byDay[1] ?? 1);
  if (nth > 0) {
    const firstDay = new Date(Date.UTC(year, month, 1)).getUTCDay();
    return Date.UTC(year, month, 1 + ((weekday - firstDay + 7) % 7) + (nth - 1) * 7) + timeOfDay;
  }
  const lastDate = new Date(Date.UTC(year, month + 1, 0));
  const back = (lastDate.getUTCDay() - weekday + 7) % 7;
  return Date.UTC(year, month, lastDate.getUTCDate() - back + (nth + 1) * 7) + timeOfDay;
}

function offsetValue(text: string): number | undefined {
  const match = /^([+-])(\d{2})(\d{2})(\d{2})?$/.exec(text.trim());
  if (!match) return undefined;
  const minutes = Number(match[2]) * 60 + Number(match[3]) + Number(match[4] ?? 0) / 60;
  return (match[1] === "-" ? -1 : 1) * minutes * 60_000;
}
