import type { Tx } from "../db/store.js";
import { refuse } from "../errors/refusal.js";
import { can } from "./abilities.js";
import type { DomainContext } from "./context.js";
import * as conversations from "./conversations.repo.js";
import { launchConversation, normalizeSubject, requireConversation } from "./conversations.service.js";
import * as posts from "./posts.repo.js";
import type { Conversation, Post, User } from "./records.js";
import { findUserById } from "./users.repo.js";

/**
 * Drafts (SPEC §5): a conversation being written is seen and changed by its author alone; sending
 * it launches it, and from then on its posts never change (the database refuses it too).
 */

/**
 * A conversation as `viewer` may see it: a draft is its author's alone, and to anyone else it
 * does not exist, with the very sentence an unknown id gets.
 */
export async function requireVisibleConversation(tx: Tx, id: number, viewer?: Pick<User, "id">): Promise<Conversation> {
  const conversation = await conversations.findConversation(tx, id);
  if (!conversation || (conversation.state === "draft" && conversation.createdById !== viewer?.id)) {
    refuse("not_found", `No conversation has the id ${id}.`);
  }
  return conversation;
}

export interface DraftEdit {
  readonly subject?: string;
  readonly body?: string;
}

/**
 * Changes a draft's subject or text. With `author` (the CLI's --as) only its author may; without,
 * it is an admin's correction. A sent conversation is refused: its posts never change.
 */
export async function editDraft(ctx: DomainContext, id: number, edit: DraftEdit, author?: User): Promise<{ conversation: Conversation; post: Post }> {
  const { tx, now } = ctx;
  const conversation = await requireDraftOf(tx, id, author);
  if (edit.subject === undefined && edit.body === undefined) {
    refuse("invalid_input", "Give a new --subject or --body for the draft.");
  }
  if (edit.body !== undefined && !edit.body.trim()) refuse("invalid_input", "A draft needs a body: --body cannot be empty.");
  const draft = await draftPostOf(tx, conversation, "edit");
  const subject = edit.subject === undefined ? undefined : normalizeSubject(edit.subject);
  // Each update checks the state again: whatever was sent in between stays as it was sent.
  const edited = subject === undefined ? conversation : await conversations.setDraftSubject(tx, id, subject, now);
  const post = edit.body === undefined ? draft : await posts.updateDraftPost(tx, draft.id, { body: edit.body, rawBody: edit.body });
  if (!edited || !post) refuse("not_allowed", notDraftSentence(conversation, "edit"));
  return { conversation: edited, post };
}

/**
 * Sends a draft: it reaches its people as a new conversation would (launchConversation, which
 * asks for consent where it is required). With `author`, only its author may send it.
 */
export async function sendDraft(ctx: DomainContext, id: number, author?: User): Promise<{ conversation: Conversation; post: Post }> {
  const { tx, config, now } = ctx;
  const conversation = await requireDraftOf(tx, id, author);
  const draft = await draftPostOf(tx, conversation, "send");
  // Sending is when the conversation starts: the author must still be allowed to start it.
  const creator = author ?? (await findUserById(tx, conversation.createdById));
  if (!creator) throw new Error(`conversation ${conversation.id} has no author`);
  if (creator.status !== "active") {
    refuse("not_allowed", `${creator.email} is ${creator.status}; only active members can send a draft.`);
  }
  if (conversation.kind === "direct" && !can(config, creator, "start_direct")) {
    refuse("not_allowed", `${creator.email} may not start direct conversations (role ${creator.role}).`);
  }
  // Sent twice at once (two nodes): the second waits on this row, then finds no draft.
  const claimed = await conversations.claimDraft(tx, id, now);
  if (!claimed) refuse("not_allowed", notDraftSentence(conversation, "send"));
  return launchConversation(ctx, claimed, draft);
}

/** With an author, what they may see (their drafts); without, an admin's command reaches any conversation. */
function requireDraftOf(tx: Tx, id: number, author: User | undefined): Promise<Conversation> {
  return author ? requireVisibleConversation(tx, id, author) : requireConversation(tx, id);
}

/** The draft's one post; a conversation that is not a draft any more is refused. */
async function draftPostOf(tx: Tx, conversation: Conversation, action: "edit" | "send"): Promise<Post> {
  if (conversation.state !== "draft") refuse("not_allowed", notDraftSentence(conversation, action));
  const post = (await posts.listPosts(tx, conversation.id)).find((p) => p.state === "draft" && p.authorId === conversation.createdById);
  if (!post) throw new Error(`draft conversation ${conversation.id} has no draft post`);
  return post;
}

function notDraftSentence(conversation: Conversation, action: "edit" | "send"): string {
  const why = action === "edit" ? "it was sent, and a sent post never changes" : "only a draft can be sent, and this one was sent already";
  return `Conversation ${conversation.id} is not a draft (it is ${conversation.state}): ${why}.`;
}
