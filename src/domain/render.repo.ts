import { and, asc, eq, gt, inArray, isNotNull, lte, sql, type SQL } from "drizzle-orm";
import type { Db, Query, QueryBuilder, Tables, Tx } from "../db/store.js";
import { unchangingPostReads } from "./posts.repo.js";
import type { Participant, User } from "./records.js";

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

/** Participants of the conversation `conversationId` with their users, those `which` picks among them. */
const participantsWithUsersOf = (db: Db, t: Tables, which: SQL) =>
  db
    .select({ participant: t.participants, user: t.users })
    .from(t.participants)
    .innerJoin(t.users, eq(t.users.id, t.participants.userId))
    .where(and(eq(t.participants.conversationId, p("conversationId")), which));

const recipientIn = (db: Db, t: Tables) => participantsWithUsersOf(db, t, eq(t.participants.userId, p("userId")));

/**
 * The recipient of a post's copy with their participant row, in one read: what each copy reads of
 * its own. Undefined when they are not a participant (or no longer a user).
 */
export async function participantWithUser(tx: Tx, conversationId: number, userId: number): Promise<{ participant: Participant; user: User } | undefined> {
  return tx.one(recipientIn, { conversationId, userId });
}

/** How many recipients one read of participantsAmong asks for: its places are fixed, so it is prepared once. */
const RECIPIENTS_PER_READ = 16;
const recipientPlaces = Array.from({ length: RECIPIENTS_PER_READ }, (_, i) => `user${i}`);
/** No user has this id: it fills the places a read does not need. */
const NO_USER = -1;

const recipientsIn = (db: Db, t: Tables) =>
  participantsWithUsersOf(
    db,
    t,
    inArray(
      t.participants.userId,
      recipientPlaces.map((place) => p(place)),
    ),
  );

/**
 * participantWithUser for several recipients of one conversation at once (a claim's copies to
 * it), RECIPIENTS_PER_READ to a read: by user id, without those who are not participants.
 */
export async function participantsAmong(tx: Tx, conversationId: number, userIds: readonly number[]): Promise<Map<number, { participant: Participant; user: User }>> {
  const found = new Map<number, { participant: Participant; user: User }>();
  for (let from = 0; from < userIds.length; from += RECIPIENTS_PER_READ) {
    const values: Record<string, unknown> = { conversationId };
    recipientPlaces.forEach((place, i) => (values[place] = userIds[from + i] ?? NO_USER));
    for (const row of await tx.all(recipientsIn, values)) found.set(row.user.id, row);
  }
  return found;
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
 * Remembers, for a short while, what copies of the same post read about it: the copies of one
 * claim share their post's reads already (outbound's PostCopies), so this serves the copies a
 * later claim takes (a post to a thousand participants spans twenty claims), the next posts of a
 * burst reading the same earlier posts, and the other kinds of mail. Bounded in age and in bytes
 * (an idle worker keeps at most that); what may change (a recipient, the conversation, its
 * members) is never kept here.
 */
export class SentPostReads {
  /**
   * Two generations, each holding what was read within half the age limit: an answer is served
   * for between half the limit and the whole of it, and expiry drops a whole generation at once.
   * (Deleting the oldest entries of one Map one by one and looking for the next oldest walks over
   * the deleted ones again each time, which cost more than the reads saved.)
   */
  private current = new Generation();
  private previous = new Generation();
  private startedAt = performance.now();
  private readonly queryKeys = new Map<QueryBuilder, number>();

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
    this.age();
    const known = this.current.answers.get(key) ?? this.previous.answers.get(key);
    if (known) return copied(known.answer) as T;
    const answer = await read();
    const weight = weigh(answer);
    if (weight !== undefined && !this.current.answers.has(key)) {
      const bytes = weight + ENTRY_OVERHEAD_BYTES;
      if (bytes <= this.limits.bytes) {
        if (this.current.bytes + this.previous.bytes + bytes > this.limits.bytes) this.previous = new Generation();
        if (this.current.bytes + bytes > this.limits.bytes) this.current = new Generation();
        this.current.answers.set(key, { answer, bytes });
        this.current.bytes += bytes;
      }
    }
    return copied(answer) as T;
  }

  private age(): void {
    const now = performance.now();
    const elapsed = now - this.startedAt;
    if (elapsed < this.limits.ageMs / 2) return;
    this.previous = elapsed < this.limits.ageMs ? this.current : new Generation();
    this.current = new Generation();
    this.startedAt = now;
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

class Generation {
  readonly answers = new Map<string, { readonly answer: unknown; readonly bytes: number }>();
  bytes = 0;
}

/** Callers may reorder the lists they get (earlierSentPosts reverses one); the remembered one stays as read. */
function copied(answer: unknown): unknown {
  return Array.isArray(answer) ? [...answer] : answer;
}
