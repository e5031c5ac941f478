import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { findConversation, findParticipant } from "../domain/conversations.repo.js";
import { effectiveDelivery } from "../domain/delivery-modes.service.js";
import { findGroupById } from "../domain/groups.repo.js";
import { mintMessageId } from "../domain/message-ids.js";
import { findNotice } from "../domain/notices.repo.js";
import { attachmentCountsOfConversation, listPosts } from "../domain/posts.repo.js";
import type { Conversation, Delivery, Notice, NoticeKind, Participant, Post, User } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import { deskMemberIds, isDeskMember, visibleTo } from "../domain/visibility.js";
import type { MailContent, MailDraft } from "./compose.js";
import { listHeaders } from "./list-headers.js";
import { noticeBody, type CatchUpPost } from "./notice-body.js";
import { RenderError } from "./render-error.js";
import { rsvpSummary } from "./render-rsvp.js";
import { replySubject, threadingHeaders } from "./threading.js";
import { displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";

/** Notices a recipient answers in the conversation: they carry the recipient's own reply address. */
const ANSWERABLE: ReadonlySet<NoticeKind> = new Set(["invitation", "accepted", "joined", "catch_up"]);

/**
 * System mail about a conversation (SPEC §4: `Auto-Submitted: auto-generated`), threaded under
 * the conversation so clients file it with the rest. Notices one can answer carry the recipient's
 * reply address; the others come from noreply@, which refuses mail.
 */
export async function draftNoticeDelivery(tx: Tx, config: Config, delivery: Delivery): Promise<MailDraft> {
  const notice = delivery.noticeId === null ? undefined : await findNotice(tx, delivery.noticeId);
  if (!notice) throw new RenderError(`notice ${delivery.noticeId ?? "(none)"} no longer exists`);
  const conversation = await findConversation(tx, notice.conversationId);
  if (!conversation) throw new RenderError(`conversation ${notice.conversationId} no longer exists`);
  const recipient = await findUserById(tx, delivery.recipientId);
  if (!recipient) throw new RenderError(`recipient ${delivery.recipientId} no longer exists`);
  const about = await findUserById(tx, notice.userId);
  if (!about) throw new RenderError(`user ${notice.userId} no longer exists`);
  const by = notice.byId === null ? null : (await findUserById(tx, notice.byId)) ?? null;
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  const participant = await findParticipant(tx, conversation.id, recipient.id);
  const answerable = ANSWERABLE.has(notice.kind);
  if (answerable) assertStillFitting(notice, conversation, participant, delivery);

  const domain = config.primaryDomain;
  const via = displayNameText(group?.name ?? config.gateway.name, MAX_VIA_LENGTH);
  const replyAddress = answerable && participant ? tokenAddress("reply", participant.replyToken, domain) : undefined;
  // An invitation is left by declining it; a participant leaves through their leave address.
  const leaveAddress =
    notice.kind === "invitation" && participant
      ? tokenAddress("decline", participant.replyToken, domain)
      : answerable && participant
        ? tokenAddress("leave", participant.leaveToken, domain)
        : undefined;

  // One read of the conversation's posts and of the recipient's membership serves the first
  // message, the catch-up and the threading headers.
  const posts = await listPosts(tx, conversation.id);
  const readsNotes = await isDeskMember(tx, conversation, recipient.id);
  const firstPost = notice.kind === "invitation" && notice.postId !== null ? posts.find((post) => post.id === notice.postId) : undefined;
  const catchUp = notice.kind === "catch_up" ? await catchUpPosts(tx, notice, conversation.id, posts, readsNotes) : undefined;
  const body = noticeBody({
    kind: notice.kind,
    subject: conversation.subject,
    via,
    about: displayName(about),
    by: by && displayName(by),
    ...(firstPost ? { firstMessage: firstPost.body } : {}),
    ...(notice.kind === "invitation" && participant
      ? {
          acceptAddress: tokenAddress("accept", participant.replyToken, domain),
          declineAddress: tokenAddress("decline", participant.replyToken, domain),
          expiresAt: new Date(participant.joinedAt + config.consent.expire_after),
        }
      : {}),
    ...(catchUp ? { posts: catchUp.posts, totalPosts: catchUp.total } : {}),
    // The mode as it is when the confirmation is sent: after two quick changes, both tell the last.
    ...(notice.kind === "delivery_mode" && participant ? { mode: effectiveDelivery(participant, recipient) } : {}),
    ...(notice.kind === "rsvp" ? { rsvp: await rsvpSummary(tx, notice) } : {}),
    goesOn: conversation.state === "pending" || conversation.state === "open",
    ...(notice.kind !== "invitation" && leaveAddress ? { leaveAddress } : {}),
  });

  // Threaded under the conversation: the invitation is the invitee's copy of the first post and
  // answers nothing, everything else follows the last post it knows.
  const isInvitation = notice.kind === "invitation";
  const lastPostId = notice.postId ?? lastSentPostIdBefore(posts, notice);
  const chain = isInvitation || lastPostId === undefined ? [] : chainTo(posts, lastPostId, readsNotes);
  const members = conversation.kind === "inbox" && !readsNotes ? await deskMemberIds(tx, conversation) : new Set<number>();
  const threading = threadingHeaders({
    ancestors: chain,
    ...(firstPost ? { own: firstPost } : {}),
    at: notice.createdAt,
    reader: { userId: recipient.id, seesSourceOf: (post) => post.authorId === undefined || !members.has(post.authorId) },
    conversation,
    firstMessageId: posts[0]?.messageId ?? `<conversation-${conversation.id}@${domain}>`,
    referencesLimit: config.conversations.references_limit,
  });
  const fromName = isInvitation && by ? `${displayNameText(displayName(by))} via ${via}` : via;
  const fromAddress = replyAddress ? group?.inboxAddress ?? config.fromAddress : `noreply@${domain}`;

  const mail: MailContent = {
    from: { name: fromName, address: fromAddress },
    ...(replyAddress ? { replyTo: replyAddress } : {}),
    to: { name: displayNameText(recipient.name ?? ""), address: delivery.toAddress },
    subject: headerText(isInvitation ? conversation.subject : replySubject(conversation.subject, false)),
    date: new Date(notice.createdAt),
    ...(threading.inReplyTo ? { inReplyTo: threading.inReplyTo } : {}),
    ...(threading.references ? { references: threading.references } : {}),
    headers: {
      ...threading.headers,
      ...(replyAddress && leaveAddress
        ? listHeaders({ conversationId: conversation.id, subject: conversation.subject, primaryDomain: domain, replyAddress, leaveAddress })
        : { "X-Auto-Response-Suppress": "All" }),
      // System mail (RFC 3834): auto-responders must not answer it.
      "Auto-Submitted": "auto-generated",
    },
    text: body.text,
    html: body.html,
  };
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    // The invitation is the invitee's copy of the first message: replies to it thread on that post.
    messageId: isInvitation && firstPost ? firstPost.messageId : mintMessageId(config, isInvitation ? "invitation" : "confirmation", delivery.bounceToken),
    mail,
  };
}

/** A notice one answers in the conversation is sent only while its recipient may still answer. */
function assertStillFitting(notice: Notice, conversation: Conversation, participant: Participant | undefined, delivery: Delivery): void {
  if (!participant) throw new RenderError(`${delivery.toAddress} is not a participant of conversation ${conversation.id}`);
  if (notice.kind === "invitation") {
    if (participant.state !== "invited" || conversation.state !== "pending") {
      throw new RenderError(`the invitation of ${delivery.toAddress} to conversation ${conversation.id} was answered or withdrawn before it was sent`, "skipped");
    }
    return;
  }
  if (participant.state !== "active") {
    throw new RenderError(`${delivery.toAddress} no longer takes part in conversation ${conversation.id}`, "skipped");
  }
}

/** The posts a catch-up carries: sent, up to its last post, notes only for the group's members. */
async function catchUpPosts(
  tx: Tx,
  notice: Notice,
  conversationId: number,
  all: readonly Post[],
  member: boolean,
): Promise<{ posts: CatchUpPost[]; total: number }> {
  const visible = all.filter((post) => post.state === "sent" && (notice.postId === null || post.id <= notice.postId) && visibleTo(post, member));
  const shown = notice.history === null ? visible : visible.slice(Math.max(0, visible.length - notice.history));
  const counts = await attachmentCountsOfConversation(tx, conversationId);
  const names = new Map<number, string>();
  const posts: CatchUpPost[] = [];
  for (const post of shown) {
    if (!names.has(post.authorId)) {
      const author = await findUserById(tx, post.authorId);
      names.set(post.authorId, author ? displayName(author) : "Someone");
    }
    posts.push({ author: names.get(post.authorId) ?? "Someone", at: new Date(post.createdAt), body: post.body, note: post.note, attachments: counts.get(post.id) ?? 0 });
  }
  return { posts, total: visible.length };
}

function lastSentPostIdBefore(posts: readonly Post[], notice: Notice): number | undefined {
  const sent = posts.filter((post) => post.state === "sent" && (post.sentAt ?? post.createdAt) <= notice.createdAt && !post.note);
  return sent[sent.length - 1]?.id;
}

/** The post and the ones before it, oldest first, for References: those the recipient may see (no note's id for the outside person). */
function chainTo(posts: readonly Post[], postId: number, readsNotes: boolean): Post[] {
  if (!posts.some((post) => post.id === postId)) return [];
  return posts.filter((post) => post.state === "sent" && post.id <= postId && visibleTo(post, readsNotes));
}
