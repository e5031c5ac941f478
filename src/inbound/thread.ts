import type { Db } from "../db/database.js";
import { findConversation, findParticipant, findPostsByAnyMessageId } from "../domain/conversations.repo.js";
import type { Conversation, Participant, User } from "../../schema/schema.js";

export interface ThreadMatch {
  readonly conversation: Conversation;
  /** The sender's participation, when they take part in that conversation. */
  readonly participant: Participant | undefined;
}

/**
 * Finds the conversation a message answers from In-Reply-To and References (newest first), using
 * Message-IDs Postern sent or received. Prefers a conversation the sender takes part in.
 */
export function findThread(db: Db, threadIds: readonly string[], sender: User | undefined): ThreadMatch | undefined {
  const posts = findPostsByAnyMessageId(db, threadIds);
  if (posts.length === 0) return undefined;
  const rank = (id: string | null) => (id === null ? Infinity : threadIds.indexOf(id));
  const ordered = [...posts].sort(
    (a, b) => Math.min(rank(a.messageId), rank(a.sourceMessageId)) - Math.min(rank(b.messageId), rank(b.sourceMessageId)),
  );
  let first: ThreadMatch | undefined;
  for (const post of ordered) {
    const conversation = findConversation(db, post.conversationId);
    if (!conversation) continue;
    const participant = sender ? findParticipant(db, conversation.id, sender.id) : undefined;
    const match = { conversation, participant: participant?.state === "active" ? participant : undefined };
    if (match.participant) return match;
    first ??= match;
  }
  return first;
}
