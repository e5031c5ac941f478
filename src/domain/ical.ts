/**
 * iCalendar (RFC 5545) text for an iMIP message (RFC 6047) and for the CLI export (hence in the domain,
 * which both reach): pure, no database, no clock. Lines end
 * in CRLF and are folded at 75 octets; text values are escaped.
 */

import type { Appointment, Partstat } from "./records.js";
import { offsetAt } from "./time-zones.js";

export type IcalMethod = "REQUEST" | "CANCEL";

export interface IcalPerson {
  readonly name: string;
  readonly address: string;
}

export interface IcalAttendee extends IcalPerson {
  readonly partstat: "NEEDS-ACTION" | "ACCEPTED" | "DECLINED" | "TENTATIVE";
}

/** An RSVP as iCalendar spells it. */
export const PARTSTAT_TEXT: Readonly<Record<Partstat, IcalAttendee["partstat"]>> = {
  "needs-action": "NEEDS-ACTION",
  accepted: "ACCEPTED",
  declined: "DECLINED",
  tentative: "TENTATIVE",
};

/** The fields of an event that come from the appointment itself, the same in an invitation and in the export. */
export function appointmentEvent(appointment: Appointment, summary: string): Omit<IcalEvent, "organizer" | "attendees" | "description"> {
  return {
    uid: appointment.uid,
    sequence: appointment.sequence,
    stamp: appointment.updatedAt,
    start: appointment.startAt,
    end: appointment.endAt,
    timezone: appointment.timezone,
    summary,
    location: appointment.location,
    cancelled: appointment.state === "cancelled",
  };
}

export interface IcalEvent {
  readonly uid: string;
  readonly sequence: number;
  /** When this version was made (DTSTAMP). */
  readonly stamp: number;
  readonly start: number;
  readonly end: number;
  /** IANA zone: local times with TZID and a VTIMEZONE; absent for UTC. */
  readonly timezone?: string | null;
  readonly summary: string;
  readonly location?: string | null;
  readonly description?: string;
  readonly organizer: IcalPerson;
  readonly attendees: readonly IcalAttendee[];
  readonly cancelled: boolean;
}

export const PRODID = "-//Postern//Postern conversations//EN";

/** One VCALENDAR with one VEVENT per event (the export lists several, an invitation one). */
export function buildCalendar(method: IcalMethod | null, events: readonly IcalEvent[]): string {
  const lines = ["BEGIN:VCALENDAR", `PRODID:${PRODID}`, "VERSION:2.0", "CALSCALE:GREGORIAN", ...(method ? [`METHOD:${method}`] : [])];
  const zones = new Map<string, { from: number; to: number }>();
  for (const event of events) {
    if (!event.timezone) continue;
    const range = zones.get(event.timezone);
    zones.set(event.timezone, { from: Math.min(range?.from ?? event.start, event.start), to: Math.max(range?.to ?? event.end, event.end) });
  }
  for (const [zone, range] of zones) lines.push(...vtimezone(zone, range.from, range.to));
  for (const event of events) lines.push(...vevent(event));
  lines.push("END:VCALENDAR");
  return lines.map(fold).join("\r\n") + "\r\n";
}

function vevent(event: IcalEvent): string[] {
  const when = (name: string, at: number) =>
    event.timezone ? `${name};TZID=${event.timezone}:${localStamp(at, event.timezone)}` : `${name}:${utcStamp(at)}`;
  return [
    "BEGIN:VEVENT",
    `UID:${escapeText(event.uid)}`,
    `DTSTAMP:${utcStamp(event.stamp)}`,
    `SEQUENCE:${event.sequence}`,
    when("DTSTART", event.start),
    when("DTEND", event.end),
    `SUMMARY:${escapeText(event.summary)}`,
    ...(event.location ? [`LOCATION:${escapeText(event.location)}`] : []),
    ...(event.description ? [`DESCRIPTION:${escapeText(event.description)}`] : []),
    `ORGANIZER;CN=${paramValue(event.organizer.name)}:mailto:${event.organizer.address}`,
    ...event.attendees.map(
      (a) => `ATTENDEE;CN=${paramValue(a.name)};ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL;PARTSTAT=${a.partstat};RSVP=TRUE:mailto:${a.address}`,
    ),
    `STATUS:${event.cancelled ? "CANCELLED" : "CONFIRMED"}`,
    "TRANSP:OPAQUE",
    "END:VEVENT",
  ];
}

/** TEXT values (RFC 5545 §3.3.11): backslash, semicolon, comma and newline are escaped. */
export function escapeText(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r\n|\r|\n/g, "\\n");
}

/** A parameter value: quoted (DQUOTE is not allowed inside, so it is dropped), no control characters. */
function paramValue(value: string): string {
  return `"${value.replace(/["\p{Cc}]/gu, "").trim() || "Someone"}"`;
}

/** Folds a content line at 75 octets, never inside a UTF-8 sequence (RFC 5545 §3.1). */
export function fold(line: string): string {
  const out: string[] = [];
  let current = "";
  let octets = 0;
  for (const char of line) {
    const size = Buffer.byteLength(char, "utf8");
    if (octets + size > 75) {
      out.push(current);
      current = " ";
      octets = 1;
    }
    current += char;
    octets += size;
  }
  out.push(current);
  return out.join("\r\n");
}

export function utcStamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** The wall-clock time in `zone` as an iCalendar local DATE-TIME (no Z). */
export function localStamp(at: number, zone: string): string {
  return utcStamp(at + offsetAt(at, zone)).slice(0, -1);
}

const DAY = 86_400_000;
const MINUTE = 60_000;

/**
 * A VTIMEZONE for the zone covering the event's years and the one before: one observance for the
 * offset at the start of that span, then one per change of offset found through Intl (so southern
 * zones and zones without summer time come out right without a copy of the tz database).
 */
function vtimezone(zone: string, from: number, to: number): string[] {
  const startYear = new Date(from).getUTCFullYear() - 1;
  const spanStart = Date.UTC(startYear, 0, 1);
  const spanEnd = Date.UTC(new Date(to).getUTCFullYear() + 1, 0, 1);
  const changes: { at: number; from: number; to: number }[] = [];
  let previous = offsetAt(spanStart, zone);
  for (let day = spanStart + DAY; day <= spanEnd; day += DAY) {
    const offset = offsetAt(day, zone);
    if (offset === previous) continue;
    // Narrow the change down to the minute within the day it happened.
    let low = day - DAY;
    let high = day;
    while (high - low > MINUTE) {
      const middle = low + Math.floor((high - low) / 2 / MINUTE) * MINUTE;
      if (offsetAt(middle, zone) === previous) low = middle;
      else high = middle;
    }
    changes.push({ at: high, from: previous, to: offset });
    previous = offset;
  }
  const lowest = Math.min(offsetAt(spanStart, zone), ...changes.map((c) => c.to));
  const initial = offsetAt(spanStart, zone);
  const observances = [{ at: spanStart, from: initial, to: initial }, ...changes].map((change) => {
    const kind = change.to > lowest ? "DAYLIGHT" : "STANDARD";
    return [
      `BEGIN:${kind}`,
      // The onset as the clock showed it before the change (RFC 5545 §3.6.5).
      `DTSTART:${utcStamp(change.at + change.from).slice(0, -1)}`,
      `TZOFFSETFROM:${offsetText(change.from)}`,
      `TZOFFSETTO:${offsetText(change.to)}`,
      `END:${kind}`,
    ];
  });
  return ["BEGIN:VTIMEZONE", `TZID:${zone}`, ...observances.flat(), "END:VTIMEZONE"];
}

function offsetText(offset: number): string {
  const sign = offset < 0 ? "-" : "+";
  const minutes = Math.abs(offset) / MINUTE;
  const pad = (n: number) => String(Math.floor(n)).padStart(2, "0");
  return `${sign}${pad(minutes / 60)}${pad(minutes % 60)}`;
}
