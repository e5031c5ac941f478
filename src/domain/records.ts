/**
 * The domain's records: what a row means, independent of the engine that stores it. Repositories
 * return these; `src/db/records-match-schema.ts` fails to compile if the schema drifts from them.
 */

export type UserStatus = "staged" | "active" | "suspended";
export type Role = "member" | "staff" | "admin";
export type DeliveryPreference = "every" | "digest" | "none";

export interface User {
  readonly id: number;
  readonly email: string;
  readonly name: string | null;
  readonly username: string | null;
  readonly status: UserStatus;
  readonly role: Role;
  readonly invitedById: number | null;
  readonly delivery: DeliveryPreference;
  readonly messagesEnabled: boolean;
  readonly lastActiveAt: number | null;
  readonly bounceScore: number;
  /** When the last bounce counted towards bounceScore. */
  readonly lastBounceAt: number | null;
  /** Since when mail to this address is stopped because it kept bouncing; null while mail flows. */
  readonly bouncingSince: number | null;
  readonly createdAt: number;
}

export interface Group {
  readonly id: number;
  readonly name: string;
  readonly inboxAddress: string;
  readonly assigneeOnly: boolean;
  readonly createdAt: number;
}

export type ConversationKind = "direct" | "group" | "inbox";
export type ConversationState = "draft" | "pending" | "open" | "declined" | "closed";
export type ReplyPolicy = "all" | "owners";

export interface Conversation {
  readonly id: number;
  readonly subject: string;
  readonly kind: ConversationKind;
  readonly state: ConversationState;
  readonly replies: ReplyPolicy;
  readonly groupId: number | null;
  readonly createdById: number;
  readonly assigneeId: number | null;
  /** Outlook's Thread-Index root, base64 of 22 bytes; null for conversations from before it was kept. */
  readonly threadIndex: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type ParticipantRole = "owner" | "member";
/** A participant's delivery mode for one conversation: mute sends nothing, not even in a digest. */
export type ConversationDelivery = "every" | "digest" | "mute";
export type ParticipantState = "invited" | "active" | "left" | "removed";

export interface Participant {
  readonly id: number;
  readonly conversationId: number;
  readonly userId: number;
  readonly role: ParticipantRole;
  readonly state: ParticipantState;
  readonly replyToken: string;
  readonly leaveToken: string;
  readonly addedById: number | null;
  readonly lastReadPostId: number;
  /** This conversation's delivery mode; null follows the user's preference. */
  readonly delivery: ConversationDelivery | null;
  readonly joinedAt: number;
  readonly leftAt: number | null;
}

export type PostState = "draft" | "sent";

export interface Post {
  readonly id: number;
  readonly conversationId: number;
  readonly authorId: number;
  readonly parentId: number | null;
  readonly state: PostState;
  readonly body: string;
  readonly rawBody: string;
  readonly messageId: string;
  readonly sourceMessageId: string | null;
  readonly inboundId: number | null;
  /** An internal note: only the group's members receive or see it. */
  readonly note: boolean;
  /** The author's formatting (sanitized, trimmed HTML), or null for a plain-text post. */
  readonly html: string | null;
  readonly createdAt: number;
  readonly sentAt: number | null;
}

export interface Attachment {
  readonly id: number;
  readonly postId: number;
  readonly filename: string | null;
  readonly contentType: string;
  readonly contentId: string | null;
  readonly inline: boolean;
  readonly size: number;
  readonly content: Buffer;
}

export type DeliveryKind = "post" | "forward" | "notice" | "digest" | "appointment";
export type DeliveryStatus = "queued" | "sending" | "sent" | "skipped" | "failed" | "bounced";

export interface Delivery {
  readonly id: number;
  readonly kind: DeliveryKind;
  readonly postId: number | null;
  readonly inboundId: number | null;
  readonly noticeId: number | null;
  readonly digestId: number | null;
  readonly appointmentId: number | null;
  readonly conversationId: number | null;
  readonly recipientId: number;
  readonly toAddress: string;
  readonly bounceToken: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly lastError: string | null;
  readonly errorCategory: string | null;
  readonly createdAt: number;
  readonly sentAt: number | null;
  readonly bouncedAt: number | null;
}

export type NoticeKind =
  | "invitation"
  | "accepted"
  | "declined"
  | "expired"
  | "joined"
  | "left"
  | "removed"
  | "catch_up"
  /** Confirms a participant's every+/digest+/mute+ change. */
  | "delivery_mode"
  /** Tells the organiser how a participant answered an appointment. */
  | "rsvp"
  /** Tells a post's author that a copy of it could not be delivered and why (too large for the relay). */
  | "undelivered";

/** System mail about a conversation; one delivery per recipient carries it. */
export interface Notice {
  readonly id: number;
  readonly kind: NoticeKind;
  readonly conversationId: number;
  /** The person it is about: the invitee, who joined, who left. */
  readonly userId: number;
  /** Who did it, when someone else did. */
  readonly byId: number | null;
  /** The last post it covers. */
  readonly postId: number | null;
  /** Catch-up: how many posts, most recent last; null for all. */
  readonly history: number | null;
  readonly createdAt: number;
}

/** One user's digest of one window. */
export interface Digest {
  readonly id: number;
  readonly userId: number;
  readonly windowStart: number;
  readonly createdAt: number;
}

export type AppointmentState = "scheduled" | "cancelled";

export interface Appointment {
  readonly id: number;
  readonly conversationId: number;
  /** iCalendar UID, the same across reschedules. */
  readonly uid: string;
  readonly organizerId: number;
  readonly startAt: number;
  readonly endAt: number;
  readonly timezone: string | null;
  readonly location: string | null;
  readonly sequence: number;
  readonly state: AppointmentState;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type Partstat = "needs-action" | "accepted" | "declined" | "tentative";

/** A participant's answer to an appointment. */
export interface Rsvp {
  readonly appointmentId: number;
  readonly userId: number;
  readonly partstat: Partstat;
  readonly counterStartAt: number | null;
  readonly counterEndAt: number | null;
  readonly comment: string | null;
  readonly sequence: number;
  readonly updatedAt: number;
}

export type MailLogOutcome = "accepted" | "rejected" | "ignored" | "bounce" | "duplicate";

/** One inbound message (or refused recipient) in the mail log. */
export interface MailLogEntry {
  readonly id: number;
  readonly receivedAt: number;
  readonly sessionId: string | null;
  readonly remoteAddress: string | null;
  readonly mailFrom: string | null;
  readonly rcptTo: string[];
  readonly fromAddress: string | null;
  readonly messageId: string | null;
  readonly dedupeKey: string | null;
  readonly subject: string | null;
  readonly outcome: MailLogOutcome;
  readonly reason: string;
  readonly smtpCode: number;
  readonly conversationId: number | null;
  readonly postId: number | null;
  readonly size: number;
  readonly raw: Buffer | null;
  /** SPF/DKIM/DMARC summary line; null when not authenticated ([auth] mode off, or refused before parsing). */
  readonly authResults: string | null;
}
