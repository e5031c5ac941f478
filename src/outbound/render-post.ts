import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { tokenAddress } from "../domain/addresses.js";
import { activeParticipantUsers, findConversation, findParticipant } from "../domain/conversations.repo.js";
import { findGroupById } from "../domain/groups.repo.js";
import { attachmentsOfPost, findPost, firstSentPosts, latestSentPosts, sentPostLink, type PostLink } from "../domain/posts.repo.js";
import { participantsAmong, participantsBouncingSince, participantWithUser } from "../domain/render.repo.js";
import { MAX_RESPONSE_LEVELS } from "../domain/thread-index.js";
import { newlyBouncing } from "../domain/bounces.service.js";
import { privateReplyOffered } from "../domain/private-replies.service.js";
import type { Attachment, Conversation, Delivery, Group, Participant, Post, User } from "../domain/records.js";
import { findUserById } from "../domain/users.repo.js";
import { displayName } from "../domain/users.service.js";
import { deskMemberIds, visibleTo } from "../domain/visibility.js";
import type { DraftAttachment, Mailbox, MailContent, MailDraft } from "./compose.js";
import { listHeaders } from "./list-headers.js";
import { postBody } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { ancestorChain, isRepeatableMessageId, replySubject, threadingHeaders, type ThreadingHeaders } from "./threading.js";
import { attachmentContentType, attachmentFilename, displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";

/**
 * What the copies of one post read alike: the post, its conversation, author, group and desk,
 * the earlier posts threading links to, its files and who stopped receiving. The copies of a post
 * are claimed together (a post to a hundred people is a hundred rows of one claim): the first of
 * them to be rendered reads these once for the others. The recipients with their participant rows
 * are read for the claim's copies to a conversation together, when the first of them is drafted.
 * Per claim, so what may change (a subject, a name, the desk, a participant leaving) is read
 * again at the next claim; a post's reads are let go once the claim's last copy of it is drafted.
 */
export class PostCopies {
  /** How many of the claim's copies of each post are still to be drafted. */
  private readonly remaining = new Map<number, number>();
  private readonly shared = new Map<number, Promise<SharedPost>>();
  /** The claimed posts of each conversation, by the rows' word, in id order. */
  private readonly claimedPosts = new Map<number, number[]>();
  /** Per conversation, the latest sent posts below its newest claimed post, read once for them all. */
  private readonly latest = new Map<number, Promise<PostLink[]>>();
  /** Per conversation, the earlier posts threading fetched by id: the next post's parents are mostly the same. */
  private readonly links = new Map<number, Map<number, PostLink>>();
  private readonly conversations = new Map<number, Promise<ConversationReads>>();
  /** Per conversation, the recipients of the claim's copies of its posts. */
  private readonly recipientIds = new Map<number, Set<number>>();
  private readonly recipients = new Map<number, Promise<Map<number, { participant: Participant; user: User }>>>();
  private readonly threadReads: ThreadReads = {
    conversation: (tx, id) => remembered(this.conversations, id, () => readConversation(tx, id)),
    latest: (tx, post, limit) => this.latestBefore(tx, post, limit),
    link: (tx, conversationId, id, beforeId) => this.linkBefore(tx, conversationId, id, beforeId),
  };

  /**
   * `reads`: how the shared reads go to the database (the worker's SentPostReads, which keeps a
   * post's unchanging reads for the copies of the next claim too); the copy's own reads go as given.
   */
  constructor(
    rows: readonly Delivery[] = [],
    private readonly reads: (tx: Tx) => Tx = (tx) => tx,
  ) {
    for (const row of rows) {
      if (row.kind !== "post" || row.postId === null) continue;
      if (row.conversationId !== null) {
        const ids = this.recipientIds.get(row.conversationId) ?? new Set<number>();
        ids.add(row.recipientId);
        this.recipientIds.set(row.conversationId, ids);
      }
      const copies = this.remaining.get(row.postId) ?? 0;
      this.remaining.set(row.postId, copies + 1);
      if (copies > 0 || row.conversationId === null) continue;
      const posts = this.claimedPosts.get(row.conversationId) ?? [];
      posts.push(row.postId);
      this.claimedPosts.set(row.conversationId, posts);
    }
    for (const posts of this.claimedPosts.values()) posts.sort((a, b) => a - b);
  }

  /**
   * The recipient of a copy with their participant row (participantWithUser), read through `tx`
   * with the claim's other recipients in the conversation by the first copy that asks: one read
   * for a claim's copies to a conversation instead of one each.
   */
  recipient(tx: Tx, conversationId: number, userId: number): Promise<{ participant: Participant; user: User } | undefined> {
    const ids = this.recipientIds.get(conversationId);
    if (!ids || ids.size < 2 || !ids.has(userId)) return participantWithUser(tx, conversationId, userId);
    return remembered(this.recipients, conversationId, () => participantsAmong(tx, conversationId, [...ids])).then((found) => found.get(userId));
  }

  /** The post's shared reads, made through `tx` by the first copy that asks. */
  of(tx: Tx, config: Config, postId: number): Promise<SharedPost> {
    if (!this.remaining.has(postId)) return readShared(this.reads(tx), config, postId);
    return remembered(this.shared, postId, () => readShared(this.reads(tx), config, postId, this.threadReads));
  }

  /**
   * latestSentPosts for a post of the claim: a burst of posts to one conversation (a claim holds
   * several) reads the latest posts below the newest of them once, `limit` more for each other one,
   * and each takes those below itself. Read for the post alone when that answer cannot tell (other
   * posts of the conversation between them took the room).
   */
  private async latestBefore(tx: Tx, post: Post, limit: number): Promise<PostLink[]> {
    const claimed = this.claimedPosts.get(post.conversationId);
    const newest = claimed?.[claimed.length - 1];
    if (!claimed || newest === undefined || claimed.length < 2 || !claimed.includes(post.id)) return latestSentPosts(tx, post.conversationId, post.id, limit);
    const room = limit + claimed.length - 1;
    const links = await remembered(this.latest, post.conversationId, () => latestSentPosts(tx, post.conversationId, newest, room));
    const below = links.filter((link) => link.id < post.id).slice(0, limit);
    // Newest first and without gaps: enough of them below this post, or every one there is.
    if (below.length === limit || links.length < room) return below;
    return latestSentPosts(tx, post.conversationId, post.id, limit);
  }

  /** sentPostLink, each sent post read once for the claim (a sent post never changes). */
  private async linkBefore(tx: Tx, conversationId: number, id: number, beforeId: number): Promise<PostLink | undefined> {
    let known = this.links.get(conversationId);
    let link = known?.get(id);
    if (!link) {
      link = await sentPostLink(tx, conversationId, id, Number.MAX_SAFE_INTEGER);
      if (!link) return undefined;
      if (!known) this.links.set(conversationId, (known = new Map()));
      known.set(id, link);
    }
    return link.id < beforeId ? link : undefined;
  }

  /** The copy is drafted, or will not be: after the post's last one, its reads are let go. */
  release(row: Delivery): void {
    if (row.kind !== "post" || row.postId === null) return;
    const left = (this.remaining.get(row.postId) ?? 0) - 1;
    if (left > 0) {
      this.remaining.set(row.postId, left);
      return;
    }
    this.remaining.delete(row.postId);
    this.shared.delete(row.postId);
  }
}

/** The answer `read` gives, made once per key; a passing failure (a busy database) is not kept: the next asks again. */
function remembered<T>(answers: Map<number, Promise<T>>, key: number, read: () => Promise<T>): Promise<T> {
  let answer = answers.get(key);
  if (!answer) {
    const reading = read();
    answer = reading;
    reading.catch(() => {
      if (answers.get(key) === reading) answers.delete(key);
    });
    answers.set(key, reading);
  }
  return answer;
}

/** The reads every copy of the post makes alike; each copy checks them in the order it always did. */
interface SharedPost {
  readonly post: Post | undefined;
  readonly conversation?: Conversation;
  readonly author?: User;
  readonly group?: Group;
  /** Present once the post is sent and its conversation, author and group (if any) exist. */
  readonly parts?: PostParts;
}

interface PostParts {
  /** The members of the group answering an inbox conversation; empty without a group. */
  readonly desk: ReadonlySet<number>;
  readonly sentBefore: readonly PostLink[];
  /** Active participants whose address started bouncing between the previous post and this one. */
  readonly bouncing: readonly User[];
  readonly attachments: readonly DraftAttachment[];
  readonly inlineImages: readonly { readonly cid: string; readonly alt: string }[];
  /** Threading as a member of the desk sees it (notes included), and as everyone else does. */
  readonly views: Map<boolean, ThreadView>;
}

/** Threading for the readers who see the same earlier posts. */
interface ThreadView {
  readonly earlier: readonly PostLink[];
  readonly ancestors: readonly PostLink[];
  /**
   * The authors of the posts in the chain (and of the post) whose original ids may be repeated:
   * the only readers whose headers differ from the others'.
   */
  readonly sourceAuthors: ReadonlySet<number>;
  /** Headers by reader: 0 for every reader who wrote none of those posts, else the reader's id. */
  readonly headers: Map<number, ThreadingHeaders>;
}

/** What a post's copies read about its conversation and thread: for one post, or shared by the posts of a claim. */
interface ThreadReads {
  conversation(tx: Tx, id: number): Promise<ConversationReads>;
  /** latestSentPosts of the post's conversation below it, newest first. */
  latest(tx: Tx, post: Post, limit: number): Promise<PostLink[]>;
  /** sentPostLink. */
  link(tx: Tx, conversationId: number, id: number, beforeId: number): Promise<PostLink | undefined>;
}

/** The conversation, the group answering it and that group's members (the desk), as far as they exist. */
interface ConversationReads {
  readonly conversation?: Conversation;
  readonly group?: Group;
  readonly desk: ReadonlySet<number>;
}

async function readConversation(tx: Tx, id: number): Promise<ConversationReads> {
  const conversation = await findConversation(tx, id);
  if (!conversation) return { desk: NO_MEMBERS };
  const group = conversation.groupId === null ? undefined : await findGroupById(tx, conversation.groupId);
  if (conversation.groupId !== null && !group) return { conversation, desk: NO_MEMBERS };
  return { conversation, ...(group ? { group } : {}), desk: await deskMemberIds(tx, conversation) };
}

const POST_READS: ThreadReads = {
  conversation: readConversation,
  latest: (tx, post, limit) => latestSentPosts(tx, post.conversationId, post.id, limit),
  link: sentPostLink,
};

async function readShared(tx: Tx, config: Config, postId: number, reads: ThreadReads = POST_READS): Promise<SharedPost> {
  const post = await findPost(tx, postId);
  if (!post || post.state !== "sent") return { post };
  const { conversation, group, desk } = await reads.conversation(tx, post.conversationId);
  if (!conversation) return { post };
  const author = await findUserById(tx, post.authorId);
  if (!author) return { post, conversation };
  if (conversation.groupId !== null && !group) return { post, conversation, author };
  const sentBefore = await threadPosts(tx, post, config.conversations.references_limit, reads);
  const previousAt = sentBefore[sentBefore.length - 1]?.createdAt;
  const bouncing = newlyBouncing(await participantsBouncingSince(tx, conversation.id, previousAt ?? Number.MIN_SAFE_INTEGER, post.createdAt), previousAt, post.createdAt);
  const files = await attachmentsOfPost(tx, post.id);
  const parts: PostParts = {
    desk,
    sentBefore,
    bouncing,
    attachments: files.map((file) => attachment(file, post.messageId)),
    inlineImages: files.flatMap((f) => {
      const cid = contentId(f);
      return cid && f.inline && f.contentType.startsWith("image/") ? [{ cid, alt: f.filename ?? "" }] : [];
    }),
    views: new Map(),
  };
  return { post, conversation, author, ...(group ? { group } : {}), parts };
}

function threadView(parts: PostParts, post: Post, readsNotes: boolean): ThreadView {
  let view = parts.views.get(readsNotes);
  if (!view) {
    // A note's Message-ID never reaches the outside person.
    const earlier = parts.sentBefore.filter((p) => visibleTo(p, readsNotes));
    const ancestors = ancestorChain(post, earlier);
    const sourceAuthors = new Set<number>();
    for (const p of [...ancestors, post]) if (isRepeatableMessageId(p.sourceMessageId)) sourceAuthors.add(p.authorId);
    view = { earlier, ancestors, sourceAuthors, headers: new Map() };
    parts.views.set(readsNotes, view);
  }
  return view;
}

/** What the caller read already: the recipient, their participant row, the claim's shared reads. */
export interface KnownReads {
  readonly recipient?: User | undefined;
  readonly participant?: Participant | undefined;
  readonly copies?: PostCopies | undefined;
}

/**
 * One recipient's personal copy of a post (SPEC §4). The From is the gateway's, never the
 * author's (DMARC) nor a token (address books would keep it); replies find their way back
 * through the recipient's own Reply-To token.
 */
export async function draftPostDelivery(tx: Tx, config: Config, delivery: Delivery, known: KnownReads = {}): Promise<MailDraft> {
  const { recipient: recipientRow, participant: participantRow, copies } = known;
  const shared = delivery.postId === null ? undefined : await (copies ? copies.of(tx, config, delivery.postId) : readShared(tx, config, delivery.postId));
  const post = shared?.post;
  if (!post) throw new RenderError(`post ${delivery.postId ?? "(none)"} no longer exists`);
  if (post.state !== "sent") throw new RenderError(`post ${post.id} is still a draft`);
  const conversation = shared.conversation;
  if (!conversation) throw new RenderError(`conversation ${post.conversationId} no longer exists`);
  const author = shared.author;
  if (!author) throw new RenderError(`author ${post.authorId} of post ${post.id} no longer exists`);
  const recipient = recipientRow?.id === delivery.recipientId ? recipientRow : await findUserById(tx, delivery.recipientId);
  if (!recipient) throw new RenderError(`recipient ${delivery.recipientId} no longer exists`);
  const participant =
    participantRow?.conversationId === conversation.id && participantRow.userId === recipient.id ? participantRow : await findParticipant(tx, conversation.id, recipient.id);
  if (!participant) throw new RenderError(`${delivery.toAddress} is not a participant of conversation ${conversation.id}`);
  // Their tokens no longer work (SPEC §5), so a copy would invite replies that bounce.
  if (participant.state === "left" || participant.state === "removed") {
    throw new RenderError(`${delivery.toAddress} ${participant.state === "left" ? "left" : "was removed from"} conversation ${conversation.id} before this post was delivered`, "skipped");
  }
  const group = shared.group;
  const parts = shared.parts;
  if (!parts) throw new RenderError(`group ${conversation.groupId ?? "(none)"} no longer exists`);
  // The desk: the members of the group that answers an inbox conversation. They see its internal
  // notes and each other; the outside person sees neither (SPEC §2, §5).
  // The desk set is empty for a conversation without a group (readConversation).
  const onDesk = (userId: number) => parts.desk.has(userId);
  const readsNotes = onDesk(recipient.id);
  if (!visibleTo(post, readsNotes)) {
    throw new RenderError(`${delivery.toAddress} is not a member of the group any more, and post ${post.id} is an internal note`, "skipped");
  }
  const outsider = conversation.kind === "inbox" && !readsNotes;

  const domain = config.primaryDomain;
  const via = displayNameText(group?.name ?? config.gateway.name, MAX_VIA_LENGTH);
  // One line, capped: a From of "<5,000 characters> via …" would break the 998-octet line limit.
  const authorName = displayNameText(outsider && onDesk(author.id) ? memberNameForOutsider(author) : displayName(author));
  const publicReplyAddress = tokenAddress("reply", participant.replyToken, domain);
  // Answering a note continues as a note; the footer names the public reply address instead.
  const replyAddress = post.note ? tokenAddress("note", participant.replyToken, domain) : publicReplyAddress;
  const leaveAddress = tokenAddress("leave", participant.leaveToken, domain);
  const noteAddress = readsNotes && conversation.kind === "inbox" && !post.note ? tokenAddress("note", participant.replyToken, domain) : undefined;
  const privateAddress = privateReplyOffered(conversation, post.authorId, recipient.id, onDesk) ? tokenAddress("private", delivery.bounceToken, domain) : undefined;

  // Threading from the posts this recipient saw.
  const view = threadView(parts, post, readsNotes);
  const members = outsider ? parts.desk : NO_MEMBERS;
  const readerKey = view.sourceAuthors.has(recipient.id) ? recipient.id : 0;
  let threading = view.headers.get(readerKey);
  if (!threading) {
    threading = threadingHeaders({
      ancestors: view.ancestors,
      own: post,
      at: post.createdAt,
      reader: { userId: recipient.id, seesSourceOf: (p) => p.authorId === undefined || !members.has(p.authorId) },
      conversation,
      firstMessageId: (parts.sentBefore[0] ?? post).messageId,
      referencesLimit: config.conversations.references_limit,
    });
    view.headers.set(readerKey, threading);
  }
  // The outside person hears about the other outside people only, never about a member's mailbox.
  const stopped = parts.bouncing.filter((user) => user.id !== recipient.id && !members.has(user.id));
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
    inlineImages: parts.inlineImages,
  });

  const to = config.gateway.disclose_participants
    ? await disclosedRecipients(tx, conversation, members)
    : [{ name: displayNameText(recipient.name ?? ""), address: delivery.toAddress }];

  const mail: MailContent = {
    from: { name: `${authorName} via ${via}${post.note ? " (internal note)" : ""}`, address: group?.inboxAddress ?? config.fromAddress },
    replyTo: replyAddress,
    to,
    subject: headerText(replySubject(conversation.subject, view.earlier.length === 0)),
    date: new Date(post.createdAt),
    ...(threading.inReplyTo ? { inReplyTo: threading.inReplyTo } : {}),
    ...(threading.references ? { references: threading.references } : {}),
    headers: {
      ...threading.headers,
      ...listHeaders({ conversationId: conversation.id, subject: conversation.subject, primaryDomain: domain, replyAddress, leaveAddress }),
    },
    text: body.text,
    html: body.html,
    attachments: parts.attachments,
  };
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    messageId: post.messageId,
    mail,
  };
}

const NO_MEMBERS: ReadonlySet<number> = new Set<number>();

/**
 * The earlier posts threading reads, oldest first, bounded whatever the conversation's size:
 * References keeps the root and the newest ids (each post standing for up to two, and notes some
 * readers do not see taking room), Thread-Index the first response levels of the chain, and
 * In-Reply-To the parent. A reply to an older post has its chain of parents fetched one by one,
 * as far as References reaches.
 */
async function threadPosts(tx: Tx, post: Post, referencesLimit: number, reads: ThreadReads): Promise<PostLink[]> {
  const latest = referencesLimit * 2;
  const loaded = await earlierSentPosts(tx, post, MAX_RESPONSE_LEVELS + 1, latest, reads);
  const byId = new Map(loaded.map((link) => [link.id, link]));
  const fetched: PostLink[] = [];
  let parentId = post.parentId;
  for (let steps = 0; parentId !== null && steps < latest + MAX_RESPONSE_LEVELS; steps++) {
    let parent = byId.get(parentId);
    if (!parent && fetched.length < latest) {
      parent = await reads.link(tx, post.conversationId, parentId, post.id);
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
 * The conversation's first `first` and latest `latest` sent posts before this one, oldest first
 * (both ends through the index, whatever the conversation's size; a shorter conversation comes
 * whole). The first posts are asked for without this post's bound: they
 * are the same for every later post of the conversation, so the posts of a burst share the answer
 * (SentPostReads) instead of each reading it. A conversation too short for that (some of them are
 * among the latest, or not this many) asks again with the bound.
 */
async function earlierSentPosts(tx: Tx, post: Post, first: number, latest: number, reads: ThreadReads): Promise<PostLink[]> {
  const newest = await reads.latest(tx, post, latest);
  newest.reverse();
  const oldest = newest[0];
  if (newest.length < latest || !oldest) return newest;
  let opening = await firstSentPosts(tx, post.conversationId, LARGEST_ID, first);
  if (opening.length < first || opening.some((link) => link.id >= oldest.id)) opening = await firstSentPosts(tx, post.conversationId, oldest.id, first);
  return [...opening, ...newest];
}

/** The largest id either engine's integer key holds. */
const LARGEST_ID = 2_147_483_647;

/**
 * `gateway.disclose_participants`: who the copy shows in To. Members of the desk see everyone;
 * the outside person of an inbox conversation sees the other outside people only, never a
 * member's address.
 */
async function disclosedRecipients(tx: Tx, conversation: Conversation, members: ReadonlySet<number>): Promise<Mailbox[]> {
  const users = await activeParticipantUsers(tx, conversation.id);
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
