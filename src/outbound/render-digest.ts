import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { countUnread, findConversation, findParticipant } from "../domain/conversations.repo.js";
import { activeParticipations, digestPosts, findDigest } from "../domain/digests.repo.js";
import { mintMessageId } from "../domain/message-ids.js";
import type { Conversation, Delivery, Post, User } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import { deskMemberIds } from "../domain/visibility.js";
import type { MailDraft } from "./compose.js";
import { escapeHtml, htmlDocument, linkedParagraphs } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { capText, displayNameText, flattenText, headerText, MAX_FOOTER_SUBJECT_LENGTH, MAX_VIA_LENGTH } from "./user-text.js";

/** A digest shows each post's beginning; the whole post is one reply away in the conversation. */
const MAX_POST_CHARS = 1500;

interface Section {
  readonly subject: string;
  /** reply+TOKEN@ of the reader; absent when they no longer take part. */
  readonly replyAddress?: string;
  readonly posts: readonly { readonly author: string; readonly at: Date; readonly body: string }[];
}

/**
 * One reader's digest (SPEC §6): for each conversation its subject, its new posts (who, when, the
 * text trimmed) and the reader's own reply address for it. From conversations@, so that a reply to
 * the digest itself reaches the gateway and is refused with a sentence saying where to write.
 */
export async function draftDigestDelivery(tx: Tx, config: Config, delivery: Delivery): Promise<MailDraft> {
  const digest = delivery.digestId === null ? undefined : await findDigest(tx, delivery.digestId);
  if (!digest) throw new RenderError(`digest ${delivery.digestId ?? "(none)"} no longer exists`);
  const recipient = await findUserById(tx, digest.userId);
  if (!recipient) throw new RenderError(`recipient ${digest.userId} no longer exists`);
  const domain = config.primaryDomain;

  const byConversation = new Map<number, Post[]>();
  for (const post of await digestPosts(tx, digest.id)) byConversation.set(post.conversationId, [...(byConversation.get(post.conversationId) ?? []), post]);
  const sections: Section[] = [];
  for (const [conversationId, posts] of byConversation) {
    const conversation = await findConversation(tx, conversationId);
    if (!conversation) throw new RenderError(`conversation ${conversationId} no longer exists`);
    const participant = await findParticipant(tx, conversationId, recipient.id);
    const names = await authorNames(tx, conversation, recipient, posts);
    sections.push({
      subject: conversation.subject,
      ...(participant?.state === "active" ? { replyAddress: tokenAddress("reply", participant.replyToken, domain) } : {}),
      posts: posts.map((post) => ({ author: names.get(post.authorId) ?? "Someone", at: new Date(post.createdAt), body: post.body })),
    });
  }
  // Muted conversations appear as a count only, and only in a digest sent anyway.
  const muted: { subject: string; unread: number }[] = [];
  for (const row of await activeParticipations(tx, recipient.id)) {
    if (row.participant.delivery !== "mute") continue;
    const unread = await countUnread(tx, row.conversation.id, recipient.id);
    if (unread > 0) muted.push({ subject: row.conversation.subject, unread });
  }

  const site = displayNameText(config.gateway.name, MAX_VIA_LENGTH);
  const count = sections.length;
  const body = digestBody(sections, muted, site);
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    messageId: mintMessageId(config, "digest", delivery.bounceToken),
    mail: {
      from: { name: site, address: config.fromAddress },
      to: { name: displayNameText(recipient.name ?? ""), address: delivery.toAddress },
      subject: headerText(`Unread: ${count} ${count === 1 ? "conversation" : "conversations"} (${site})`),
      date: new Date(digest.createdAt),
      headers: { "Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All" },
      text: body.text,
      html: body.html,
    },
  };
}

/** Authors by name, never by address; a team member seen by the outside person of an inbox conversation by name only. */
async function authorNames(tx: Tx, conversation: Conversation, reader: User, posts: readonly Post[]): Promise<Map<number, string>> {
  const members = conversation.kind === "inbox" ? await deskMemberIds(tx, conversation) : new Set<number>();
  const outsider = conversation.kind === "inbox" && !members.has(reader.id);
  const names = new Map<number, string>();
  for (const post of posts) {
    if (names.has(post.authorId)) continue;
    const author = await findUserById(tx, post.authorId);
    const name = author ? displayName(author) : "Someone";
    names.set(post.authorId, outsider && members.has(post.authorId) && (!author?.name?.trim() || name.includes("@")) ? "Team member" : name);
  }
  return names;
}

function digestBody(sections: readonly Section[], muted: readonly { subject: string; unread: number }[], site: string): { text: string; html: string } {
  const quote = (subject: string) => `"${capText(flattenText(subject), MAX_FOOTER_SUBJECT_LENGTH)}"`;
  const intro = `New messages on ${site} that you have not received yet, oldest first in each conversation.`;
  const closing = "Replying to this digest does not reach anyone: to answer a conversation, write to the address listed under it.";
  const text: string[] = [intro];
  const html: string[] = [`<p>${escapeHtml(intro)}</p>`];
  for (const section of sections) {
    text.push(`== ${quote(section.subject)} ==`);
    html.push(`<h3 style="margin:24px 0 8px">${escapeHtml(quote(section.subject))}</h3>`);
    for (const post of section.posts) {
      const heading = `----- ${displayNameText(post.author) || "Someone"}, ${post.at.toUTCString()} -----`;
      const trimmed = capText(post.body.trim(), MAX_POST_CHARS) || "(no text)";
      text.push(`${heading}\n${trimmed}`);
      html.push(`<p style="color:#666">${escapeHtml(heading)}</p>\n${linkedParagraphs(trimmed)}`);
    }
    if (section.replyAddress) {
      text.push(`To answer in this conversation, send an email to ${section.replyAddress}.`);
      html.push(`<p>To answer in this conversation, send an email to <a href="mailto:${escapeHtml(section.replyAddress)}">${escapeHtml(section.replyAddress)}</a>.</p>`);
    }
  }
  for (const entry of muted) {
    const line = `Muted: ${entry.unread} unread ${entry.unread === 1 ? "message" : "messages"} in ${quote(entry.subject)}.`;
    text.push(line);
    html.push(`<p style="color:#666">${escapeHtml(line)}</p>`);
  }
  text.push(`-- \n${closing}`);
  html.push(`<hr style="border:none;border-top:1px solid #ddd;margin:24px 0 8px">\n<p style="color:#666;font-size:12px">${escapeHtml(closing)}</p>`);
  return { text: `${text.join("\n\n")}\n`, html: htmlDocument(html.join("\n")) };
}
