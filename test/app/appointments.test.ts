// Appointments (SPEC §5), end to end over real SMTP: scheduling sends every participant an iMIP
// invitation (text/calendar; method=REQUEST, RSVP=TRUE, an invite.ics), rescheduling the same UID
// with a higher SEQUENCE, unscheduling METHOD:CANCEL; a calendar's REPLY to a reply address is
// recorded as an RSVP, not posted, and its organiser is told once. The ICS is read with ical.js.

import { readFileSync } from "node:fs";
import ICAL from "ical.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listRsvps, findAppointmentOfConversation } from "../../src/domain/appointments.repo.js";
import { scheduleAppointment, unscheduleAppointment } from "../../src/domain/appointments.service.js";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const ALICE = "alice@home.test";
const BOB = "bob@home.test";
const CAROL = "carol@home.test";
const START = "2025-03-10T14:00";
const END = "2025-03-10T15:30";

let t: TestGateway;
let conversationId = 0;

beforeEach(async () => {
  t = await startTestGateway({ consent: { kinds: [] } });
  const { conversation } = await t.write(async (ctx) => {
    await addUser(ctx, { email: ALICE, name: "Alice Owner" });
    await addUser(ctx, { email: BOB, name: "Bob Member" });
    await addUser(ctx, { email: CAROL, name: "Carol Member" });
    return createConversation(ctx, { from: ALICE, to: [BOB, CAROL], subject: "Budget review", body: "Let us meet." });
  });
  conversationId = conversation.id;
  await t.sink.waitFor(2);
});
afterEach(() => t.dispose());

/** Waits for `count` more messages after the first `before`, then a moment, so an extra one would show. */
async function next(before: number, count: number): Promise<SinkMessage[]> {
  await t.sink.waitFor(before + count);
  await new Promise((resolve) => setTimeout(resolve, 700));
  expect(t.sink.messages.length).toBe(before + count);
  return t.sink.messages.slice(before);
}

const schedule = (extra: { start?: string; end?: string } = {}) =>
  t.write((ctx) => scheduleAppointment(ctx, conversationId, { start: extra.start ?? START, end: extra.end ?? END, timezone: "Europe/Paris", location: "Room 4, 2nd floor", by: ALICE }));

function calendarOf(message: SinkMessage): { method: string; vevent: ICAL.Component; text: string } {
  const part = message.parsed.attachments.find((a) => a.contentType === "text/calendar");
  if (!part) throw new Error("no text/calendar part");
  const text = part.content.toString("utf8");
  const calendar = new ICAL.Component(ICAL.parse(text));
  return { method: String(calendar.getFirstPropertyValue("method")), vevent: calendar.getFirstSubcomponent("vevent")!, text };
}

const recipient = (m: SinkMessage) => m.envelope.rcptTo[0]!;

describe("scheduling", () => {
  it("sends every participant one text/calendar METHOD:REQUEST with a VTIMEZONE, RSVP=TRUE and an invite.ics", async () => {
    const { appointment, invited } = await schedule();
    expect(invited).toBe(3);
    const copies = await next(2, 3);
    expect(copies.map(recipient).sort()).toEqual([ALICE, BOB, CAROL]);
    for (const copy of copies) {
      expect(copy.raw.toString()).toMatch(/Content-Type: text\/calendar; charset=utf-8; method=REQUEST/);
      expect(copy.parsed.attachments.some((a) => a.filename === "invite.ics")).toBe(true);
      expect(copy.parsed.headers.get("auto-submitted")).toBe("auto-generated");
      expect(copy.parsed.text).toContain("Where: Room 4, 2nd floor");
      const { method, vevent, text } = calendarOf(copy);
      expect(method).toBe("REQUEST");
      expect(text).toContain("BEGIN:VTIMEZONE");
      expect(vevent.getFirstPropertyValue("uid")).toBe(appointment.uid);
      expect(vevent.getFirstPropertyValue("sequence")).toBe(0);
      expect(vevent.getFirstPropertyValue("summary")).toBe("Budget review");
      expect(vevent.getFirstProperty("dtstart")?.toICALString()).toBe("DTSTART;TZID=Europe/Paris:20250310T140000");
      const attendee = vevent.getFirstProperty("attendee")!;
      expect(vevent.getAllProperties("attendee")).toHaveLength(1);
      expect(attendee.getFirstValue()).toBe(`mailto:${recipient(copy)}`);
      expect(attendee.getParameter("rsvp")).toBe("TRUE");
      // The organiser's calendar answers through its own reply address: Alice's address is never shown.
      const organizer = vevent.getFirstProperty("organizer")!;
      expect(organizer.getFirstValue()).toBe(`mailto:${copy.parsed.replyTo?.value[0]?.address}`);
      expect(organizer.getFirstValue()).toMatch(/^mailto:reply\+[a-z2-7]{40}@example\.test$/);
      expect(organizer.getParameter("cn")).toBe("Alice Owner via Acme");
      if (recipient(copy) !== ALICE) expect(copy.raw.toString()).not.toContain(ALICE);
    }
  });

  it("rescheduling sends the same UID with a higher SEQUENCE; unscheduling sends METHOD:CANCEL", async () => {
    const first = await schedule();
    await next(2, 3);
    const second = await schedule({ start: "2025-03-11T10:00", end: "2025-03-11T11:00" });
    expect(second.rescheduled).toBe(true);
    const moved = await next(5, 3);
    for (const copy of moved) {
      const { method, vevent } = calendarOf(copy);
      expect(method).toBe("REQUEST");
      expect(vevent.getFirstPropertyValue("uid")).toBe(first.appointment.uid);
      expect(vevent.getFirstPropertyValue("sequence")).toBe(1);
      expect(copy.parsed.subject).toBe("Updated invitation: Budget review");
    }
    await t.write((ctx) => unscheduleAppointment(ctx, conversationId, ALICE));
    const cancelled = await next(8, 3);
    for (const copy of cancelled) {
      expect(copy.raw.toString()).toMatch(/method=CANCEL/);
      const { method, vevent } = calendarOf(copy);
      expect(method).toBe("CANCEL");
      expect(vevent.getFirstPropertyValue("uid")).toBe(first.appointment.uid);
      expect(vevent.getFirstPropertyValue("sequence")).toBe(2);
      expect(vevent.getFirstPropertyValue("status")).toBe("CANCELLED");
    }
  });
});

describe("a calendar's answer", () => {
  /** Bob's Google Calendar accepting, as the fixture shows it, through his own reply address. */
  async function bobAnswers(copy: SinkMessage, uid: string, messageId: string): Promise<string> {
    const replyTo = copy.parsed.replyTo!.value[0]!.address!;
    const fixture = readFileSync(new URL("../fixtures/eml/calendar_reply_google_accepted.eml", import.meta.url), "utf8")
      .replace(/reply\+[a-z2-7]{40}@example\.test/g, replyTo)
      .replace(/h7mbxq2k4zv6nwt3rdjyc5lf2gpeuaso@example\.test/g, uid)
      .replace(/bob@gmail\.test/g, BOB)
      .replace(/^Message-ID: <[^>]+>/m, `Message-ID: ${messageId}`)
      // The base64 .ics copy still names the fixture's UID: the text/calendar part is what counts.
      .replace(/Content-Type: application\/ics[\s\S]*?(?=\r\n--000000000000a1b2c3d4e5f60718--)/, "Content-Type: text/plain\r\n\r\n(attachment removed)\r\n");
    const { response } = await t.send({ envelope: { from: BOB, to: [replyTo] }, raw: fixture });
    return response;
  }

  it("is recorded as the RSVP, not posted, and the organiser is told once", async () => {
    const { appointment } = await schedule();
    const copies = await next(2, 3);
    const bobsCopy = copies.find((m) => recipient(m) === BOB)!;
    const response = await bobAnswers(bobsCopy, appointment.uid, "<answer-1@gmail.test>");
    expect(response).toMatch(/^250 /);

    const notices = await next(5, 1);
    expect(recipient(notices[0]!)).toBe(ALICE);
    expect(notices[0]!.parsed.text).toContain('Bob Member accepted "Budget review" on Monday, 10 March 2025');

    const state = await t.read(async ({ tx }) => {
      const bob = await findUserByEmail(tx, BOB);
      const stored = await findAppointmentOfConversation(tx, conversationId);
      return {
        rsvp: (await listRsvps(tx, stored!.id)).find((r) => r.userId === bob!.id)?.partstat,
        posts: (await listPosts(tx, conversationId)).length,
        log: (await listMailLog(tx, {})).find((entry) => entry.messageId === "<answer-1@gmail.test>"),
      };
    });
    expect(state.rsvp).toBe("accepted");
    expect(state.posts).toBe(1);
    expect(state.log?.reason).toMatch(/calendar answer recorded: bob@home\.test accepted/);

    // The same answer again (a calendar resending it) changes nothing and tells nobody.
    await bobAnswers(bobsCopy, appointment.uid, "<answer-2@gmail.test>");
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(t.sink.messages).toHaveLength(6);
  });

  it("for another UID is ignored with a reason in the mail log", async () => {
    await schedule();
    const copies = await next(2, 3);
    const response = await bobAnswers(copies.find((m) => recipient(m) === BOB)!, "someone-else@example.test", "<answer-3@gmail.test>");
    expect(response).toMatch(/^250 /);
    const log = await t.read(async ({ tx }) => (await listMailLog(tx, {})).find((entry) => entry.messageId === "<answer-3@gmail.test>"));
    expect(log?.outcome).toBe("ignored");
    expect(log?.reason).toMatch(/UID someone-else@example\.test is not the appointment/);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(t.sink.messages).toHaveLength(5);
  });
});
