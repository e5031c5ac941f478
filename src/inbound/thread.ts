import type { Tx } from "../db/store.js";
import { findConversation, findParticipant } from "../domain/conversations.repo.js";
import { findPostsByMessageId } from "../domain/posts.repo.js";
import type { Conversation, Participant, Post, User } from "../domain/records.js";

export interface ThreadMatch {
  readonly conversation: Conversation;
  /** The sender's participation, when they take part in that conversation. */
  readonly participant: Participant | undefined;
  /** The post the message answers (the first of its ids that names one in this conversation). */
  readonly post: Post;
}

/** References can be long; the newest ids are the ones that find the conversation. */
const MAX_THREAD_IDS = 30;

/**
 * Finds the conversation a message answers from In-Reply-To and References (newest first), using
 * Message-IDs Postern sent or received. Prefers a conversation the sender takes part in.
 */
export async function findThread(tx: Tx, threadIds: readonly string[], sender: User | undefined): Promise<ThreadMatch | undefined> {
  let first: ThreadMatch | undefined;
  const seen = new Set<number>();
  for (const id of threadIds.slice(0, MAX_THREAD_IDS)) {
    for (const post of await findPostsByMessageId(tx, id)) {
      if (seen.has(post.conversationId)) continue;
      seen.add(post.conversationId);
      const conversation = await findConversation(tx, post.conversationId);
      // A draft reached nobody: nothing can answer it.
      if (!conversation || conversation.state === "draft") continue;
      const participant = sender ? await findParticipant(tx, conversation.id, sender.id) : undefined;
      // An invitee answering their invitation from a client that ignores Reply-To counts too (it accepts).
      const taking = participant?.state === "active" || participant?.state === "invited";
      const match = { conversation, participant: taking ? participant : undefined, post };
      if (match.participant) return match;
      first ??= match;
    }
  }
  return first;
}
