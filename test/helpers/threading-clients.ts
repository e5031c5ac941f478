import { randomBytes } from "node:crypto";
import { simpleParser } from "mailparser";

/**
 * How mail clients group a mailbox into threads, written from their published rules so a test can
 * run Postern's copies (and what each person sent) through them:
 *
 * - Gmail: a message joins a thread when it shares a Message-ID (its own, In-Reply-To or
 *   References) with a message of that thread and its subject, Re:/Fwd: stripped, is the same.
 * - Outlook: the conversation is the first 22 bytes of Thread-Index (the header block: time and
 *   GUID). A message without one (sent from another client) takes the conversation of the message
 *   its In-Reply-To names when the mailbox holds it (as Exchange files it), else falls back to its
 *   Thread-Topic (else its subject without prefixes), joining the conversation whose messages carry
 *   that topic. (A topic alone would merge two conversations of one subject whenever some message
 *   lacks Thread-Index: that is Outlook's, whatever the sender does.)
 * - JWZ (RFC 5256 THREAD=REFERENCES without subject gathering; Thunderbird, Apple Mail, mutt,
 *   notmuch): a container per Message-ID, each References list linked parent to child in order,
 *   the message's parent being its last reference (or In-Reply-To when it has no References);
 *   a thread is everything under one root.
 *
 * Each returns the messages' keys grouped into threads.
 */

export interface MailboxMessage {
  /** What the test calls it: "ann sent 1", "bob got post 3"… */
  readonly key: string;
  readonly messageId: string;
  readonly inReplyTo: readonly string[];
  readonly references: readonly string[];
  readonly subject: string;
  /** The Thread-Index header's bytes, when it has a valid one. */
  readonly threadIndex?: Buffer;
  readonly threadTopic?: string;
}

const MESSAGE_ID = /<[^<>\s]+>/g;

/** Reads the headers the three rules look at from a raw message, as a client's parser would. */
export async function mailboxMessage(key: string, raw: Buffer | string): Promise<MailboxMessage> {
  const parsed = await simpleParser(raw);
  const header = (name: string): string | undefined => {
    const value = parsed.headers.get(name);
    return typeof value === "string" ? value : undefined;
  };
  const ids = (value: string | string[] | undefined): string[] => (Array.isArray(value) ? value.join(" ") : value ?? "").match(MESSAGE_ID) ?? [];
  const index = header("thread-index");
  const bytes = index ? Buffer.from(index.replace(/\s+/g, ""), "base64") : undefined;
  if (!parsed.messageId) throw new Error(`${key} has no Message-ID`);
  return {
    key,
    messageId: parsed.messageId,
    inReplyTo: ids(parsed.inReplyTo),
    references: ids(parsed.references),
    subject: parsed.subject ?? "",
    ...(bytes && bytes.length >= 22 && (bytes.length - 22) % 5 === 0 ? { threadIndex: bytes } : {}),
    ...(header("thread-topic") ? { threadTopic: header("thread-topic") } : {}),
  };
}

/** Reply and forward prefixes in the languages clients write them in. */
export function strippedSubject(subject: string): string {
  let rest = subject.replace(/\s+/g, " ").trim();
  for (;;) {
    const match = /^(?:re|fw|fwd|aw|wg|sv|antw|tr|rif)\s*(?:\[\d+\])?\s*:\s*/i.exec(rest);
    if (!match || match[0].length === rest.length) return rest;
    rest = rest.slice(match[0].length);
  }
}

/** Union-find over message keys. */
class Groups {
  private readonly parent = new Map<string, string>();
  add(key: string): void {
    if (!this.parent.has(key)) this.parent.set(key, key);
  }
  find(key: string): string {
    let root = key;
    while (this.parent.get(root) !== root) root = this.parent.get(root)!;
    this.parent.set(key, root);
    return root;
  }
  union(a: string, b: string): void {
    this.parent.set(this.find(a), this.find(b));
  }
  threads(keys: readonly string[]): string[][] {
    const byRoot = new Map<string, string[]>();
    for (const key of keys) byRoot.set(this.find(key), [...(byRoot.get(this.find(key)) ?? []), key]);
    return [...byRoot.values()];
  }
}

export function gmailThreads(mailbox: readonly MailboxMessage[]): string[][] {
  const groups = new Groups();
  for (const m of mailbox) groups.add(m.key);
  const idsOf = (m: MailboxMessage) => new Set([m.messageId, ...m.inReplyTo, ...m.references]);
  for (const a of mailbox) {
    for (const b of mailbox) {
      if (a === b || strippedSubject(a.subject).toLowerCase() !== strippedSubject(b.subject).toLowerCase()) continue;
      const shared = [...idsOf(a)].some((id) => idsOf(b).has(id));
      if (shared) groups.union(a.key, b.key);
    }
  }
  return groups.threads(mailbox.map((m) => m.key));
}

export function outlookThreads(mailbox: readonly MailboxMessage[]): string[][] {
  const groups = new Groups();
  const topicOf = (m: MailboxMessage) => (m.threadTopic ?? strippedSubject(m.subject)).toLowerCase();
  const byId = new Map(mailbox.map((m) => [m.messageId, m]));
  /** The Thread-Index header a message is filed under: its own, else the one of the message it answers. */
  const indexOf = (m: MailboxMessage, seen = new Set<string>()): Buffer | undefined => {
    if (m.threadIndex) return m.threadIndex.subarray(0, 22);
    const parent = m.inReplyTo[0] === undefined ? undefined : byId.get(m.inReplyTo[0]);
    if (!parent || seen.has(parent.messageId)) return undefined;
    return indexOf(parent, seen.add(m.messageId));
  };
  for (const m of mailbox) {
    const index = indexOf(m);
    const conversation = index ? `index:${index.toString("hex")}` : `topic:${topicOf(m)}`;
    groups.add(m.key);
    groups.add(conversation);
    groups.union(m.key, conversation);
  }
  // A message filed by topic joins the conversation of the messages carrying that topic.
  for (const m of mailbox) {
    if (indexOf(m)) continue;
    for (const other of mailbox) if (other.threadIndex && topicOf(other) === topicOf(m)) groups.union(m.key, other.key);
  }
  return groups.threads(mailbox.map((m) => m.key));
}

export function jwzThreads(mailbox: readonly MailboxMessage[]): string[][] {
  const parentOf = new Map<string, string>();
  const ids = new Set<string>();
  const isAncestor = (candidate: string, of: string): boolean => {
    for (let at: string | undefined = of; at !== undefined; at = parentOf.get(at)) if (at === candidate) return true;
    return false;
  };
  const link = (parent: string, child: string, force: boolean) => {
    if (parent === child || isAncestor(child, parent)) return;
    if (parentOf.has(child) && !force) return;
    parentOf.set(child, parent);
  };
  for (const m of mailbox) {
    ids.add(m.messageId);
    const chain = m.references.length ? m.references : m.inReplyTo.slice(0, 1);
    for (const id of chain) ids.add(id);
    for (let i = 1; i < chain.length; i++) link(chain[i - 1]!, chain[i]!, false);
    const last = chain[chain.length - 1];
    if (last) link(last, m.messageId, true);
    else parentOf.delete(m.messageId);
  }
  const rootOf = (id: string): string => {
    let at = id;
    while (parentOf.has(at)) at = parentOf.get(at)!;
    return at;
  };
  const byRoot = new Map<string, string[]>();
  for (const m of mailbox) byRoot.set(rootOf(m.messageId), [...(byRoot.get(rootOf(m.messageId)) ?? []), m.key]);
  return [...byRoot.values()];
}

/**
 * What Outlook writes as the Thread-Index of a reply (MS-OXOMSG §2.2.1.3): the message's index and
 * one response level, the time since the header's FILETIME (its top 40 bits) in bits 18..48, then
 * a random nibble and a sequence nibble. Answering a message without one, it starts a new header.
 */
export function outlookReplyIndex(parentIndex: string | undefined, now: number): string {
  const nowTime = BigInt(now) * 10_000n + 116_444_736_000_000_000n;
  if (!parentIndex) {
    const header = Buffer.concat([Buffer.from([0x01]), Buffer.from((nowTime >> 24n).toString(16).padStart(10, "0"), "hex"), randomBytes(16)]);
    return header.toString("base64");
  }
  const parent = Buffer.from(parentIndex, "base64");
  const headerTime = BigInt(`0x${parent.subarray(1, 6).toString("hex")}`) << 24n;
  const delta = nowTime - headerTime;
  const level = Buffer.alloc(5);
  level.writeUInt32BE(Number((delta >> 18n) & 0x7fffffffn), 0);
  level[4] = 0x5a;
  return Buffer.concat([parent, level]).toString("base64");
}
