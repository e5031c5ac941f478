import type { Tx } from "../db/store.js";
import { groupMemberUsers, isGroupMember } from "./groups.repo.js";
import type { Conversation, Post } from "./records.js";

/**
 * Who may see a post: the one rule every place that chooses posts for someone applies (fan-out,
 * threading headers, catch-up, digests). An internal note (SPEC §2, note+TOKEN@) is for the
 * members of the group that answers the conversation; everything else is for every participant.
 *
 * Membership is the group's membership now, not when the note was written: someone who left the
 * team no longer reads its notes, and a colleague who joined reads them from then on.
 */
export function visibleTo(post: Pick<Post, "note">, isGroupMember: boolean): boolean {
  return !post.note || isGroupMember;
}

/** Whether this user is a member of the group that answers the conversation (an inbox conversation's desk). */
export async function isDeskMember(tx: Tx, conversation: Pick<Conversation, "groupId">, userId: number): Promise<boolean> {
  return conversation.groupId !== null && isGroupMember(tx, conversation.groupId, userId);
}

/** The ids of the users who read the conversation's internal notes: its group's members. */
export async function deskMemberIds(tx: Tx, conversation: Pick<Conversation, "groupId">): Promise<ReadonlySet<number>> {
  if (conversation.groupId === null) return new Set();
  return new Set((await groupMemberUsers(tx, conversation.groupId)).map((user) => user.id));
}
