import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import type { Db, Query, QueryBuilder, Tables, Tx } from "../db/store.js";
import { unchangingPostReads } from "./posts.repo.js";
import type { User } from "./records.js";

const p = sql.placeholder;

/**
 * Active participants whose mail started bouncing in a time window: only those few rows, so a
 * copy of a post to a hundred people does not read the hundred participants once per copy.
 */
const bouncingIn = (db: Db, t: Tables) =>
  db
    .select({ user: t.users })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .where(
      and(
        eq(t.participants.conversationId, p("conversationId")),
        eq(t.participants.state, "active"),
        isNotNull(t.users.bouncingSince),
        gt(t.users.bouncingSince, p("after")),
        lte(t.users.bouncingSince, p("until")),
      ),
    )
    .orderBy(asc(t.participants.id));

/** Active participants of the conversation whose address started bouncing after `after` and by `until` (Unix ms). */
export async function participantsBouncingSince(tx: Tx, conversationId: number, after: number, until: number): Promise<User[]> {
  return (await tx.all(bouncingIn, { conversationId, after, until })).map((row) => row.user);
}

/**
 * What copies of a post read alike, kept for them: posts.repo.ts's unchanging reads, and who
 * stopped receiving between the previous post and this one (a window in the past; an address
 * reset meanwhile would still be named for a moment).
 */
const copyInvariantReads = new Map<QueryBuilder, (answer: unknown) => number | undefined>([
  ...unchangingPostReads,
  [bouncingIn, (answer) => (Array.isArray(answer) ? 0 : undefined)],
]);

/** Every answer weighs at least this much (the key, the row objects around the bytes). */
const ENTRY_OVERHEAD_BYTES = 512;

export interface SentPostReadLimits {
  /** How long an answer is served from memory after it was read. */
  readonly ageMs: number;
  /** What the kept answers may weigh together; a heavier one (a big post's texts or files) is read per copy. */
  readonly bytes: number;
}

/**
 * Remembers, for a short while, what copies of the same post read about it, so that the second
 * and later copies of a burst (a post to a hundred participants is a hundred copies claimed at
 * once) do not read the post, its attachments and its thread again. Bounded in age and in bytes
 * (an idle worker keeps at most that); what a copy reads about its recipient, the conversation
 * and its members is read afresh.
 */
export class SentPostReads {
  /** In the order they were read, so the oldest come first. */
  private readonly answers = new Map<string, { readonly at: number; readonly answer: unknown; readonly bytes: number }>();
  private readonly queryKeys = new Map<QueryBuilder, number>();
  private bytes = 0;

  constructor(private readonly limits: SentPostReadLimits = { ageMs: 2000, bytes: 8 * 1024 * 1024 }) {}

  /** `tx`, with those reads answered from memory when a copy of the same post made them a moment ago. */
  over(tx: Tx): Tx {
    return {
      db: tx.db,
      t: tx.t,
      one: (query, values) => this.remembered(query, values, () => tx.one(query, values)),
      all: (query, values) => this.remembered(query, values, () => tx.all(query, values)),
      run: (query, values) => tx.run(query, values),
      rows: (build) => tx.rows(build),
      savepoint: (work) => tx.savepoint(work),
      afterCommit: (effect) => tx.afterCommit(effect),
    };
  }

  private async remembered<T>(query: Query, values: Record<string, unknown> | undefined, read: () => Promise<T>): Promise<T> {
    const weigh = typeof query === "function" ? copyInvariantReads.get(query) : undefined;
    if (!weigh) return read();
    const key = `${this.keyOf(query as QueryBuilder)}:${JSON.stringify(values ?? {})}`;
    this.forgetOlderThan(performance.now() - this.limits.ageMs);
    const known = this.answers.get(key);
    if (known) return copied(known.answer) as T;
    const answer = await read();
    const weight = weigh(answer);
    if (weight !== undefined && !this.answers.has(key)) {
      const bytes = weight + ENTRY_OVERHEAD_BYTES;
      if (bytes <= this.limits.bytes) {
        while (this.bytes + bytes > this.limits.bytes && this.answers.size > 0) this.forgetOldest();
        // Stamped when it is stored, so the map stays in the order of the stamps.
        this.answers.set(key, { at: performance.now(), answer, bytes });
        this.bytes += bytes;
      }
    }
    return copied(answer) as T;
  }

  private forgetOlderThan(time: number): void {
    for (const entry of this.answers.values()) {
      if (entry.at >= time) return;
      this.forgetOldest();
    }
  }

  private forgetOldest(): void {
    const [key, entry] = this.answers.entries().next().value ?? [];
    if (key === undefined || !entry) return;
    this.answers.delete(key);
    this.bytes -= entry.bytes;
  }

  private keyOf(query: QueryBuilder): number {
    let key = this.queryKeys.get(query);
    if (key === undefined) {
      key = this.queryKeys.size;
      this.queryKeys.set(query, key);
    }
    return key;
  }
}

/** Callers may reorder the lists they get (earlierSentPosts reverses one); the remembered one stays as read. */
function copied(answer: unknown): unknown {
  return Array.isArray(answer) ? [...answer] : answer;
}
