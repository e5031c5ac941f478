import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { findAppointment, findRsvp, hasNewerAppointmentDelivery } from "../domain/appointments.repo.js";
import { findConversation, findParticipant } from "../domain/conversations.repo.js";
import { findGroupById } from "../domain/groups.repo.js";
import { appointmentEvent, buildCalendar, PARTSTAT_TEXT } from "../domain/ical.js";
import { mintMessageId } from "../domain/message-ids.js";
import type { Appointment, Delivery } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import type { MailDraft } from "./compose.js";
import { escapeHtml, htmlDocument, paragraphs } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { timeText } from "./render-rsvp.js";
import { displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";


/**
 * One participant's iMIP copy of the appointment as it is now (RFC 6047): METHOD:REQUEST while
 * scheduled, METHOD:CANCEL once cancelled. The ORGANIZER is the recipient's own reply address under
 * the organiser's name, so the answer their calendar sends comes back through their token (and the
 * organiser's address is not disclosed); the only ATTENDEE is the recipient, by the address the
 * copy goes to, which is how calendars recognise "you" and show Accept/Decline.
 */
export async function draftAppointmentDelivery(tx: Tx, config: Config, delivery: Delivery): Promise<MailDraft> {
  const appointment = delivery.appointmentId === null ? undefined : await findAppointment(tx, delivery.appointmentId);
  if (!appointment) throw new RenderError(`appointment ${delivery.appointmentId ?? "(none)"} no longer exists`);
  // Rescheduled or cancelled since this copy was queued: the newer copy says what holds now.
  if (await hasNewerAppointmentDelivery(tx, delivery.id, appointment.id, delivery.recipientId)) {
    throw new RenderError(`a newer version of appointment ${appointment.uid} supersedes this copy`, "skipped");
  }
  const conversation = await findConversation(tx, appointment.conversationId);
  if (!conversation) throw new RenderError(`conversation ${appointment.conversationId} no longer exists`);
  const recipient = await findUserById(tx, delivery.recipientId);
  if (!recipient) throw new RenderError(`recipient ${delivery.recipientId} no longer exists`);
  const participant = await findParticipant(tx, conversation.id, recipient.id);
  if (participant?.state !== "active") {
    throw new RenderError(`${delivery.toAddress} no longer takes part in conversation ${conversation.id}`, "skipped");
  }
  const organizer = await findUserById(tx, appointment.organizerId);
  const organizerName = organizer ? displayName(organizer) : "Someone";
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  const via = displayNameText(group?.name ?? config.gateway.name, MAX_VIA_LENGTH);
  const domain = config.primaryDomain;
  const replyAddress = tokenAddress("reply", participant.replyToken, domain);
  const rsvp = await findRsvp(tx, appointment.id, recipient.id);
  const cancelled = appointment.state === "cancelled";
  const method = cancelled ? "CANCEL" : "REQUEST";

  const ics = buildCalendar(method, [
    {
      ...appointmentEvent(appointment, conversation.subject),
      description: `Conversation "${conversation.subject}" on ${via}. Answer with your calendar's buttons; to write to the participants, reply to ${replyAddress}.`,
      organizer: { name: `${displayNameText(organizerName)} via ${via}`, address: replyAddress },
      attendees: [{ name: displayNameText(recipient.name ?? "") || recipient.email, address: delivery.toAddress, partstat: PARTSTAT_TEXT[rsvp?.partstat ?? "needs-action"] }],
    },
  ]);
  const text = appointmentText({ appointment, subject: conversation.subject, organizer: organizerName, replyAddress, cancelled });
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    messageId: mintMessageId(config, "appointment", delivery.bounceToken),
    mail: {
      from: { name: `${displayNameText(organizerName)} via ${via}`, address: group?.inboxAddress ?? config.fromAddress },
      replyTo: replyAddress,
      to: { name: displayNameText(recipient.name ?? ""), address: delivery.toAddress },
      subject: headerText(`${cancelled ? "Cancelled" : appointment.sequence > 0 ? "Updated invitation" : "Invitation"}: ${conversation.subject}`),
      date: new Date(appointment.updatedAt),
      headers: { "Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All" },
      text,
      html: htmlDocument(text.trim().split("\n\n").map((section) => paragraphs(section) || `<p>${escapeHtml(section)}</p>`).join("\n")),
      // Both the text/calendar; method=... alternative and the invite.ics file.
      calendar: { method, filename: "invite.ics", content: ics },
    },
  };
}

interface AppointmentText {
  readonly appointment: Appointment;
  readonly subject: string;
  readonly organizer: string;
  readonly replyAddress: string;
  readonly cancelled: boolean;
}

/** What a person reads when their client does not show the calendar part. */
export function appointmentText(input: AppointmentText): string {
  const { appointment } = input;
  const who = displayNameText(input.organizer) || "Someone";
  const what = `"${input.subject.replace(/\s+/g, " ").trim()}"`;
  const sections = input.cancelled
    ? [`${who} cancelled the appointment ${what} that was set for ${when(appointment)}.`]
    : [
        `${who} ${appointment.sequence > 0 ? "moved" : "scheduled"} the appointment ${what}.`,
        [`When: ${when(appointment)}`, appointment.location ? `Where: ${appointment.location.replace(/\s+/g, " ")}` : ""].filter(Boolean).join("\n"),
        "To answer, use the Accept, Tentative or Decline buttons your calendar shows for the attached invitation (invite.ics); your answer reaches the organiser and is not posted to the conversation.",
      ];
  sections.push(`To write to the conversation's participants, reply to ${input.replyAddress}.`);
  return `${sections.join("\n\n")}\n`;
}

function when(appointment: Pick<Appointment, "startAt" | "endAt" | "timezone">): string {
  return timeText(appointment, appointment.startAt, appointment.endAt);
}
