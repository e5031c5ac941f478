import { MAX_RESPONSE_LEVELS, threadIndexAt, threadIndexRootOr } from "../domain/thread-index.js";
import { headerText } from "./user-text.js";

/**
 * Threading headers for the copies of a conversation. Pure: the renderers load the posts and
 * these functions decide Subject, In-Reply-To, References, Thread-Index and Thread-Topic.
 *
 * How the clients group (see test/app/threading-clients.test.ts, which runs their rules):
 * - Gmail: a shared id in Message-ID/In-Reply-To/References, and the same subject once Re:/Fwd: are
 *   stripped. So the subject stays the conversation's, only ever one "Re: ".
 * - Thunderbird, Apple Mail, mutt, notmuch (JWZ, RFC 5256 REFERENCES): the References chain.
 * - Outlook: the first 22 bytes of Thread-Index, else Thread-Topic.
 * Each person's mailbox holds Postern's copies of the others' posts and, in Sent, their own
 * messages under the Message-ID their client gave them (a post's `sourceMessageId`), never
 * Postern's id of their own post: so References names both ids of each earlier post.
 */

/** What threading needs to know about one post. */
export interface ThreadPost {
  readonly id: number;
  readonly parentId: number | null;
  /** Postern's id: the same on every copy. */
  readonly messageId: string;
  /** The Message-ID of the mail the author sent, when the post came by mail. */
  readonly sourceMessageId?: string | null;
  readonly authorId?: number;
  readonly createdAt?: number;
}

export function replySubject(subject: string, isFirstPost: boolean): string {
  const clean = subject.replace(/\s+/g, " ").trim();
  if (isFirstPost || /^re\s*:/i.test(clean)) return clean;
  return `Re: ${clean}`;
}

/**
 * Reply and forward prefixes as mail clients write them in several languages ("Re:", "RE[2]:",
 * "Fwd:", "AW:", "WG:", "SV:", "Antw:"…), each optionally followed by a counter.
 */
const PREFIX = /^\s*(?:re|fw|fwd|aw|wg|sv|vs|tr|rif|antw|doorst|odp|pd|ynt|ilt|res|enc|rv)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*/i;

/** The subject without its reply and forward prefixes: Outlook's normalized subject, Gmail's grouping key. */
export function normalizedSubject(subject: string): string {
  let rest = subject.replace(/\s+/g, " ").trim();
  for (let match = PREFIX.exec(rest); match && match[0].length < rest.length; match = PREFIX.exec(rest)) rest = rest.slice(match[0].length);
  return rest;
}

/**
 * The ancestors of a post, oldest first: its parent, the parent's parent, and so on. A post
 * without a parent answers the post just before it, so a linear conversation is one chain.
 * `earlier` are the conversation's sent posts before this one, in id order.
 */
export function ancestorChain<P extends ThreadPost>(post: Pick<ThreadPost, "id" | "parentId">, earlier: readonly P[]): P[] {
  const byId = new Map(earlier.map((p) => [p.id, p]));
  const chain: P[] = [];
  const seen = new Set<number>([post.id]);
  let current: P | undefined = parentOf(post, earlier, byId);
  // `seen` guards against a corrupt parent cycle turning this into an endless loop.
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    chain.push(current);
    current = parentOf(current, earlier, byId);
  }
  return chain.reverse();
}

function parentOf<P extends ThreadPost>(post: Pick<ThreadPost, "id" | "parentId">, earlier: readonly P[], byId: ReadonlyMap<number, P>): P | undefined {
  if (post.parentId !== null) {
    const parent = byId.get(post.parentId);
    if (parent) return parent;
  }
  let previous: P | undefined;
  for (const candidate of earlier) {
    if (candidate.id >= post.id) break;
    previous = candidate;
  }
  return previous;
}

/**
 * RFC 5322 §3.6.4 lets References grow without bound; long ones get truncated by some servers.
 * `groups` holds each earlier post's ids, oldest first. Keep the root's ids (the first id is what
 * JWZ threads hang from), then as many of the newest as fit.
 */
export function boundReferences(groups: readonly (readonly string[])[], limit: number): string[] {
  const seen = new Set<string>();
  const all: string[] = [];
  for (const group of groups) {
    for (const id of group) {
      if (seen.has(id)) continue;
      seen.add(id);
      all.push(id);
    }
  }
  if (all.length <= limit) return all;
  const root = unique(groups[0] ?? []);
  // With room for the root's ids and at least the newest id, keep them all; else the first only.
  const head = root.length < limit ? root : root.slice(0, 1);
  const tail = all.slice(head.length).slice(-(limit - head.length));
  return [...head, ...tail];
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

/**
 * A Message-ID someone else's client wrote, fit to be repeated in References: one `<…>` of
 * printable ASCII, not absurdly long (an id cannot be folded, and a hostile 2,000-octet one would
 * break the line limit of every copy that names it).
 */
export function isRepeatableMessageId(id: string | null | undefined): id is string {
  return !!id && id.length <= 250 && /^<[\x21-\x3b\x3d\x3f-\x7e]+>$/.test(id);
}

/** One reader's copy: who they are, and which posts' original Message-IDs they may be shown. */
export interface Reader {
  readonly userId: number;
  /**
   * Whether this post's original Message-ID may go to the reader. The outside person of an inbox
   * conversation never sees a member's address, and a member's client may write it (or their
   * host) into the Message-ID: they get no member's original id, and never hold one anyway.
   */
  readonly seesSourceOf: (post: ThreadPost) => boolean;
}

/** The ids one earlier post stands for in a reader's References, the one the reader holds last. */
function idsOf(post: ThreadPost, reader: Reader): string[] {
  const source = isRepeatableMessageId(post.sourceMessageId) && reader.seesSourceOf(post) ? post.sourceMessageId : undefined;
  if (!source) return [post.messageId];
  // The reader's own post is in their Sent folder under its original id; the others' posts reach
  // them as Postern's copies (or, for someone written to directly, as the original).
  return post.authorId === reader.userId ? [post.messageId, source] : [source, post.messageId];
}

/** The id the reader's mailbox holds a post under: their own original, else Postern's copy. */
function heldId(post: ThreadPost, reader: Reader): string {
  const ids = idsOf(post, reader);
  return ids[ids.length - 1] ?? post.messageId;
}

export interface ThreadingInput {
  /** The earlier posts this message follows, oldest first, as the reader may see them. */
  readonly ancestors: readonly ThreadPost[];
  /** The post this message is a copy of; absent for notices, which are about the conversation. */
  readonly own?: ThreadPost;
  /** When this message was written: a notice's time (a post's own time is its createdAt). */
  readonly at: number;
  readonly reader: Reader;
  readonly conversation: { readonly subject: string; readonly threadIndex: string | null; readonly createdAt: number };
  /** The conversation's first post's Message-ID: seeds the Thread-Index of a conversation that has none stored. */
  readonly firstMessageId: string;
  /** conversations.references_limit */
  readonly referencesLimit: number;
}

export interface ThreadingHeaders {
  readonly inReplyTo?: string;
  readonly references?: string[];
  /** Thread-Index and Thread-Topic, ready for Mail.Options.headers. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The threading headers of one reader's copy.
 *
 * - References: for each ancestor its original Message-ID (when the reader may see it) and
 *   Postern's, then the copied post's own original id, so the author of any of these posts finds
 *   the copy grouped with what they sent; bounded, the root kept.
 * - In-Reply-To: the parent as the reader holds it: Postern's id, or, for the parent's own author,
 *   the id of the message they sent (the only one their mailbox has).
 * - Thread-Index: the conversation's root, one response level per reply down to this message.
 * - Thread-Topic: the subject without Re:/Fwd:.
 */
export function threadingHeaders(input: ThreadingInput): ThreadingHeaders {
  const { ancestors, own, reader } = input;
  const groups = ancestors.map((post) => idsOf(post, reader));
  const ownSource = own && isRepeatableMessageId(own.sourceMessageId) && reader.seesSourceOf(own) ? own.sourceMessageId : undefined;
  if (ownSource && ownSource !== own?.messageId) groups.push([ownSource]);
  const references = boundReferences(groups, input.referencesLimit);
  const parent = ancestors[ancestors.length - 1];

  // The first post is the root; each later post on the way down adds one level, this message the
  // last (levels past the first MAX_RESPONSE_LEVELS are not written).
  const replyTimes: number[] = [];
  for (let i = 1; i < ancestors.length && replyTimes.length < MAX_RESPONSE_LEVELS; i++) replyTimes.push(ancestors[i]?.createdAt ?? input.at);
  if (ancestors.length > 0) replyTimes.push(own?.createdAt ?? input.at);
  const topic = headerText(normalizedSubject(input.conversation.subject));
  return {
    ...(parent ? { inReplyTo: heldId(parent, reader) } : {}),
    ...(references.length ? { references } : {}),
    headers: { "Thread-Index": rememberedThreadIndex(input, replyTimes), ...(topic ? { "Thread-Topic": topic } : {}) },
  };
}

/** Thread-Indexes computed lately, by root and reply times: every copy of a post asks for the same one. */
const threadIndexes = new Map<string, string>();
const REMEMBERED_THREAD_INDEXES = 256;

function rememberedThreadIndex(input: ThreadingInput, replyTimes: readonly number[]): string {
  const { threadIndex, createdAt } = input.conversation;
  const key = `${threadIndex ?? ""} ${input.firstMessageId} ${createdAt} ${replyTimes.slice(0, MAX_RESPONSE_LEVELS).join(",")}`;
  let index = threadIndexes.get(key);
  if (index === undefined) {
    index = threadIndexAt(threadIndexRootOr(threadIndex, input.firstMessageId, createdAt), replyTimes);
    if (threadIndexes.size >= REMEMBERED_THREAD_INDEXES) threadIndexes.delete(threadIndexes.keys().next().value as string);
    threadIndexes.set(key, index);
  }
  return index;
}
