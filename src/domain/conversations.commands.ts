import { refuse } from "../errors/refusal.js";
import { can } from "./abilities.js";
import type { DomainContext } from "./context.js";
import * as repo from "./conversations.repo.js";
import { requireConversation, startConversation } from "./conversations.service.js";
import { addLater, historyOf, leave, removeParticipant, welcomeLateJoiners, type History } from "./membership.service.js";
import { addParticipant } from "./participants.service.js";
import { isGroupMember } from "./groups.repo.js";
import type { Conversation, Participant, Post, ReplyPolicy, User } from "./records.js";
import { findUserByEmail } from "./users.repo.js";
import { requireVisibleConversation } from "./drafts.service.js";
import { requireUser, validEmail } from "./users.service.js";

/** Operations people start from the CLI; they apply the same rules as mail does. */

export interface CreateInput {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly body: string;
  readonly replies?: ReplyPolicy;
  /** Keep it a draft (SPEC §5): nothing is sent until drafts.service sendDraft. */
  readonly draft?: boolean;
}

export async function createConversation(ctx: DomainContext, input: CreateInput): Promise<{ conversation: Conversation; post: Post }> {
  const { tx, config } = ctx;
  const author = await requireUser(tx, input.from);
  if (author.status !== "active") refuse("not_allowed", `${author.email} is ${author.status}; only active members can start conversations.`);
  const addresses = [...new Set(input.to.map(validEmail))].filter((a) => a !== author.email);
  if (addresses.length === 0) refuse("invalid_input", "Give at least one recipient other than the author with --to.");
  await checkRecipientCaps(ctx, addresses);
  if (!input.body.trim()) refuse("invalid_input", "The first message needs a body (--body).");
  const kind = addresses.length === 1 ? "direct" : "group";
  if (kind === "direct" && !can(config, author, "start_direct")) {
    refuse("not_allowed", `${author.email} may not start direct conversations (role ${author.role}).`);
  }
  return startConversation(ctx, {
    kind,
    subject: input.subject,
    author,
    recipients: addresses.map((address) => ({ candidate: { address } })),
    ...(input.replies ? { replies: input.replies } : {}),
    post: { body: input.body, rawBody: input.body },
    ...(input.draft ? { draft: true } : {}),
  });
}

export async function addToConversation(ctx: DomainContext, id: number, email: string, byEmail: string, history?: History): Promise<User> {
  const by = await requireUser(ctx.tx, byEmail);
  // Someone else's draft does not exist for them, whatever they try to do with it.
  const conversation = await requireVisibleConversation(ctx.tx, id, by);
  return addLater(ctx, { conversation, address: validEmail(email), by, ...(history === undefined ? {} : { history }) });
}

/** Anyone may leave; owners remove people from their conversation, and roles with `remove_participants` from any. */
export async function removeFromConversation(ctx: DomainContext, id: number, email: string, byEmail: string): Promise<Participant> {
  const by = await requireUser(ctx.tx, byEmail);
  const conversation = await requireVisibleConversation(ctx.tx, id, by);
  const user = await requireUser(ctx.tx, email);
  return removeParticipant(ctx, conversation, user, by);
}

/** `conversations leave ID --as EMAIL`: the CLI says so itself, so no confirmation mail. */
export async function leaveFromCli(ctx: DomainContext, id: number, asEmail: string): Promise<Participant> {
  const user = await requireUser(ctx.tx, asEmail);
  const conversation = await requireVisibleConversation(ctx.tx, id, user);
  return leave(ctx, conversation, user, { confirm: false });
}

/**
 * `conversations.max_recipients` on --to, and `staged_users.max_per_message` on the addresses
 * without an account among them: a command beyond either is refused whole, naming the key.
 */
async function checkRecipientCaps(ctx: DomainContext, addresses: readonly string[]): Promise<void> {
  const { tx, config } = ctx;
  const max = config.conversations.max_recipients;
  if (addresses.length > max) {
    refuse("invalid_input", `${addresses.length} recipients were given, but a conversation may start with at most ${max} (conversations.max_recipients).`);
  }
  const unknown: string[] = [];
  for (const address of addresses) if (!(await findUserByEmail(tx, address))) unknown.push(address);
  const maxStaged = config.staged_users.max_per_message;
  if (unknown.length > maxStaged) {
    refuse(
      "invalid_input",
      `${unknown.length} of the recipients have no account and would become staged users, but one command may create at most ${maxStaged} (staged_users.max_per_message).`,
    );
  }
}

/** Delegates an inbox conversation to one member of its group. */
export async function assignConversation(ctx: DomainContext, id: number, email: string): Promise<User> {
  const { tx } = ctx;
  const conversation = await requireConversation(tx, id);
  if (conversation.kind !== "inbox" || !conversation.groupId) {
    refuse("invalid_input", `Conversation ${id} did not come through a group inbox, so it cannot be assigned.`);
  }
  const user = await requireUser(tx, email);
  if (!(await isGroupMember(tx, conversation.groupId, user.id))) {
    refuse("not_allowed", `${user.email} is not a member of the group that owns conversation ${id}.`);
  }
  const before = await repo.findParticipant(tx, conversation.id, user.id);
  await addParticipant(ctx, conversation, user, { role: "owner", addedBy: null });
  await repo.setAssignee(tx, id, user.id, ctx.now);
  // A colleague who joined the group after the conversation started comes in now: welcomed like anyone added later.
  if (before?.state !== "active") await welcomeLateJoiners(ctx, { conversation, joiners: [user], by: null, history: historyOf(ctx, undefined) });
  return user;
}
