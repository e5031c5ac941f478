import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { actAs } from "./activity.service.js";
import type { DomainContext } from "./context.js";
import { postLines, postLinesSeenBy, type PostLine } from "./conversation-views.repo.js";
import * as repo from "./conversations.repo.js";
import { requireVisibleConversation } from "./drafts.service.js";
import { lastSentPostId } from "./posts.repo.js";
import type { Conversation, Participant, User } from "./records.js";

/**
 * What the CLI shows of conversations, and for whom. Without a viewer it is an admin's view:
 * every conversation but drafts, every sent post. With one (--as, or --user's own list) it is
 * theirs: their drafts too, and only the posts they could see.
 */

export interface ListRequest {
  /** "My conversations": only those this user takes or took part in, with their unread count. */
  readonly user?: User;
  /** Whose drafts appear; a user's own list shows theirs. */
  readonly viewer?: User;
  readonly assignee?: User;
  readonly unassigned?: boolean;
}

export type ListedConversation = repo.ConversationSummary & Partial<Pick<repo.UserConversationSummary, "participant" | "unread">>;

export async function listConversationsFor(tx: Tx, request: ListRequest): Promise<ListedConversation[]> {
  if (request.assignee && request.unassigned) refuse("invalid_input", "Ask for conversations assigned to someone or for unassigned ones, not both.");
  const viewer = request.viewer ?? request.user;
  const filter: repo.ConversationFilter = {
    ...(viewer ? { viewerId: viewer.id } : {}),
    ...(request.assignee ? { assigneeId: request.assignee.id } : {}),
    ...(request.unassigned ? { unassigned: true } : {}),
  };
  return request.user ? repo.listUserConversations(tx, request.user.id, filter) : repo.listConversationSummaries(tx, filter);
}

export interface ConversationView {
  readonly conversation: Conversation;
  readonly participants: readonly repo.ParticipantWithUser[];
  /** The viewer's own participation, when there is a viewer. */
  readonly viewerParticipant?: Participant;
  /** Oldest first, without their text unless asked for. */
  readonly posts: readonly PostLine[];
}

/**
 * One conversation as `viewer` sees it: a draft only for its author, and only the posts they
 * could see (none of someone else's drafts, notes only for the desk). An admin without a viewer
 * sees every sent post. The posts' text is read only with `bodies`: a long conversation's
 * listing then costs its metadata alone.
 */
export async function viewConversation(tx: Tx, id: number, viewer?: User, options: { readonly bodies?: boolean } = {}): Promise<ConversationView> {
  const conversation = await requireVisibleConversation(tx, id, viewer);
  const participants = await repo.participantsWithUsers(tx, id);
  const bodies = options.bodies ?? false;
  if (!viewer) return { conversation, participants, posts: (await postLines(tx, id, bodies)).filter((post) => post.state === "sent") };
  const viewerParticipant = participants.find((row) => row.user.id === viewer.id)?.participant;
  if (!viewerParticipant) refuse("not_a_participant", `${viewer.email} does not take part in conversation ${id}.`);
  return { conversation, participants, viewerParticipant, posts: await postLinesSeenBy(tx, id, viewer.id, bodies) };
}

/**
 * `conversations read ID --as EMAIL`: every sent post of the conversation counts as read for them
 * (SPEC §6), which the CLI does in their name. Answers how many were unread.
 */
export async function markConversationRead(ctx: DomainContext, id: number, email: string): Promise<{ user: User; unread: number }> {
  const { tx } = ctx;
  const user = await actAs(ctx, email);
  await requireVisibleConversation(tx, id, user);
  const participant = await repo.findParticipant(tx, id, user.id);
  if (!participant) refuse("not_a_participant", `${user.email} does not take part in conversation ${id}.`);
  const unread = await repo.countUnread(tx, id, user.id);
  const last = await lastSentPostId(tx, id, false);
  if (last !== undefined) await repo.markPostRead(tx, [participant.id], last);
  return { user, unread };
}
