import { refuse } from "../errors/refusal.js";
import * as repo from "./appointments.repo.js";
import { lockConversation } from "./consent.repo.js";
import type { DomainContext } from "./context.js";
import { findParticipant, participantsWithUsers, type ParticipantWithUser } from "./conversations.repo.js";
import { queueDeliveries } from "./deliveries.repo.js";
import { requireVisibleConversation } from "./drafts.service.js";
import { appointmentEvent, buildCalendar, PARTSTAT_TEXT } from "./ical.js";
import { notify } from "./notices.service.js";
import type { Appointment, Conversation, Partstat, User } from "./records.js";
import { canonicalZone, isKnownZone, wallTimeToInstant } from "./time-zones.js";
import { newToken } from "./tokens.js";
import { displayName, requireUser } from "./users.service.js";

/**
 * A conversation's appointment (SPEC §5): scheduling, rescheduling (same UID, SEQUENCE + 1) and
 * cancelling each queue one "appointment" delivery per active participant, organiser included so
 * the event is in their calendar too; what it says is rendered when it is sent.
 */

export interface ScheduleInput {
  readonly start: string;
  readonly end: string;
  readonly location?: string | undefined;
  readonly timezone?: string | undefined;
  readonly by: string;
}

export async function scheduleAppointment(ctx: DomainContext, id: number, input: ScheduleInput): Promise<{ appointment: Appointment; rescheduled: boolean; invited: number }> {
  const { tx, now } = ctx;
  const timezone = input.timezone?.trim() ? checkedZone(input.timezone.trim()) : null;
  const startAt = parseMoment(input.start, timezone, "--start");
  const endAt = parseMoment(input.end, timezone, "--end");
  if (endAt <= startAt) refuse("invalid_input", "The appointment must end after it starts (--end after --start).");
  const location = input.location?.trim() || null;
  const { conversation, organizer, taking } = await organiserOf(ctx, id, input.by);
  const existing = await repo.findAppointmentOfConversation(tx, conversation.id);
  const change = { organizerId: organizer.id, startAt, endAt, timezone, location, state: "scheduled" as const };
  const appointment = existing
    ? await revised(ctx, existing, change)
    : await repo.insertAppointment(tx, {
        conversationId: conversation.id,
        uid: `${newToken()}@${ctx.config.primaryDomain}`,
        ...change,
        sequence: 0,
        createdAt: now,
        updatedAt: now,
      });
  // A new time asks everyone again: an earlier yes was a yes to another time.
  for (const { user } of taking) {
    const partstat: Partstat = user.id === organizer.id ? "accepted" : "needs-action";
    await repo.saveRsvp(tx, appointment.id, user.id, { partstat, counterStartAt: null, counterEndAt: null, comment: null, sequence: appointment.sequence }, now);
  }
  await queueCopies(ctx, conversation, appointment, taking);
  return { appointment, rescheduled: existing !== undefined, invited: taking.length };
}

/** Cancels the appointment: SEQUENCE + 1 and a METHOD:CANCEL to everyone taking part. */
export async function unscheduleAppointment(ctx: DomainContext, id: number, by: string): Promise<{ appointment: Appointment; told: number }> {
  const { conversation, organizer, taking } = await organiserOf(ctx, id, by);
  const existing = await repo.findAppointmentOfConversation(ctx.tx, conversation.id);
  if (!existing || existing.state === "cancelled") refuse("not_found", `Conversation ${conversation.id} has no scheduled appointment to cancel.`);
  const appointment = await revised(ctx, existing, { ...existing, organizerId: organizer.id, state: "cancelled" });
  await queueCopies(ctx, conversation, appointment, taking);
  return { appointment, told: taking.length };
}

/**
 * People who joined after the appointment was scheduled get the invitation too (same SEQUENCE),
 * so that "every participant" stays true; nothing happens when there is none or it was cancelled.
 */
export async function inviteLateJoiners(ctx: DomainContext, conversation: Conversation, joiners: readonly User[]): Promise<void> {
  const appointment = await repo.findAppointmentOfConversation(ctx.tx, conversation.id);
  if (!appointment || appointment.state !== "scheduled") return;
  const invited = joiners.filter((user) => user.status !== "suspended");
  for (const user of invited) {
    await repo.saveRsvp(ctx.tx, appointment.id, user.id, { partstat: "needs-action", counterStartAt: null, counterEndAt: null, comment: null, sequence: appointment.sequence }, ctx.now);
  }
  await queueDeliveries(
    ctx.tx,
    invited.map((user) => ({ kind: "appointment", appointmentId: appointment.id, conversationId: conversation.id, recipientId: user.id, toAddress: user.email })),
    ctx.now,
  );
}

export interface CalendarEntry {
  readonly appointment: Appointment;
  readonly conversation: Conversation;
  readonly organizer: User | undefined;
  readonly rsvps: readonly { readonly user: User; readonly partstat: Partstat; readonly counterStartAt: number | null; readonly counterEndAt: number | null; readonly comment: string | null }[];
}

/** Every appointment, or those of conversations the user takes or took part in; earliest first. */
export async function listCalendar(ctx: Pick<DomainContext, "tx">, userEmail?: string): Promise<CalendarEntry[]> {
  const { tx } = ctx;
  const user = userEmail === undefined ? undefined : await requireUser(tx, userEmail);
  const entries: CalendarEntry[] = [];
  for (const appointment of await repo.listAppointments(tx)) {
    if (user && !(await findParticipant(tx, appointment.conversationId, user.id))) continue;
    const conversation = await requireVisibleConversation(tx, appointment.conversationId, { id: appointment.organizerId });
    const people = new Map((await participantsWithUsers(tx, conversation.id)).map((row) => [row.user.id, row.user]));
    const rsvps = (await repo.listRsvps(tx, appointment.id)).flatMap((rsvp) => {
      const person = people.get(rsvp.userId);
      return person ? [{ user: person, partstat: rsvp.partstat, counterStartAt: rsvp.counterStartAt, counterEndAt: rsvp.counterEndAt, comment: rsvp.comment }] : [];
    });
    entries.push({ appointment, conversation, organizer: people.get(appointment.organizerId), rsvps });
  }
  return entries;
}

/** A calendar answer (iMIP REPLY or COUNTER) from one participant, as calendar-reply.ts read it. */
export interface CalendarAnswer {
  readonly method: "REPLY" | "COUNTER";
  readonly uid: string;
  /** Absent when the answer did not say; taken as the current version. */
  readonly sequence: number | undefined;
  readonly partstat: Partstat | undefined;
  readonly counterStartAt?: number | undefined;
  readonly counterEndAt?: number | undefined;
  readonly comment?: string | undefined;
}

/**
 * Records the answer as the participant's RSVP and tells the organiser once per change. Answers
 * that do not fit (another UID, a cancelled or older version) are not recorded: `recorded: false`
 * and why, for the mail log.
 */
export async function recordCalendarAnswer(ctx: DomainContext, conversation: Conversation, user: User, answer: CalendarAnswer): Promise<{ recorded: boolean; reason: string }> {
  const { tx, now } = ctx;
  await lockConversation(tx, conversation.id);
  const appointment = await repo.findAppointmentOfConversation(tx, conversation.id);
  if (!appointment) return { recorded: false, reason: `calendar answer ignored: conversation ${conversation.id} has no appointment` };
  if (answer.uid !== appointment.uid) return { recorded: false, reason: `calendar answer ignored: UID ${answer.uid} is not the appointment of conversation ${conversation.id}` };
  if (appointment.state === "cancelled") return { recorded: false, reason: `calendar answer ignored: the appointment of conversation ${conversation.id} was cancelled` };
  const sequence = answer.sequence ?? appointment.sequence;
  if (sequence < appointment.sequence) {
    return { recorded: false, reason: `calendar answer ignored: it answers SEQUENCE ${sequence}, but the appointment was rescheduled since (SEQUENCE ${appointment.sequence})` };
  }
  const before = await repo.findRsvp(tx, appointment.id, user.id);
  const counter = answer.method === "COUNTER" && answer.counterStartAt !== undefined && answer.counterEndAt !== undefined;
  const saved = await repo.saveRsvp(
    tx,
    appointment.id,
    user.id,
    {
      // A COUNTER proposes a time without answering the current one.
      partstat: answer.partstat ?? before?.partstat ?? "needs-action",
      counterStartAt: counter ? (answer.counterStartAt ?? null) : null,
      counterEndAt: counter ? (answer.counterEndAt ?? null) : null,
      comment: answer.comment?.trim() || null,
      sequence: appointment.sequence,
    },
    now,
  );
  const changed =
    !before || before.partstat !== saved.partstat || before.counterStartAt !== saved.counterStartAt || before.counterEndAt !== saved.counterEndAt;
  const organizer = (await participantsWithUsers(tx, conversation.id)).find((row) => row.user.id === appointment.organizerId)?.user;
  if (changed && organizer && organizer.id !== user.id) {
    await notify(ctx, { kind: "rsvp", conversation, about: user, recipients: [organizer] });
  }
  const what = counter ? "proposes a new time" : saved.partstat;
  return { recorded: true, reason: `calendar answer recorded: ${user.email} ${what} (appointment of conversation ${conversation.id}, SEQUENCE ${appointment.sequence})` };
}

/** Who may schedule: an active participant who owns the conversation, or staff and admins taking part. */
async function organiserOf(ctx: DomainContext, id: number, byEmail: string): Promise<{ conversation: Conversation; organizer: User; taking: ParticipantWithUser[] }> {
  const { tx } = ctx;
  const organizer = await requireUser(tx, byEmail);
  const visible = await requireVisibleConversation(tx, id, organizer);
  // Serialises schedule, unschedule and answers of one conversation across nodes.
  const conversation = (await lockConversation(tx, visible.id)) ?? visible;
  const rows = await participantsWithUsers(tx, conversation.id);
  const own = rows.find((row) => row.user.id === organizer.id);
  if (!own || own.participant.state !== "active") {
    refuse("not_a_participant", `${organizer.email} does not take part in conversation ${conversation.id}, so cannot schedule its appointment.`);
  }
  if (organizer.status !== "active") refuse("not_allowed", `${organizer.email} is ${organizer.status}; only active members schedule appointments.`);
  if (own.participant.role !== "owner" && organizer.role === "member") {
    refuse("not_allowed", `Only the owners of conversation ${conversation.id}, staff and admins may schedule its appointment.`);
  }
  if (conversation.state !== "open") {
    refuse("invalid_input", `Conversation ${conversation.id} is ${conversation.state}; appointments are scheduled in open conversations only.`);
  }
  const taking = rows.filter((row) => row.participant.state === "active" && row.user.status !== "suspended");
  return { conversation, organizer, taking };
}

async function revised(ctx: DomainContext, current: Appointment, change: repo.AppointmentChange): Promise<Appointment> {
  const next = await repo.reviseAppointment(ctx.tx, current, change, ctx.now);
  // The conversation's lock makes this unreachable unless someone bypassed it; a retry reads afresh.
  if (!next) refuse("temporary_failure", `The appointment of conversation ${current.conversationId} changed meanwhile; try again.`);
  return next;
}

async function queueCopies(ctx: DomainContext, conversation: Conversation, appointment: Appointment, taking: readonly ParticipantWithUser[]): Promise<void> {
  await queueDeliveries(
    ctx.tx,
    taking.map(({ user }) => ({ kind: "appointment", appointmentId: appointment.id, conversationId: conversation.id, recipientId: user.id, toAddress: user.email })),
    ctx.now,
  );
}

function checkedZone(zone: string): string {
  if (!isKnownZone(zone)) refuse("invalid_input", `"${zone}" is not a time zone; give an IANA name such as Europe/Paris or America/New_York (--timezone).`);
  return canonicalZone(zone);
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * An ISO 8601 date and time. With Z or an offset it is that instant; without, it is the clock
 * time in --timezone (or UTC when none is given), as a person scheduling a meeting means it.
 */
export function parseMoment(text: string, timezone: string | null, option: string): number {
  const match = ISO.exec(text.trim());
  const fail = (): never => refuse("invalid_input", `${option} "${text}" is not an ISO 8601 date and time such as 2025-03-10T14:00 or 2025-03-10T13:00Z.`);
  if (!match) return fail();
  const [, y, mo, d, h, mi, s, offset] = match;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  const check = new Date(wall);
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return fail();
  if (offset === undefined) return timezone ? wallTimeToInstant(wall, timezone) : wall;
  if (offset.toUpperCase() === "Z") return wall;
  const digits = offset.replace(":", "");
  const minutes = Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5));
  return wall - (digits.startsWith("-") ? -1 : 1) * minutes * 60_000;
}

/** `postern calendar --ics FILE`: the listed appointments as one VCALENDAR, addresses as they are (the CLI is the admin's). */
export function calendarFile(entries: readonly CalendarEntry[]): string {
  return buildCalendar(
    null,
    entries.map(({ appointment, conversation, organizer, rsvps }) => ({
      ...appointmentEvent(appointment, conversation.subject),
      organizer: { name: organizer ? displayName(organizer) : "Someone", address: organizer?.email ?? "" },
      attendees: rsvps.map((r) => ({ name: displayName(r.user), address: r.user.email, partstat: PARTSTAT_TEXT[r.partstat] })),
    })),
  );
}
