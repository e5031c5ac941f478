import { recordCalendarAnswer, type CalendarAnswer } from "../domain/appointments.service.js";
import type { Conversation, Participant, Partstat, User } from "../domain/records.js";
import { readCalendar, type IcsProperty } from "./calendar-ics.js";
import type { AppliedOutcome, InboundContext } from "./inbound.js";

const PARTSTATS: Record<string, Partstat> = {
  ACCEPTED: "accepted",
  DECLINED: "declined",
  TENTATIVE: "tentative",
  "NEEDS-ACTION": "needs-action",
};

/**
 * A participant's calendar answering the appointment through their reply address (SPEC §5): it
 * becomes their RSVP, never a post. Whatever does not fit is logged as ignored with the reason,
 * and still answered 250: the calendar sent it automatically, and a bounce would only puzzle them.
 */
export async function handleCalendarReply(ctx: InboundContext, conversation: Conversation, participant: Participant, author: User, calendar: string): Promise<AppliedOutcome> {
  const ignored = (reason: string): AppliedOutcome => ({ outcome: "ignored", reason: `calendar answer ignored: ${reason}`, conversationId: conversation.id });
  if (participant.state !== "active") return ignored(`${author.email} does not take part in conversation ${conversation.id}`);
  const reply = readCalendar(calendar);
  if (!reply) return ignored("no VCALENDAR with a VEVENT in it");
  if (reply.method !== "REPLY" && reply.method !== "COUNTER") return ignored(`METHOD:${reply.method || "(none)"} answers nothing`);
  const value = (name: string) => reply.event.find((p) => p.name === name)?.value.trim();
  const uid = value("UID");
  if (!uid) return ignored("the VEVENT has no UID");
  const sequenceText = value("SEQUENCE");
  const sequence = sequenceText !== undefined && /^\d+$/.test(sequenceText) ? Number(sequenceText) : undefined;
  const attendee = ownAttendee(reply.event.filter((p) => p.name === "ATTENDEE"), author.email);
  const partstat = PARTSTATS[(attendee?.params.get("PARTSTAT") ?? "").toUpperCase()];
  const counterStartAt = reply.method === "COUNTER" ? reply.time("DTSTART") : undefined;
  const counterEndAt = reply.method === "COUNTER" ? reply.time("DTEND") : undefined;
  if (reply.method === "REPLY" && !partstat) return ignored("the REPLY carries no PARTSTAT Postern records (ACCEPTED, DECLINED, TENTATIVE)");
  if (reply.method === "COUNTER" && (counterStartAt === undefined || counterEndAt === undefined || counterEndAt <= counterStartAt)) {
    return ignored("the COUNTER proposes no time Postern can read");
  }
  const answer: CalendarAnswer = {
    method: reply.method,
    uid,
    sequence,
    // A COUNTER's PARTSTAT is usually the one from before; only a REPLY answers.
    partstat: reply.method === "REPLY" ? partstat : undefined,
    counterStartAt,
    counterEndAt,
    comment: unescape(value("COMMENT") ?? ""),
  };
  const result = await recordCalendarAnswer(ctx, conversation, author, answer);
  return { outcome: result.recorded ? "accepted" : "ignored", reason: result.reason, conversationId: conversation.id };
}

/** The ATTENDEE that is the sender (calendars list only the one answering, but some repeat all). */
function ownAttendee(attendees: readonly IcsProperty[], email: string): IcsProperty | undefined {
  const address = (p: IcsProperty) => p.value.replace(/^mailto:/i, "").trim().toLowerCase();
  return attendees.find((p) => address(p) === email) ?? (attendees.length === 1 ? attendees[0] : attendees.find((p) => p.params.has("PARTSTAT")));
}

function unescape(text: string): string {
  return text.replace(/\\([\\;,nN])/g, (_, char: string) => (char === "n" || char === "N" ? "\n" : char));
}
