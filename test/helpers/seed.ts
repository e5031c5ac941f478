import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import type { DomainContext } from "../../src/domain/context.js";
import { findDelivery, queueDeliveries } from "../../src/domain/deliveries.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { insertMailLogEntry } from "../../src/domain/mail-log.repo.js";
import { createPost, publishPost, type AttachmentInput } from "../../src/domain/posts.service.js";
import type { Conversation, Delivery, Group, Participant, Post, Role, User } from "../../src/domain/records.js";
import { addUser } from "../../src/domain/users.service.js";
import type { TestStore } from "./database.js";

/**
 * Test data made the way Postern makes it: through the domain services, in one transaction each,
 * at a fixed clock. Nothing here inserts rows behind the services' backs.
 */
export const T0 = Date.UTC(2025, 0, 15, 9, 30, 0);
export const DOMAIN = "example.test";

export function seedUser(t: TestStore, email: string, name: string | null = null, role: Role = "member"): Promise<User> {
  return t.write((ctx) => addUser(ctx, { email, role, ...(name ? { name } : {}) }), T0);
}

export async function seedGroup(t: TestStore, name: string, inbox: string, members: readonly User[] = []): Promise<Group> {
  return t.write(async (ctx) => {
    const group = await addGroup(ctx, { name, inbox });
    for (const member of members) await addGroupMember(ctx, name, member.email);
    return group;
  }, T0);
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
export async function seedDirectConversation(t: TestStore, options: { subject?: string; body?: string; now?: number } = {}): Promise<DirectConversation> {
  const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  return t.write(async (ctx) => {
    const { conversation, post } = await createConversation(ctx, {
      from: alice.email,
      to: [bob.email],
      subject: options.subject ?? "Lunch on Friday?",
      body: options.body ?? "Shall we meet at noon?",
    });
    const aliceParticipant = await findParticipant(ctx.tx, conversation.id, alice.id);
    const bobParticipant = await findParticipant(ctx.tx, conversation.id, bob.id);
    const delivery = await deliveryOf(ctx, post.id, bob.id);
    if (!aliceParticipant || !bobParticipant) throw new Error("seeded conversation lacks its participants");
    return { alice, bob, conversation, aliceParticipant, bobParticipant, post, delivery };
  }, options.now ?? T0);
}

/** A post in an existing conversation, published as mail would publish it (copies queued for the others). */
export async function seedPost(
  t: TestStore,
  conversation: Conversation,
  author: User,
  options: { body?: string; attachments?: readonly AttachmentInput[]; parentId?: number; now?: number; publish?: boolean } = {},
): Promise<Post> {
  return t.write(async (ctx) => {
    const post = await createPost(ctx, conversation, {
      author,
      body: options.body ?? "A reply.",
      rawBody: options.body ?? "A reply.",
      ...(options.attachments ? { attachments: options.attachments } : {}),
      ...(options.parentId !== undefined ? { parentId: options.parentId } : {}),
    });
    return options.publish === false ? post : publishPost(ctx, conversation, post);
  }, options.now ?? T0);
}

/** The delivery of this post to this recipient, as fan-out queued it. */
export async function deliveryOf(ctx: DomainContext, postId: number, recipientId: number): Promise<Delivery> {
  const rows = await ctx.tx.db.query.deliveries.findMany({ where: (d, { and, eq }) => and(eq(d.postId, postId), eq(d.recipientId, recipientId)) });
  const row = rows[0];
  if (!row) throw new Error(`no delivery of post ${postId} to user ${recipientId}`);
  return row;
}

/** A message to postmaster@ in the mail log, forwarded to an admin. */
export async function seedForwardDelivery(t: TestStore, admin: User, raw: Buffer, subject: string | null, now = T0): Promise<Delivery> {
  return t.write(async ({ tx }) => {
    const inboundId = await insertMailLogEntry(tx, {
      receivedAt: now,
      sessionId: null,
      remoteAddress: null,
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
    });
    if (inboundId === undefined) throw new Error("mail log entry not inserted");
    const [delivery] = await queueDeliveries(tx, [{ kind: "forward", inboundId, recipientId: admin.id, toAddress: admin.email }], now);
    if (!delivery) throw new Error("forward delivery not queued");
    return delivery;
  }, now);
}

export async function getDelivery(t: TestStore, id: number): Promise<Delivery> {
  const row = await t.read(({ tx }) => findDelivery(tx, id));
  if (!row) throw new Error(`delivery ${id} not found`);
  return row;
}
