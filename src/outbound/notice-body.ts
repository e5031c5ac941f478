import type { EffectiveDelivery } from "../domain/delivery-modes.service.js";
import type { NoticeKind } from "../domain/records.js";
import { escapeHtml, htmlDocument, linkedParagraphs, type BodyParts } from "./message-body.js";
import { capText, displayNameText, flattenText, MAX_FOOTER_SUBJECT_LENGTH, MAX_VIA_LENGTH } from "./user-text.js";

/** One earlier post as a catch-up shows it: who wrote it, when, and what they wrote. */
export interface CatchUpPost {
  readonly author: string;
  readonly at: Date;
  readonly body: string;
  readonly note: boolean;
  readonly attachments: number;
}

/**
 * What a notice says. Names and subjects are user text: flattened and capped, so none can start
 * a line of its own and pass for one of Postern's sentences.
 */
export interface NoticeBodyInput {
  readonly kind: NoticeKind;
  readonly subject: string;
  /** The group's name for an inbox conversation, else the site name. */
  readonly via: string;
  /** The person the notice is about. */
  readonly about: string;
  /** Who did it: the initiator of an invitation, who added or removed someone. */
  readonly by: string | null;
  /** Invitation: its first message, and the addresses that answer it. */
  readonly firstMessage?: string;
  readonly acceptAddress?: string;
  readonly declineAddress?: string;
  readonly expiresAt?: Date;
  /** Catch-up: the posts it carries, oldest first, and how many the conversation had. */
  readonly posts?: readonly CatchUpPost[];
  readonly totalPosts?: number;
  /** Declined, expired: the conversation goes on with others (a group), so it is not closed. */
  readonly goesOn?: boolean;
  /** Delivery mode confirmation: how the recipient receives the conversation now. */
  readonly mode?: EffectiveDelivery;
  /** RSVP (to the organiser): how the participant answered the appointment, and what it is. */
  readonly rsvp?: RsvpSummary;
  /** Where the recipient leaves, when they take part. */
  readonly leaveAddress?: string;
}

/** One participant's answer to an appointment, as its organiser is told. */
export interface RsvpSummary {
  readonly answer: "accepted" | "declined" | "tentative" | "needs-action";
  /** The appointment's time as a person reads it. */
  readonly when: string;
  /** A COUNTER's proposed time as a person reads it. */
  readonly proposed?: string;
  readonly comment?: string | null;
}

const RSVP_PHRASES: Record<RsvpSummary["answer"], string> = {
  accepted: "accepted",
  declined: "declined",
  tentative: "tentatively accepted",
  "needs-action": "has not decided on",
};

const MODE_PHRASES: Record<EffectiveDelivery, string> = {
  every: "one email per message",
  digest: "part of your digest of unread messages",
  mute: "nothing: it is muted, and a digest only counts its unread messages",
  none: "nothing: you chose to receive no email",
};

export function noticeBody(input: NoticeBodyInput): BodyParts {
  const subject = `"${capText(flattenText(input.subject), MAX_FOOTER_SUBJECT_LENGTH)}"`;
  const via = displayNameText(input.via, MAX_VIA_LENGTH);
  const about = displayNameText(input.about) || "Someone";
  const by = input.by === null ? null : displayNameText(input.by) || "Someone";
  const sections: string[] = [];
  const replyHint = "Reply to this email to answer in the conversation; your reply goes to its participants.";
  switch (input.kind) {
    case "invitation": {
      sections.push(`${by ?? "Someone"} would like to start a conversation with you on ${via}: ${subject}.`);
      sections.push(`Their message:\n\n${(input.firstMessage ?? "").trim() || "(no text)"}`);
      sections.push(
        [
          "To accept, reply to this email: your reply becomes your first message in the conversation, and you receive what they write.",
          `To accept without writing anything yet, send an email to ${input.acceptAddress}.`,
          `To decline, send an email to ${input.declineAddress}; ${by ?? "they"} will be told that you declined.`,
          input.expiresAt ? `If you do not answer by ${input.expiresAt.toUTCString()}, the invitation expires.` : "",
        ]
          .filter(Boolean)
          .join("\n"),
      );
      break;
    }
    case "accepted":
      sections.push(`${about} accepted your invitation to the conversation ${subject}; what you wrote so far has been delivered to them.`);
      sections.push(replyHint);
      break;
    case "declined":
      sections.push(`${about} declined your invitation to the conversation ${subject}. What you wrote was not delivered to them${input.goesOn ? "." : ", and the conversation is closed."}`);
      break;
    case "expired":
      sections.push(`${about} did not answer your invitation to the conversation ${subject} in time, so it has expired. What you wrote was not delivered to them${input.goesOn ? "." : ", and the conversation is closed."}`);
      break;
    case "joined":
      sections.push(`${about} joined the conversation ${subject}${by ? `, added by ${by}` : ""}, and receives its messages from now on.`);
      sections.push(replyHint);
      break;
    case "left":
      sections.push(`You have left the conversation ${subject} and will receive no more of its messages.`);
      break;
    case "removed":
      sections.push(`${by ?? "Someone"} removed you from the conversation ${subject}; you will receive no more of its messages, and your replies to it are no longer accepted.`);
      break;
    case "delivery_mode":
      sections.push(`From now on you receive conversation ${subject} as ${MODE_PHRASES[input.mode ?? "every"]}.`);
      break;
    case "rsvp": {
      const rsvp = input.rsvp;
      if (!rsvp) break;
      sections.push(
        rsvp.proposed
          ? `${about} proposes a new time for ${subject}: ${rsvp.proposed}, instead of ${rsvp.when}.`
          : `${about} ${RSVP_PHRASES[rsvp.answer]} ${subject} on ${rsvp.when}.`,
      );
      if (rsvp.comment) sections.push(`Their comment: ${capText(flattenText(rsvp.comment), MAX_FOOTER_SUBJECT_LENGTH)}`);
      break;
    }
    case "undelivered":
      sections.push(
        `Your message in the conversation ${subject} could not be delivered to ${about}: it is larger than their mail system accepts, so it will not be tried again. ` +
          "The others received it. To reach them, send the large files as a link, or fewer attachments at a time.",
      );
      break;
    case "catch_up": {
      const posts = input.posts ?? [];
      const total = input.totalPosts ?? posts.length;
      const shown = posts.length === total ? `${total} ${total === 1 ? "message" : "messages"}` : `the last ${posts.length} of its ${total} messages`;
      sections.push(`${by ? `${by} added you` : "You were added"} to the conversation ${subject} (${via}). Here is the conversation so far, ${shown}, oldest first.`);
      for (const post of posts) {
        const extra = [post.note ? "internal note" : "", post.attachments ? `${post.attachments} ${post.attachments === 1 ? "attachment" : "attachments"} not repeated here` : ""]
          .filter(Boolean)
          .join("; ");
        sections.push(`----- ${displayNameText(post.author) || "Someone"}, ${post.at.toUTCString()}${extra ? ` (${extra})` : ""} -----\n${post.body.trim()}`);
      }
      sections.push(replyHint);
      break;
    }
  }
  if (input.leaveAddress) sections.push(`To leave the conversation, send an email to ${input.leaveAddress}.`);
  const text = `${sections.join("\n\n")}\n`;
  // Addresses in the posts it carries and in its own sentences (accept+, decline+, leave+) become links.
  return { text, html: htmlDocument(sections.map((section) => linkedParagraphs(section) || `<p>${escapeHtml(section)}</p>`).join("\n")) };
}
