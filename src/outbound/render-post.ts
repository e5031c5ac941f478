import type Mail from "nodemailer/lib/mailer/index.js";
import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { activeParticipantUsers, findConversation, findParticipant } from "../domain/conversations.repo.js";
import { findGroupById } from "../domain/groups.repo.js";
import { attachmentsOfPost, earlierSentPosts, findPost } from "../domain/posts.repo.js";
import type { Attachment, Delivery, User } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import type { MailDraft } from "./compose.js";
import { listHeaders } from "./list-headers.js";
import { postBody } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { ancestorChain, boundReferences, replySubject } from "./threading.js";
import { displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";

/**
 * One recipient's personal copy of a post (SPEC §4). The From is the gateway's, never the
 * author's (DMARC) nor a token (address books would keep it); replies find their way back
 * through the recipient's own Reply-To token.
 */
export async function draftPostDelivery(tx: Tx, config: Config, delivery: Delivery): Promise<MailDraft> {
  const post = delivery.postId === null ? undefined : await findPost(tx, delivery.postId);
  if (!post) throw new RenderError(`post ${delivery.postId ?? "(none)"} no longer exists`);
  if (post.state !== "sent") throw new RenderError(`post ${post.id} is still a draft`);
  const conversation = await findConversation(tx, post.conversationId);
  if (!conversation) throw new RenderError(`conversation ${post.conversationId} no longer exists`);
  const author = await findUserById(tx, post.authorId);
  if (!author) throw new RenderError(`author ${post.authorId} of post ${post.id} no longer exists`);
  const recipient = await findUserById(tx, delivery.recipientId);
  if (!recipient) throw new RenderError(`recipient ${delivery.recipientId} no longer exists`);
  const participant = await findParticipant(tx, conversation.id, recipient.id);
  if (!participant) throw new RenderError(`${delivery.toAddress} is not a participant of conversation ${conversation.id}`);
  // Their tokens no longer work (SPEC §5), so a copy would invite replies that bounce.
  if (participant.state === "left" || participant.state === "removed") {
    throw new RenderError(`${delivery.toAddress} ${participant.state === "left" ? "left" : "was removed from"} conversation ${conversation.id} before this post was delivered`, "skipped");
  }
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  if (conversation.groupId !== null && !group) throw new RenderError(`group ${conversation.groupId} no longer exists`);

  const domain = config.primaryDomain;
  const via = displayNameText(group?.name ?? config.gateway.name, MAX_VIA_LENGTH);
  // One line, capped: a From of "<5,000 characters> via …" would break the 998-octet line limit.
  const authorName = displayNameText(displayName(author));
  const replyAddress = tokenAddress("reply", participant.replyToken, domain);
  const leaveAddress = tokenAddress("leave", participant.leaveToken, domain);

  const earlier = await earlierSentPosts(tx, conversation.id, post.id);
  const ancestors = ancestorChain(post, earlier);
  const parent = ancestors[ancestors.length - 1];
  const references = boundReferences(ancestors.map((p) => p.messageId), config.conversations.references_limit);
  const files = await attachmentsOfPost(tx, post.id);
  const body = postBody({
    body: post.body,
    authorName,
    conversationSubject: conversation.subject,
    via,
    leaveAddress,
    inlineImages: files.flatMap((f) => {
      const cid = contentId(f);
      return cid && f.inline && f.contentType.startsWith("image/") ? [{ cid, alt: f.filename ?? "" }] : [];
    }),
  });

  const to = config.gateway.disclose_participants
    ? (await activeParticipantUsers(tx, conversation.id)).map(mailbox)
    : [{ name: displayNameText(recipient.name ?? ""), address: delivery.toAddress }];

  const mail: Mail.Options = {
    from: { name: `${authorName} via ${via}`, address: group?.inboxAddress ?? config.fromAddress },
    replyTo: replyAddress,
    to,
    subject: headerText(replySubject(conversation.subject, earlier.length === 0)),
    date: new Date(post.createdAt),
    ...(parent ? { inReplyTo: parent.messageId, references } : {}),
    headers: listHeaders({ conversationId: conversation.id, subject: conversation.subject, primaryDomain: domain, replyAddress, leaveAddress }),
    text: body.text,
    html: body.html,
    attachments: files.map(attachment),
  };
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    messageId: post.messageId,
    mail,
  };
}


function mailbox(user: User): Mail.Address {
  return { name: displayNameText(user.name ?? ""), address: user.email };
}

function contentId(row: Attachment): string | undefined {
  return row.contentId?.trim().replace(/^<|>$/g, "") || undefined;
}

function attachment(row: Attachment): Mail.Attachment {
  const cid = contentId(row);
  return {
    ...(row.filename ? { filename: row.filename } : {}),
    contentType: row.contentType,
    content: row.content,
    contentDisposition: row.inline ? "inline" : "attachment",
    // With a cid and an HTML part, MailComposer puts it in multipart/related beside the HTML.
    ...(cid ? { cid } : {}),
  };
}
