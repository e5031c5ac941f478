import type { Tx } from "../db/store.js";
import { findAppointmentOfConversation, findRsvp } from "../domain/appointments.repo.js";
import type { Appointment, Notice } from "../domain/records.js";
import type { RsvpSummary } from "./notice-body.js";
import { RenderError } from "./render-error.js";

/** What an `rsvp` notice tells the organiser: the participant's answer as it stands when it is sent. */
export async function rsvpSummary(tx: Tx, notice: Notice): Promise<RsvpSummary> {
  const appointment = await findAppointmentOfConversation(tx, notice.conversationId);
  const rsvp = appointment && (await findRsvp(tx, appointment.id, notice.userId));
  if (!appointment || !rsvp) throw new RenderError(`the answer this notice reports (conversation ${notice.conversationId}) no longer exists`);
  return {
    answer: rsvp.partstat,
    when: timeText(appointment, appointment.startAt, appointment.endAt),
    ...(rsvp.counterStartAt !== null && rsvp.counterEndAt !== null ? { proposed: timeText(appointment, rsvp.counterStartAt, rsvp.counterEndAt) } : {}),
    comment: rsvp.comment,
  };
}

/** A span as a person reads it, in the appointment's own zone. */
export function timeText(appointment: Pick<Appointment, "timezone">, start: number, end: number): string {
  const zone = appointment.timezone ?? "UTC";
  const format = new Intl.DateTimeFormat("en-GB", { timeZone: zone, dateStyle: "full", timeStyle: "short" });
  return `${format.format(new Date(start))} to ${format.format(new Date(end))} (${zone})`;
}
