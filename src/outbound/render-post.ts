import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { activeParticipantUsers, findConversation, findParticipant } from "../domain/conversations.repo.js";
import { findGroupById } from "../domain/groups.repo.js";
import { attachmentsOfPost, earlierSentPosts, findPost, sentPostLink, type PostLink } from "../domain/posts.repo.js";
import { participantsBouncingSince } from "../domain/render.repo.js";
import { MAX_RESPONSE_LEVELS } from "../domain/thread-index.js";
import { newlyBouncing } from "../domain/bounces.service.js";
import { offersPrivateReply } from "../domain/private-replies.service.js";
import type { Attachment, Conversation, Delivery, Post, User } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import { deskMemberIds, isDeskMember, visibleTo } from "../domain/visibility.js";
import type { DraftAttachment, Mailbox, MailContent, MailDraft } from "./compose.js";
import { listHeaders } from "./list-headers.js";
import { postBody } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { ancestorChain, replySubject, threadingHeaders } from "./threading.js";
import { attachmentContentType, attachmentFilename, displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";

/**
 * One recipient's personal copy of a post (SPEC §4). The From is the gateway's, never the
 * author's (DMARC) nor a token (address books would keep it); replies find their way back
 * through the recipient's own Reply-To token.
 */
export async function draftPostDelivery(tx: Tx, config: Config, delivery: Delivery, recipientRow?: User): Promise<MailDraft> {
  const post = delivery.postId === null ? undefined : await findPost(tx, delivery.postId);
  if (!post) throw new RenderError(`post ${delivery.postId ?? "(none)"} no longer exists`);
  if (post.state !== "sent") throw new RenderError(`post ${post.id} is still a draft`);
  const conversation = await findConversation(tx, post.conversationId);
  if (!conversation) throw new RenderError(`conversation ${post.conversationId} no longer exists`);
  const author = await findUserById(tx, post.authorId);
  if (!author) throw new RenderError(`author ${post.authorId} of post ${post.id} no longer exists`);
  const recipient = recipientRow?.id === delivery.recipientId ? recipientRow : await findUserById(tx, delivery.recipientId);
  if (!recipient) throw new RenderError(`recipient ${delivery.recipientId} no longer exists`);
  const participant = await findParticipant(tx, conversation.id, recipient.id);
  if (!participant) throw new RenderError(`${delivery.toAddress} is not a participant of conversation ${conversation.id}`);
  // Their tokens no longer work (SPEC §5), so a copy would invite replies that bounce.
  if (participant.state === "left" || participant.state === "removed") {
    throw new RenderError(`${delivery.toAddress} ${participant.state === "left" ? "left" : "was removed from"} conversation ${conversation.id} before this post was delivered`, "skipped");
  }
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  if (conversation.groupId !== null && !group) throw new RenderError(`group ${conversation.groupId} no longer exists`);
  // The desk: the members of the group that answers an inbox conversation. They see its internal
  // notes and each other; the outside person sees neither (SPEC §2, §5).
  const readsNotes = await isDeskMember(tx, conversation, recipient.id);
  if (!visibleTo(post, readsNotes)) {
    throw new RenderError(`${delivery.toAddress} is not a member of the group any more, and post ${post.id} is an internal note`, "skipped");
  }
  const outsider = conversation.kind === "inbox" && !readsNotes;

  const domain = config.primaryDomain;
  const via = displayNameText(group?.name ?? config.gateway.name, MAX_VIA_LENGTH);
  // One line, capped: a From of "<5,000 characters> via …" would break the 998-octet line limit.
  const authorName = displayNameText(outsider && (await isDeskMember(tx, conversation, author.id)) ? memberNameForOutsider(author) : displayName(author));
  const publicReplyAddress = tokenAddress("reply", participant.replyToken, domain);
  // Answering a note continues as a note; the footer names the public reply address instead.
  const replyAddress = post.note ? tokenAddress("note", participant.replyToken, domain) : publicReplyAddress;
  const leaveAddress = tokenAddress("leave", participant.leaveToken, domain);
  const noteAddress = readsNotes && conversation.kind === "inbox" && !post.note ? tokenAddress("note", participant.replyToken, domain) : undefined;
  const privateAddress = (await offersPrivateReply(tx, conversation, post, recipient.id)) ? tokenAddress("private", delivery.bounceToken, domain) : undefined;

  // Threading from the posts this recipient saw: a note's Message-ID never reaches the outside person.
  const sentBefore = await threadPosts(tx, post, config.conversations.references_limit);
  const earlier = sentBefore.filter((p) => visibleTo(p, readsNotes));
  const members = outsider ? await deskMemberIds(tx, conversation) : new Set<number>();
  const threading = threadingHeaders({
    ancestors: ancestorChain(post, earlier),
    own: post,
    at: post.createdAt,
    reader: { userId: recipient.id, seesSourceOf: (p) => p.authorId === undefined || !members.has(p.authorId) },
    conversation,
    firstMessageId: (sentBefore[0] ?? post).messageId,
    referencesLimit: config.conversations.references_limit,
  });
  const files = await attachmentsOfPost(tx, post.id);
  // The outside person hears about the other outside people only, never about a member's mailbox.
  const previousAt = sentBefore[sentBefore.length - 1]?.createdAt;
  const stopped = newlyBouncing(
    (await participantsBouncingSince(tx, conversation.id, previousAt ?? Number.MIN_SAFE_INTEGER, post.createdAt)).filter((user) => user.id !== recipient.id && !members.has(user.id)),
    previousAt,
    post.createdAt,
  );
  const body = postBody({
    body: post.body,
    notReceiving: stopped.map((user) => user.name?.trim() || "One participant"),
    html: post.html,
    authorName,
    conversationSubject: conversation.subject,
    via,
    leaveAddress,
    modeAddresses: {
      every: tokenAddress("every", participant.replyToken, domain),
      digest: tokenAddress("digest", participant.replyToken, domain),
      mute: tokenAddress("mute", participant.replyToken, domain),
    },
    ...(post.note ? { note: { replyAddress: publicReplyAddress } } : {}),
    ...(noteAddress ? { noteAddress } : {}),
    ...(privateAddress ? { privateAddress } : {}),
    inlineImages: files.flatMap((f) => {
      const cid = contentId(f);
      return cid && f.inline && f.contentType.startsWith("image/") ? [{ cid, alt: f.filename ?? "" }] : [];
    }),
  });

  const to = config.gateway.disclose_participants
    ? await disclosedRecipients(tx, conversation, outsider)
    : [{ name: displayNameText(recipient.name ?? ""), address: delivery.toAddress }];

  const mail: MailContent = {
    from: { name: `${authorName} via ${via}${post.note ? " (internal note)" : ""}`, address: group?.inboxAddress ?? config.fromAddress },
    replyTo: replyAddress,
    to,
    subject: headerText(replySubject(conversation.subject, earlier.length === 0)),
    date: new Date(post.createdAt),
    ...(threading.inReplyTo ? { inReplyTo: threading.inReplyTo } : {}),
    ...(threading.references ? { references: threading.references } : {}),
    headers: {
      ...threading.headers,
      ...listHeaders({ conversationId: conversation.id, subject: conversation.subject, primaryDomain: domain, replyAddress, leaveAddress }),
    },
    text: body.text,
    html: body.html,
    attachments: files.map((file) => attachment(file, post.messageId)),
  };
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    messageId: post.messageId,
    mail,
  };
}

/**
 * The earlier posts threading reads, oldest first, bounded whatever the conversation's size:
 * References keeps the root and the newest ids (each post standing for up to two, and notes some
 * readers do not see taking room), Thread-Index the first response levels of the chain, and
 * In-Reply-To the parent. A reply to an older post has its chain of parents fetched one by one,
 * as far as References reaches.
 */
async function threadPosts(tx: Tx, post: Post, referencesLimit: number): Promise<PostLink[]> {
  const latest = referencesLimit * 2;
  const loaded = await earlierSentPosts(tx, post.conversationId, post.id, { first: MAX_RESPONSE_LEVELS + 1, latest });
  const byId = new Map(loaded.map((link) => [link.id, link]));
  const fetched: PostLink[] = [];
  let parentId = post.parentId;
  for (let steps = 0; parentId !== null && steps < latest + MAX_RESPONSE_LEVELS; steps++) {
    let parent = byId.get(parentId);
    if (!parent && fetched.length < latest) {
      parent = await sentPostLink(tx, post.conversationId, parentId, post.id);
      if (parent) {
        byId.set(parent.id, parent);
        fetched.push(parent);
      }
    }
    if (!parent) break;
    parentId = parent.parentId;
  }
  return fetched.length === 0 ? loaded : [...loaded, ...fetched].sort((a, b) => a.id - b.id);
}

/**
 * `gateway.disclose_participants`: who the copy shows in To. Members of the desk see everyone;
 * the outside person of an inbox conversation sees the other outside people only, never a
 * member's address.
 */
async function disclosedRecipients(tx: Tx, conversation: Conversation, outsider: boolean): Promise<Mailbox[]> {
  const users = await activeParticipantUsers(tx, conversation.id);
  const members = outsider ? await deskMemberIds(tx, conversation) : new Set<number>();
  return users.filter((user) => !members.has(user.id)).map(mailbox);
}

/**
 * A member as the outside person sees them: by name only. Without a name, displayName would fall
 * back to their address's local part; a name holding an address (an admin typed it so) is no
 * better.
 */
function memberNameForOutsider(member: User): string {
  const name = member.name?.trim();
  return name && !name.includes("@") ? name : "Team member";
}

function mailbox(user: User): Mailbox {
  return { name: displayNameText(user.name ?? ""), address: user.email };
}

/** The attachment's Content-ID without brackets; none when it is not a short id (it cannot fold). */
function contentId(row: Attachment): string | undefined {
  const id = row.contentId?.trim().replace(/^<|>$/g, "");
  return id && id.length <= 200 && /^[\x21-\x3b\x3d\x3f-\x7e]+$/.test(id) ? id : undefined;
}

function attachment(row: Attachment, postMessageId: string): DraftAttachment {
  const cid = contentId(row);
  return {
    ...(row.filename ? { filename: attachmentFilename(row.filename) } : {}),
    contentType: attachmentContentType(row.contentType),
    content: row.content,
    disposition: row.inline ? "inline" : "attachment",
    // With a cid and an HTML part, it goes in multipart/related beside the HTML.
    ...(cid ? { cid } : {}),
    // A sent post's files never change: its copies share one encoding of each.
    shareKey: `${postMessageId} ${row.id}`,
  };
}
