import { NO_CONTENT, readContent } from "../../src/inbound/content.js";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import type { DomainContext } from "../../src/domain/context.js";
import { findDelivery, findDeliveryByBounceToken, queueDeliveries, type DeliveryToQueue } from "../../src/domain/deliveries.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { insertMailLogEntry } from "../../src/domain/mail-log.repo.js";
import { createPost, publishPost, type AttachmentInput } from "../../src/domain/posts.service.js";
import { addParticipant, leaveConversation } from "../../src/domain/participants.service.js";
import { startConversation } from "../../src/domain/conversations.service.js";
import type { Conversation, Delivery, Group, Participant, Post, Role, User } from "../../src/domain/records.js";
import { addUser } from "../../src/domain/users.service.js";
import type { Tx } from "../../src/db/store.js";
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

/**
 * Seeded conversations are open at once, as with `consent.kinds = []`: most tests are about what
 * happens in a conversation, not about how it was agreed to. Pass `consent: true` for the real
 * launch (a pending conversation and invitations, SPEC §5).
 */
function launchedAs(ctx: DomainContext, consent: boolean | undefined): DomainContext {
  return consent ? ctx : { ...ctx, config: { ...ctx.config, consent: { ...ctx.config.consent, kinds: [] } } };
}

/** Alice writes to Bob: the smallest conversation with one queued delivery. */
export async function seedDirectConversation(t: TestStore, options: { subject?: string; body?: string; now?: number } = {}): Promise<DirectConversation> {
  const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  return t.write(async (ctx) => {
    const { conversation, post } = await createConversation(launchedAs(ctx, false), {
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

/** Queues deliveries (queueDeliveries answers their tokens only) and reads the rows back, in the order given. */
export async function queueAndRead(tx: Tx, rows: readonly DeliveryToQueue[], now: number): Promise<Delivery[]> {
  const tokens = await queueDeliveries(tx, rows, now);
  return Promise.all(
    tokens.map(async (token) => {
      const row = await findDeliveryByBounceToken(tx, token);
      if (!row) throw new Error(`delivery with token ${token} not found`);
      return row;
    }),
  );
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
    const [delivery] = await queueAndRead(tx, [{ kind: "forward", inboundId, recipientId: admin.id, toAddress: admin.email }], now);
    if (!delivery) throw new Error("forward delivery not queued");
    return delivery;
  }, now);
}

export async function getDelivery(t: TestStore, id: number): Promise<Delivery> {
  const row = await t.read(({ tx }) => findDelivery(tx, id));
  if (!row) throw new Error(`delivery ${id} not found`);
  return row;
}

/**
 * A conversation started by `author` with these recipients; given a group, an inbox conversation
 * (the group's members join as its owners). The first post is published, so copies are queued.
 */
export async function seedConversation(
  t: TestStore,
  author: User,
  recipients: readonly User[],
  options: { subject?: string; body?: string; group?: Group; now?: number; consent?: boolean } = {},
): Promise<{ conversation: Conversation; post: Post }> {
  const body = options.body ?? "Hello.";
  return t.write(
    (ctx) =>
      startConversation(launchedAs(ctx, options.consent), {
        kind: options.group ? "inbox" : recipients.length === 1 ? "direct" : "group",
        subject: options.subject ?? "Hello",
        author,
        recipients: recipients.map((user) => ({ candidate: user })),
        ...(options.group ? { group: options.group } : {}),
        post: { body, rawBody: body },
      }),
    options.now ?? T0,
  );
}

/**
 * A support desk in the store: the group "support" with Alice and Bob (staff), and the inbox
 * conversation "Broken widget" Carol, the outside person, opened with it.
 */
export async function seedDeskConversation(t: TestStore): Promise<{ alice: User; bob: User; carol: User; group: Group; conversation: Conversation; first: Post }> {
  const alice = await seedUser(t, "alice@team.test", "Alice Agent", "staff");
  const bob = await seedUser(t, "bob@team.test", "Bob Agent", "staff");
  const carol = await seedUser(t, "carol@customer.test", "Carol Customer");
  const group = await seedGroup(t, "support", `support@${DOMAIN}`, [alice, bob]);
  const { conversation, post: first } = await seedConversation(t, carol, [], { group, subject: "Broken widget", body: "It broke." });
  return { alice, bob, carol, group, conversation, first };
}

/** Adds someone to a conversation as an ordinary, active participant. */
export function seedParticipant(t: TestStore, conversation: Conversation, user: User, now = T0): Promise<Participant> {
  return t.write((ctx) => addParticipant(ctx, conversation, user, { role: "member", addedBy: null }), now);
}

/** The user leaves the conversation, as their leave+ address would have them. */
export function seedLeave(t: TestStore, conversation: Conversation, user: User, now = T0): Promise<Participant> {
  return t.write(async (ctx) => {
    const participant = await findParticipant(ctx.tx, conversation.id, user.id);
    if (!participant) throw new Error(`user ${user.id} is not a participant of conversation ${conversation.id}`);
    return leaveConversation(ctx, participant);
  }, now);
}

/** A published post and the copy of it fan-out queued for `recipient`. */
export async function seedPostCopy(
  t: TestStore,
  conversation: Conversation,
  author: User,
  recipient: User,
  options: { body?: string; attachments?: readonly AttachmentInput[]; parentId?: number; now?: number } = {},
): Promise<{ post: Post; delivery: Delivery }> {
  const post = await seedPost(t, conversation, author, options);
  const delivery = await t.read((ctx) => deliveryOf(ctx, post.id, recipient.id));
  return { post, delivery };
}

// ---- Inbound mail, handled directly: what the pipeline prepares before its transaction ----------
// Imports for the helpers below live here so this section could be appended without touching the
// top of the file (ES module imports are hoisted wherever they are written).
import type { Config } from "../../src/config/config.js";
import { Refusal } from "../../src/errors/refusal.js";
import type { AuthenticationResult } from "../../src/inbound/authenticate.js";
import { classifyMessage } from "../../src/inbound/classify.js";
import type { InboundContext, PreparedInbound } from "../../src/inbound/inbound.js";
import { parseMessage } from "../../src/inbound/parse.js";


/** A small RFC 5322 message. Header values are written as given (so they may be folded or odd). */
export interface MimeInput {
  readonly from: string;
  readonly to: string | readonly string[];
  readonly cc?: string | readonly string[];
  readonly subject?: string;
  /** Null: the message has no Message-ID header. */
  readonly messageId?: string | null;
  readonly inReplyTo?: string;
  readonly references?: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly attachments?: readonly { readonly filename: string; readonly contentType: string; readonly content: Buffer }[];
}

let mimeCounter = 0;

export function buildMime(input: MimeInput): Buffer {
  const list = (value: string | readonly string[]) => (typeof value === "string" ? value : value.join(", "));
  const head = [
    `From: ${input.from}`,
    `To: ${list(input.to)}`,
    ...(input.cc ? [`Cc: ${list(input.cc)}`] : []),
    `Subject: ${input.subject ?? "Hello"}`,
    "Date: Wed, 15 Jan 2025 09:30:00 +0000",
    ...(input.messageId === null ? [] : [`Message-ID: ${input.messageId ?? `<test-${++mimeCounter}-${Date.now()}@elsewhere.test>`}`]),
    ...(input.inReplyTo ? [`In-Reply-To: ${input.inReplyTo}`] : []),
    ...(input.references ? [`References: ${input.references}`] : []),
    ...Object.entries(input.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    "MIME-Version: 1.0",
  ];
  const body = input.body ?? "Hello.";
  if (!input.attachments?.length) {
    return Buffer.from([...head, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", body, ""].join("\r\n"), "utf8");
  }
  const boundary = "=_postern_test_boundary";
  const parts = [
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    body,
    ...input.attachments.flatMap((a) => [
      `--${boundary}`,
      `Content-Type: ${a.contentType}; name="${a.filename}"`,
      `Content-Disposition: attachment; filename="${a.filename}"`,
      "Content-Transfer-Encoding: base64",
      "",
      ...(a.content.toString("base64").match(/.{1,76}/g) ?? [""]),
    ]),
    `--${boundary}--`,
    "",
  ];
  return Buffer.from([...head, `Content-Type: multipart/mixed; boundary="${boundary}"`, "", ...parts].join("\r\n"), "utf8");
}

/**
 * Parse → classify → trim, as InboundPipeline.process does before its transaction. The envelope
 * sender defaults to the From address; pass "" for a null return path (bounces).
 */
export async function prepareInbound(
  config: Config,
  raw: Buffer | string,
  rcptTo: string | readonly string[],
  envelopeFrom?: string,
  /** The sender-authentication result; "dmarc-pass": an aligned DMARC pass for the From domain. None by default (as with [auth] mode "off"). */
  auth?: AuthenticationResult | "dmarc-pass",
): Promise<PreparedInbound> {
  const message = await parseMessage(typeof raw === "string" ? Buffer.from(raw, "utf8") : raw);
  const mailFrom = envelopeFrom ?? message.from.address;
  const classification = classifyMessage(config, message, mailFrom);
  return {
    envelopeFrom: mailFrom,
    rcptTo: typeof rcptTo === "string" ? [rcptTo] : [...rcptTo],
    message,
    classification,
    content: classification.kind === "human" ? readContent(message) : NO_CONTENT,
    ...(auth ? { auth: auth === "dmarc-pass" ? dmarcPass(message.from.address.split("@").pop() ?? "") : auth } : {}),
  };
}

/** What authenticate() returns for mail whose From domain passes DMARC aligned (SPEC §3). */
export function dmarcPass(domain: string): AuthenticationResult {
  return { spf: "pass", dkim: "none", dmarc: "pass", fromDomain: domain, aligned: true, source: "computed", summary: `spf=pass dkim=none dmarc=pass (${domain})` };
}

/**
 * Runs one handler on a prepared message in one transaction, after logging the message in the mail
 * log (deliveries and posts point at it). A refusal rolls the whole transaction back and rejects.
 */
export function runInbound<T>(t: TestStore, inbound: PreparedInbound, handler: (ctx: InboundContext) => Promise<T>, now = T0): Promise<T> {
  return t.write(async (ctx) => {
    const { message } = inbound;
    const inboundId = await insertMailLogEntry(ctx.tx, {
      receivedAt: ctx.now,
      sessionId: null,
      remoteAddress: null,
      mailFrom: inbound.envelopeFrom,
      rcptTo: [...inbound.rcptTo],
      fromAddress: message.from.address,
      messageId: message.messageId ?? null,
      subject: message.subject,
      outcome: "accepted",
      reason: "processing",
      smtpCode: 250,
      size: 0,
      raw: null,
    });
    if (inboundId === undefined) throw new Error("mail log entry not inserted");
    return handler({ ...ctx, inbound, inboundId });
  }, now);
}

/** The Refusal a promise rejects with; fails when it resolves or rejects with anything else. */
export async function refusalOf(promise: Promise<unknown>): Promise<Refusal> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error(`expected a Refusal, got ${JSON.stringify(outcome)}`);
}

/** An active member with a username, so USERNAME@DOMAIN is their alias. */
export function seedMember(t: TestStore, email: string, username: string, name: string | null = null, role: Role = "member"): Promise<User> {
  return t.write((ctx) => addUser(ctx, { email, username, role, ...(name ? { name } : {}) }), T0);
}

/** Every delivery in the outbox, oldest first. */
export function allDeliveries(t: TestStore): Promise<Delivery[]> {
  return t.read(({ tx }) => tx.db.query.deliveries.findMany({ orderBy: (d, { asc }) => asc(d.id) }));
}
