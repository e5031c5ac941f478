import type { DomainContext } from "./context.js";
import { queueDeliveries } from "./deliveries.repo.js";
import { insertNotice } from "./notices.repo.js";
import type { Conversation, Notice, NoticeKind, User } from "./records.js";

export interface NoticeInput {
  readonly kind: NoticeKind;
  readonly conversation: Conversation;
  /** The person the notice is about: the invitee, who joined, who left. */
  readonly about: User;
  /** Who did it, when someone else did. */
  readonly by?: User | null;
  /** The last post it covers (an invitation's first message, the end of a catch-up). */
  readonly postId?: number | null;
  /** Catch-up: how many posts, most recent last; null or absent for all. */
  readonly history?: number | null;
  readonly recipients: readonly User[];
}

/**
 * System mail about a conversation, queued in the caller's transaction: one notice, one delivery
 * per recipient. What it says is rendered when it is sent. A suspended address gets nothing.
 * Undefined when nobody is left to tell.
 */
export async function notify(ctx: DomainContext, input: NoticeInput): Promise<Notice | undefined> {
  const recipients = dedupe(input.recipients).filter((user) => user.status !== "suspended");
  if (recipients.length === 0) return undefined;
  const notice = await insertNotice(ctx.tx, {
    kind: input.kind,
    conversationId: input.conversation.id,
    userId: input.about.id,
    byId: input.by?.id ?? null,
    postId: input.postId ?? null,
    history: input.history ?? null,
    createdAt: ctx.now,
  });
  if (!notice) return undefined;
  await queueDeliveries(
    ctx.tx,
    recipients.map((user) => ({ kind: "notice", noticeId: notice.id, conversationId: input.conversation.id, recipientId: user.id, toAddress: user.email })),
    ctx.now,
  );
  return notice;
}

function dedupe(users: readonly User[]): User[] {
  const seen = new Set<number>();
  return users.filter((user) => (seen.has(user.id) ? false : (seen.add(user.id), true)));
}
