/**
 * Threading headers for a post's copies. Pure: the renderer loads the conversation's posts and
 * these functions decide Subject, In-Reply-To and References from them.
 *
 * Gmail groups by subject plus References, Outlook by subject (Thread-Topic aside), Apple Mail and
 * Thunderbird by References: so the subject stays the conversation's, only ever one "Re: ".
 */

/** The minimum the threading rules need to know about one earlier post. */
export interface ThreadPost {
  readonly id: number;
  readonly parentId: number | null;
  readonly messageId: string;
}

export function replySubject(subject: string, isFirstPost: boolean): string {
  const clean = subject.replace(/\s+/g, " ").trim();
  if (isFirstPost || /^re\s*:/i.test(clean)) return clean;
  return `Re: ${clean}`;
}

/**
 * The ancestors of a post, oldest first: its parent, the parent's parent, and so on. A post
 * without a parent answers the post just before it, so a linear conversation is one chain.
 * `earlier` are the conversation's sent posts before this one, in id order.
 */
export function ancestorChain(post: Pick<ThreadPost, "id" | "parentId">, earlier: readonly ThreadPost[]): ThreadPost[] {
  const byId = new Map(earlier.map((p) => [p.id, p]));
  const chain: ThreadPost[] = [];
  const seen = new Set<number>([post.id]);
  let current: ThreadPost | undefined = parentOf(post, earlier, byId);
  // `seen` guards against a corrupt parent cycle turning this into an endless loop.
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    chain.push(current);
    current = parentOf(current, earlier, byId);
  }
  return chain.reverse();
}

function parentOf(
  post: Pick<ThreadPost, "id" | "parentId">,
  earlier: readonly ThreadPost[],
  byId: ReadonlyMap<number, ThreadPost>,
): ThreadPost | undefined {
  if (post.parentId !== null) {
    const parent = byId.get(post.parentId);
    if (parent) return parent;
  }
  let previous: ThreadPost | undefined;
  for (const candidate of earlier) {
    if (candidate.id >= post.id) break;
    previous = candidate;
  }
  return previous;
}

/**
 * RFC 5322 §3.6.4 lets References grow without bound; long ones get truncated by some servers.
 * Keep the first id (the thread root, which clients group on) and the most recent ones.
 */
export function boundReferences(ids: readonly string[], limit: number): string[] {
  if (ids.length <= limit) return [...ids];
  const first = ids[0];
  const tail = ids.slice(ids.length - (limit - 1));
  return first === undefined ? tail : [first, ...tail];
}
