import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint, boolean, customType, doublePrecision, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex,
} from "drizzle-orm/pg-core";

/**
 * The PostgreSQL twin of `schema.ts`: the same tables, columns, property names, defaults, keys and
 * indexes, so both engines return the same rows (`$inferSelect` is identical, see
 * test/db/records-match-schema.ts) and test/db/schema-parity.test.ts fails when the two drift.
 * A change to one is a change to both: `npm run db:generate` and `npm run db:generate:pg`.
 *
 * Types:
 * - ids are `integer ... GENERATED ALWAYS AS IDENTITY`: the standard form of SQLite's
 *   AUTOINCREMENT, the sequence owned by the column, and an explicit id refused (it would
 *   leave the sequence behind the rows); a copy from SQLite must say OVERRIDING SYSTEM VALUE
 *   and then setval the sequence.
 * - timestamps are milliseconds since the epoch in `bigint` (read as a JS number, exact to 2^53).
 * - booleans are `boolean`; `real` is `double precision` (SQLite's REAL is an 8-byte float).
 * - blobs are `bytea`, read and written as Buffer; `rcpt_to` is `jsonb` holding a string[].
 * - enums are `text` checked by the application, as on SQLite (no CHECK, no PG enum type).
 */

/** Milliseconds since the epoch; every timestamp column uses this. */
const millis = (name: string) => bigint(name, { mode: "number" });

/** Binary content as a Buffer, like SQLite's `blob({ mode: "buffer" })`. */
const bytea = customType<{ data: Buffer; driverData: Uint8Array | string }>({
  dataType: () => "bytea",
  toDriver: (value) => value,
  fromDriver: (value) => {
    if (Buffer.isBuffer(value)) return value;
    if (typeof value === "string") {
      // A driver that hands bytea back as text uses the hex output format: \x0a1b...
      return value.startsWith("\\x") ? Buffer.from(value.slice(2), "hex") : Buffer.from(value, "binary");
    }
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  },
});

export const users = pgTable("users", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  email: text("email").notNull().unique(),
  name: text("name"),
  username: text("username").unique(),
  status: text("status", { enum: ["staged", "active", "suspended"] }).notNull().default("staged"),
  role: text("role", { enum: ["member", "staff", "admin"] }).notNull().default("member"),
  invitedById: integer("invited_by_id").references((): AnyPgColumn => users.id),
  delivery: text("delivery", { enum: ["every", "digest", "none"] }).notNull().default("every"),
  messagesEnabled: boolean("messages_enabled").notNull().default(true),
  lastActiveAt: millis("last_active_at"),
  bounceScore: doublePrecision("bounce_score").notNull().default(0),
  /** When the last bounce counted towards bounceScore: older than [bounces] decay_after, the score starts again from 0. */
  lastBounceAt: millis("last_bounce_at"),
  /** Since when mail to this address is stopped: bounceScore reached [bounces] threshold. Null while mail flows. */
  bouncingSince: millis("bouncing_since"),
  createdAt: millis("created_at").notNull(),
});

export const groups = pgTable("groups", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  name: text("name").notNull().unique(),
  inboxAddress: text("inbox_address").notNull().unique(),
  /** When a conversation is assigned, whether only the assignee keeps receiving copies. */
  assigneeOnly: boolean("assignee_only").notNull().default(false),
  createdAt: millis("created_at").notNull(),
});

export const groupMembers = pgTable(
  "group_members",
  {
    groupId: integer("group_id").notNull().references(() => groups.id, { onDelete: "cascade" }),
    userId: integer("user_id").notNull().references(() => users.id),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.userId] })],
);

export const conversations = pgTable(
  "conversations",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    subject: text("subject").notNull(),
    kind: text("kind", { enum: ["direct", "group", "inbox"] }).notNull(),
    state: text("state", { enum: ["draft", "pending", "open", "declined", "closed"] }).notNull(),
    replies: text("replies", { enum: ["all", "owners"] }).notNull().default("all"),
    groupId: integer("group_id").references(() => groups.id),
    createdById: integer("created_by_id").notNull().references(() => users.id),
    assigneeId: integer("assignee_id").references(() => users.id),
    /** Outlook's Thread-Index root (22 bytes, base64): the first message's own when it had one, so its author's Outlook threads our copies. */
    threadIndex: text("thread_index"),
    createdAt: millis("created_at").notNull(),
    updatedAt: millis("updated_at").notNull(),
  },
  (t) => [index("conversations_group_idx").on(t.groupId)],
);

export const participants = pgTable(
  "participants",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    conversationId: integer("conversation_id").notNull().references(() => conversations.id),
    userId: integer("user_id").notNull().references(() => users.id),
    role: text("role", { enum: ["owner", "member"] }).notNull().default("member"),
    state: text("state", { enum: ["invited", "active", "left", "removed"] }).notNull().default("active"),
    /** reply+TOKEN@: 128+ random bits in a lowercase alphabet, since MTAs may lowercase local parts. */
    replyToken: text("reply_token").notNull().unique(),
    leaveToken: text("leave_token").notNull().unique(),
    addedById: integer("added_by_id").references(() => users.id),
    /** Highest post id this participant has seen (emailed, posted after, or marked read). */
    lastReadPostId: integer("last_read_post_id").notNull().default(0),
    /** This conversation's delivery mode (every+/digest+/mute+ TOKEN@); null follows the user's preference. */
    delivery: text("delivery", { enum: ["every", "digest", "mute"] }),
    joinedAt: millis("joined_at").notNull(),
    leftAt: millis("left_at"),
  },
  (t) => [
    uniqueIndex("participants_conversation_user_idx").on(t.conversationId, t.userId),
    index("participants_user_idx").on(t.userId),
    // Counting a conversation's present participants (every line of a listing) from the index alone.
    index("participants_conversation_state_idx").on(t.conversationId, t.state),
  ],
);

export const inboundMessages = pgTable(
  "inbound_messages",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    receivedAt: millis("received_at").notNull(),
    sessionId: text("session_id"),
    remoteAddress: text("remote_address"),
    mailFrom: text("mail_from"),
    rcptTo: jsonb("rcpt_to").$type<string[]>().notNull(),
    fromAddress: text("from_address"),
    messageId: text("message_id"),
    /**
     * The sender and Message-ID (or a digest of the bytes): one message arriving again, or at
     * several gateway addresses, finds its first arrival here and has its outcome only once.
     * Cleared on refusal, so a message refused once is judged afresh when it is sent again.
     */
    dedupeKey: text("dedupe_key"),
    subject: text("subject"),
    outcome: text("outcome", { enum: ["accepted", "rejected", "ignored", "bounce", "duplicate"] }).notNull(),
    reason: text("reason").notNull(),
    smtpCode: integer("smtp_code").notNull(),
    conversationId: integer("conversation_id").references(() => conversations.id),
    postId: integer("post_id"),
    size: integer("size").notNull(),
    raw: bytea("raw"),
    /** SPF/DKIM/DMARC verdicts (SPEC §3), one summary line; null when [auth] mode is off or before parsing. */
    authResults: text("auth_results"),
  },
  (t) => [
    index("inbound_messages_message_id_idx").on(t.messageId),
    uniqueIndex("inbound_messages_dedupe_key_idx").on(t.dedupeKey),
    index("inbound_messages_outcome_idx").on(t.outcome),
  ],
);

export const posts = pgTable(
  "posts",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    conversationId: integer("conversation_id").notNull().references(() => conversations.id),
    authorId: integer("author_id").notNull().references(() => users.id),
    parentId: integer("parent_id"),
    state: text("state", { enum: ["draft", "sent"] }).notNull().default("sent"),
    /** The reply as re-sent: quotes and signature trimmed. */
    body: text("body").notNull(),
    /** The text as the author wrote it, before trimming. */
    rawBody: text("raw_body").notNull(),
    /** Message-ID Postern gives this post's copies, the same for every recipient. */
    messageId: text("message_id").notNull().unique(),
    /** Message-ID of the inbound email that made this post: replies quoting it find the conversation. */
    sourceMessageId: text("source_message_id"),
    inboundId: integer("inbound_id").references(() => inboundMessages.id),
    /** An internal note (note+TOKEN@): only the group's members receive or see it, never the outside person. */
    note: boolean("note").notNull().default(false),
    /** The author's formatting: their HTML part, trimmed like the text and sanitized; null for plain-text posts. */
    html: text("html"),
    createdAt: millis("created_at").notNull(),
    sentAt: millis("sent_at"),
  },
  (t) => [
    // A conversation's posts in order (threading, `conversations show`), on both engines. The
    // columns after id are what the visibility rule and the listing look at: counting what one
    // participant can see or has not read (`conversations list --user`) and listing a long
    // conversation read the index alone, never each post's row and text.
    index("posts_conversation_idx").on(t.conversationId, t.id, t.state, t.authorId, t.note, t.sentAt, t.createdAt),
    index("posts_source_message_id_idx").on(t.sourceMessageId),
  ],
);

/**
 * A conversation's sent posts counted as they are sent, kept by triggers on posts (custom
 * migration conversation_counts_kept): a listing of thousands of conversations reads one row
 * each instead of counting every conversation's posts. Sent posts are never changed or deleted,
 * so the counts only grow. No row: no post sent yet.
 */
export const conversationCounts = pgTable(
  "conversation_counts",
  {
    conversationId: integer("conversation_id")
      .notNull()
      .references(() => conversations.id, { onDelete: "cascade" }),
    /** Sent posts, internal notes included. */
    sentPosts: integer("sent_posts").notNull().default(0),
    /** Sent internal notes among them. */
    sentNotes: integer("sent_notes").notNull().default(0),
    /** The highest id among them: a participant who has read up to it has nothing unread. */
    lastSentPostId: integer("last_sent_post_id").notNull().default(0),
  },
  // Declared as the table's key, not the column's: the conversation's id, never one of its own.
  (t) => [primaryKey({ columns: [t.conversationId] })],
);

export const attachments = pgTable(
  "attachments",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    postId: integer("post_id").notNull().references(() => posts.id),
    filename: text("filename"),
    contentType: text("content_type").notNull(),
    contentId: text("content_id"),
    inline: boolean("inline").notNull().default(false),
    size: integer("size").notNull(),
    content: bytea("content").notNull(),
  },
  (t) => [index("attachments_post_idx").on(t.postId)],
);

/**
 * System mail about a conversation (invitations, answers to them, who joined or left, catch-up):
 * one row per event, one delivery per recipient. What it says is rendered when it is sent.
 */
export const notices = pgTable(
  "notices",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    kind: text("kind", { enum: ["invitation", "accepted", "declined", "expired", "joined", "left", "removed", "catch_up", "delivery_mode", "rsvp", "undelivered"] }).notNull(),
    conversationId: integer("conversation_id").notNull().references(() => conversations.id),
    /** The person the notice is about: the invitee, who joined, who left. */
    userId: integer("user_id").notNull().references(() => users.id),
    /** Who did it, when someone else did: who added or removed them. */
    byId: integer("by_id").references(() => users.id),
    /** The last post the notice covers: the invitation's first message, the end of a catch-up. */
    postId: integer("post_id").references(() => posts.id),
    /** Catch-up only: how many posts it carries, most recent last; null for all of them. */
    history: integer("history"),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [
    index("notices_conversation_idx").on(t.conversationId),
    // A post's author hears once that a copy could not be delivered, however many copies failed on however many nodes.
    uniqueIndex("notices_undelivered_once_idx").on(t.postId).where(sql`kind = 'undelivered'`),
  ],
);

/** One user's digest of one window (SPEC §6): a window is made once, whichever node gets there first. */
export const digests = pgTable(
  "digests",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    userId: integer("user_id").notNull().references(() => users.id),
    /** Start of the digest window (milliseconds), the key that keeps a restart from repeating one. */
    windowStart: millis("window_start").notNull(),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [uniqueIndex("digests_user_window_idx").on(t.userId, t.windowStart)],
);

/** The posts one digest carries; they count as read for its user from then on. */
export const digestPosts = pgTable(
  "digest_posts",
  {
    digestId: integer("digest_id").notNull().references(() => digests.id),
    postId: integer("post_id").notNull().references(() => posts.id),
  },
  (t) => [primaryKey({ columns: [t.digestId, t.postId] })],
);

/** A conversation's appointment (SPEC §5): one per conversation, its iCalendar UID stable across reschedules. */
export const appointments = pgTable(
  "appointments",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    conversationId: integer("conversation_id").notNull().unique().references(() => conversations.id),
    uid: text("uid").notNull().unique(),
    organizerId: integer("organizer_id").notNull().references(() => users.id),
    startAt: millis("start_at").notNull(),
    endAt: millis("end_at").notNull(),
    /** IANA zone the times were given in (VTIMEZONE); null for UTC. */
    timezone: text("timezone"),
    location: text("location"),
    /** iCalendar SEQUENCE: raised by every reschedule and by the cancellation. */
    sequence: integer("sequence").notNull().default(0),
    state: text("state", { enum: ["scheduled", "cancelled"] }).notNull().default("scheduled"),
    createdAt: millis("created_at").notNull(),
    updatedAt: millis("updated_at").notNull(),
  },
);

/** A participant's calendar answer (iMIP REPLY or COUNTER) to an appointment. */
export const rsvps = pgTable(
  "rsvps",
  {
    appointmentId: integer("appointment_id").notNull().references(() => appointments.id),
    userId: integer("user_id").notNull().references(() => users.id),
    partstat: text("partstat", { enum: ["needs-action", "accepted", "declined", "tentative"] }).notNull(),
    /** A COUNTER's proposed times, shown to the organiser; null when none. */
    counterStartAt: millis("counter_start_at"),
    counterEndAt: millis("counter_end_at"),
    comment: text("comment"),
    /** The SEQUENCE the answer was given to. */
    sequence: integer("sequence").notNull(),
    updatedAt: millis("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.appointmentId, t.userId] })],
);

/** The durable outbox: one row per (post, recipient), or one per system email. */
export const deliveries = pgTable(
  "deliveries",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    kind: text("kind", { enum: ["post", "forward", "notice", "digest", "appointment"] }).notNull(),
    postId: integer("post_id").references(() => posts.id),
    inboundId: integer("inbound_id").references(() => inboundMessages.id),
    noticeId: integer("notice_id").references(() => notices.id),
    digestId: integer("digest_id").references(() => digests.id),
    appointmentId: integer("appointment_id").references(() => appointments.id),
    conversationId: integer("conversation_id").references(() => conversations.id),
    recipientId: integer("recipient_id").notNull().references(() => users.id),
    toAddress: text("to_address").notNull(),
    /** bounce+TOKEN@: the VERP envelope sender of this one delivery. */
    bounceToken: text("bounce_token").notNull().unique(),
    status: text("status", { enum: ["queued", "sending", "sent", "skipped", "failed", "bounced"] }).notNull().default("queued"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: millis("next_attempt_at").notNull(),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: millis("lease_expires_at"),
    lastError: text("last_error"),
    /** What kind of problem the last error was (recipient, mailbox_full, policy, network, configuration). */
    errorCategory: text("error_category"),
    createdAt: millis("created_at").notNull(),
    sentAt: millis("sent_at"),
    bouncedAt: millis("bounced_at"),
  },
  (t) => [
    uniqueIndex("deliveries_post_recipient_idx").on(t.postId, t.recipientId).where(sql`${t.postId} IS NOT NULL`),
    index("deliveries_due_idx").on(t.status, t.nextAttemptAt),
    index("deliveries_recipient_sent_idx").on(t.recipientId, t.sentAt),
    // Copies to one person in flight right now (the daily limit): found among few rows however many were sent before.
    index("deliveries_recipient_status_idx").on(t.recipientId, t.status),
    uniqueIndex("deliveries_notice_recipient_idx").on(t.noticeId, t.recipientId).where(sql`${t.noticeId} IS NOT NULL`),
    uniqueIndex("deliveries_digest_idx").on(t.digestId).where(sql`${t.digestId} IS NOT NULL`),
  ],
);
