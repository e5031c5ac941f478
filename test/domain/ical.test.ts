// The iCalendar text Postern builds (src/domain/ical.ts), parsed back by an independent parser
// (ical.js from npm) and checked field by field: what Outlook, Gmail and Apple Calendar will read.

import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { buildCalendar, escapeText, fold, type IcalEvent } from "../../src/domain/ical.js";

const START = Date.UTC(2025, 2, 10, 13, 0); // 14:00 in Paris (CET, +01:00)
const END = Date.UTC(2025, 2, 10, 14, 30);

const event = (overrides: Partial<IcalEvent> = {}): IcalEvent => ({
  uid: "abc234@example.test",
  sequence: 0,
  stamp: Date.UTC(2025, 2, 1, 8, 0),
  start: START,
  end: END,
  summary: "Budget review; Q2, and more",
  location: "Room 4, 2nd floor",
  organizer: { name: "Alice via Acme", address: "reply+tokenalice@example.test" },
  attendees: [{ name: "Bob", address: "bob@else.test", partstat: "NEEDS-ACTION" }],
  cancelled: false,
  ...overrides,
});

function parse(text: string): { calendar: ICAL.Component; vevent: ICAL.Component } {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const vevent = calendar.getFirstSubcomponent("vevent");
  if (!vevent) throw new Error("no VEVENT");
  return { calendar, vevent };
}

describe("an invitation in UTC", () => {
  const text = buildCalendar("REQUEST", [event()]);
  const { calendar, vevent } = parse(text);

  it("is a VCALENDAR 2.0 with PRODID and METHOD:REQUEST", () => {
    expect(calendar.name).toBe("vcalendar");
    expect(calendar.getFirstPropertyValue("version")).toBe("2.0");
    expect(calendar.getFirstPropertyValue("prodid")).toContain("Postern");
    expect(calendar.getFirstPropertyValue("method")).toBe("REQUEST");
    expect(calendar.getAllSubcomponents("vevent")).toHaveLength(1);
  });

  it("carries UID, DTSTAMP, SEQUENCE, SUMMARY, LOCATION and STATUS, unescaped back to what was given", () => {
    expect(vevent.getFirstPropertyValue("uid")).toBe("abc234@example.test");
    expect((vevent.getFirstPropertyValue("dtstamp") as ICAL.Time).toJSDate().getTime()).toBe(Date.UTC(2025, 2, 1, 8, 0));
    expect(vevent.getFirstPropertyValue("sequence")).toBe(0);
    expect(vevent.getFirstPropertyValue("summary")).toBe("Budget review; Q2, and more");
    expect(vevent.getFirstPropertyValue("location")).toBe("Room 4, 2nd floor");
    expect(vevent.getFirstPropertyValue("status")).toBe("CONFIRMED");
  });

  it("gives DTSTART and DTEND in the UTC Z form", () => {
    expect(text).toContain("DTSTART:20250310T130000Z\r\n");
    const ev = new ICAL.Event(vevent);
    expect(ev.startDate.toJSDate().getTime()).toBe(START);
    expect(ev.endDate.toJSDate().getTime()).toBe(END);
  });

  it("names the organiser and one attendee asked to answer", () => {
    const organizer = vevent.getFirstProperty("organizer");
    expect(organizer?.getFirstValue()).toBe("mailto:reply+tokenalice@example.test");
    expect(organizer?.getParameter("cn")).toBe("Alice via Acme");
    const attendees = vevent.getAllProperties("attendee");
    expect(attendees).toHaveLength(1);
    expect(attendees[0]?.getFirstValue()).toBe("mailto:bob@else.test");
    expect(attendees[0]?.getParameter("rsvp")).toBe("TRUE");
    expect(attendees[0]?.getParameter("partstat")).toBe("NEEDS-ACTION");
    expect(attendees[0]?.getParameter("cn")).toBe("Bob");
  });

  it("ends every line in CRLF and folds none longer than 75 octets", () => {
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    for (const line of text.split("\r\n")) expect(Buffer.byteLength(line, "utf8")).toBeLessThanOrEqual(75);
  });
});

describe("an invitation with a time zone", () => {
  const text = buildCalendar("REQUEST", [event({ timezone: "Europe/Paris" })]);
  const { calendar, vevent } = parse(text);

  it("gives local times with TZID", () => {
    expect(text).toContain("DTSTART;TZID=Europe/Paris:20250310T140000\r\n");
    expect(text).toContain("DTEND;TZID=Europe/Paris:20250310T153000\r\n");
    expect(vevent.getFirstProperty("dtstart")?.getParameter("tzid")).toBe("Europe/Paris");
  });

  it("carries a VTIMEZONE from which the parser finds the same instants, in winter and in summer", () => {
    const vtimezone = calendar.getFirstSubcomponent("vtimezone");
    expect(vtimezone?.getFirstPropertyValue("tzid")).toBe("Europe/Paris");
    const observances = [...(vtimezone?.getAllSubcomponents("standard") ?? []), ...(vtimezone?.getAllSubcomponents("daylight") ?? [])];
    expect(observances.map((o) => o.getFirstPropertyValue("tzoffsetto")?.toString()).sort()).toEqual(expect.arrayContaining(["+01:00", "+02:00"]));
    const zone = new ICAL.Timezone(vtimezone!);
    const local = (vevent.getFirstPropertyValue("dtstart") as ICAL.Time).clone();
    local.zone = zone;
    expect(local.toUnixTime() * 1000).toBe(START);

    const summer = Date.UTC(2025, 6, 1, 7, 0); // 09:00 CEST
    const july = parse(buildCalendar("REQUEST", [event({ timezone: "Europe/Paris", start: summer, end: summer + 3_600_000 })]));
    expect(july.vevent.getFirstProperty("dtstart")?.toICALString()).toBe("DTSTART;TZID=Europe/Paris:20250701T090000");
    const julyZone = new ICAL.Timezone(july.calendar.getFirstSubcomponent("vtimezone")!);
    const julyStart = (july.vevent.getFirstPropertyValue("dtstart") as ICAL.Time).clone();
    julyStart.zone = julyZone;
    expect(julyStart.toUnixTime() * 1000).toBe(summer);
  });

  it("handles a southern zone and one without summer time", () => {
    for (const zone of ["Australia/Sydney", "Asia/Tokyo", "America/New_York"]) {
      const at = Date.UTC(2025, 0, 20, 23, 15);
      const parsed = parse(buildCalendar("REQUEST", [event({ timezone: zone, start: at, end: at + 3_600_000 })]));
      const time = (parsed.vevent.getFirstPropertyValue("dtstart") as ICAL.Time).clone();
      time.zone = new ICAL.Timezone(parsed.calendar.getFirstSubcomponent("vtimezone")!);
      expect(time.toUnixTime() * 1000, zone).toBe(at);
    }
  });
});

describe("a cancellation", () => {
  it("is METHOD:CANCEL with STATUS:CANCELLED and the raised SEQUENCE", () => {
    const { calendar, vevent } = parse(buildCalendar("CANCEL", [event({ sequence: 2, cancelled: true })]));
    expect(calendar.getFirstPropertyValue("method")).toBe("CANCEL");
    expect(vevent.getFirstPropertyValue("status")).toBe("CANCELLED");
    expect(vevent.getFirstPropertyValue("sequence")).toBe(2);
    expect(vevent.getFirstPropertyValue("uid")).toBe("abc234@example.test");
  });
});

describe("text", () => {
  it("escapes backslash, semicolon, comma and newline", () => {
    expect(escapeText("a\\b;c,d\ne")).toBe("a\\\\b\\;c\\,d\\ne");
    const { vevent } = parse(buildCalendar("REQUEST", [event({ summary: "a\\b;c,d\ne" })]));
    expect(vevent.getFirstPropertyValue("summary")).toBe("a\\b;c,d\ne");
  });

  it("folds long lines at 75 octets without splitting a UTF-8 character, and the parser joins them back", () => {
    const summary = "Réunion ".repeat(30).trim();
    const folded = fold(`SUMMARY:${summary}`);
    for (const line of folded.split("\r\n")) expect(Buffer.byteLength(line, "utf8")).toBeLessThanOrEqual(75);
    const { vevent } = parse(buildCalendar("REQUEST", [event({ summary })]));
    expect(vevent.getFirstPropertyValue("summary")).toBe(summary);
  });

  it("keeps quotes out of a CN parameter", () => {
    const { vevent } = parse(buildCalendar("REQUEST", [event({ organizer: { name: 'Al "the boss"; Smith', address: "reply+x@example.test" } })]));
    expect(vevent.getFirstProperty("organizer")?.getParameter("cn")).toBe("Al the boss; Smith");
  });
});
