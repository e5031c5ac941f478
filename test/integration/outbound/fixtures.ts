import { eq } from "drizzle-orm";
import type { Db } from "../../../src/db/database.js";
import { newToken } from "../../../src/domain/tokens.js";
import { queueDeliveries } from "../../../src/outbound/outbox.repo.js";
import {
  attachments, conversations, deliveries, groups, inboundMessages, participants, posts, users,
  type Conversation, type Delivery, type Participant, type Post, type User,
} from "../../../schema/schema.js";

/**
 * Rows inserted directly, as the domain would have committed them: the outbound side only ever
 * reads them, so its tests do not depend on the domain services.
 */
export const T0 = Date.UTC(2025, 0, 15, 9, 30, 0);
export const DOMAIN = "example.test";

export function addUser(db: Db, email: string, name: string | null = null): User {
  return db.insert(users).values({ email, name, status: "active", createdAt: T0 }).returning().get();
}

export function addGroup(db: Db, name: string, inboxAddress: string): { id: number } {
  return db.insert(groups).values({ name, inboxAddress, createdAt: T0 }).returning({ id: groups.id }).get();
}

export function addConversation(db: Db, values: { subject: string; createdById: number; groupId?: number }): Conversation {
  return db
    .insert(conversations)
    .values({
      subject: values.subject,
      kind: values.groupId ? "inbox" : "direct",
      state: "open",
      groupId: values.groupId ?? null,
      createdById: values.createdById,
      createdAt: T0,
      updatedAt: T0,
    })
    .returning()
    .get();
}

export function addParticipant(db: Db, conversationId: number, userId: number, state: Participant["state"] = "active"): Participant {
  return db
    .insert(participants)
    .values({ conversationId, userId, state, replyToken: newToken(), leaveToken: newToken(), joinedAt: T0 })
    .returning()
    .get();
}

export function addPost(
  db: Db,
  values: { conversationId: number; authorId: number; body: string; parentId?: number; createdAt?: number; state?: Post["state"] },
): Post {
  return db
    .insert(posts)
    .values({
      conversationId: values.conversationId,
      authorId: values.authorId,
      body: values.body,
      rawBody: values.body,
      parentId: values.parentId ?? null,
      state: values.state ?? "sent",
      messageId: `<postern.${newToken()}@${DOMAIN}>`,
      createdAt: values.createdAt ?? T0,
    })
    .returning()
    .get();
}

export function addAttachment(
  db: Db,
  values: { postId: number; filename: string; contentType: string; content: Buffer; contentId?: string; inline?: boolean },
): void {
  db.insert(attachments)
    .values({
      postId: values.postId,
      filename: values.filename,
      contentType: values.contentType,
      contentId: values.contentId ?? null,
      inline: values.inline ?? false,
      size: values.content.length,
      content: values.content,
    })
    .run();
}

export function queuePostDelivery(db: Db, post: Post, recipient: User, now = T0): Delivery {
  const [delivery] = queueDeliveries(
    db,
    [{ kind: "post", postId: post.id, conversationId: post.conversationId, recipientId: recipient.id, toAddress: recipient.email }],
    now,
  );
  return delivery!;
}

export function queueForwardDelivery(db: Db, admin: User, raw: Buffer, subject: string | null, now = T0): Delivery {
  const inbound = db
    .insert(inboundMessages)
    .values({
      receivedAt: now,
      mailFrom: "someone@elsewhere.test",
      rcptTo: [`postmaster@${DOMAIN}`],
      fromAddress: "someone@elsewhere.test",
      messageId: "<abc@elsewhere.test>",
      subject,
      outcome: "accepted",
      reason: "forwarded to admins",
      smtpCode: 250,
      size: raw.length,
      raw,
    })
    .returning({ id: inboundMessages.id })
    .get();
  const [delivery] = queueDeliveries(db, [{ kind: "forward", inboundId: inbound.id, recipientId: admin.id, toAddress: admin.email }], now);
  return delivery!;
}

export function getDelivery(db: Db, id: number): Delivery {
  const row = db.select().from(deliveries).where(eq(deliveries.id, id)).get();
  if (!row) throw new Error(`delivery ${id} not found`);
  return row;
}

export interface DirectConversation {
  readonly alice: User;
  readonly bob: User;
  readonly conversation: Conversation;
  readonly aliceParticipant: Participant;
  readonly bobParticipant: Participant;
  readonly post: Post;
  /** Alice's first post queued for Bob. */
  readonly delivery: Delivery;
}

/** Alice writes to Bob: the smallest conversation with one queued delivery. */
export function seedDirectConversation(db: Db, options: { subject?: string; body?: string } = {}): DirectConversation {
  const alice = addUser(db, "alice@elsewhere.test", "Alice Example");
  const bob = addUser(db, "bob@elsewhere.test", "Bob Builder");
  const conversation = addConversation(db, { subject: options.subject ?? "Lunch on Friday?", createdById: alice.id });
  const aliceParticipant = addParticipant(db, conversation.id, alice.id);
  const bobParticipant = addParticipant(db, conversation.id, bob.id);
  const post = addPost(db, { conversationId: conversation.id, authorId: alice.id, body: options.body ?? "Shall we meet at noon?" });
  const delivery = queuePostDelivery(db, post, bob);
  return { alice, bob, conversation, aliceParticipant, bobParticipant, post, delivery };
}
