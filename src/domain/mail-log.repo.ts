import { and, count, desc, eq, getTableColumns, gte, inArray, notLike, sql } from "drizzle-orm";
import { setParam, type Db, type Tables, type Tx } from "../db/store.js";
import type { MailLogEntry, MailLogOutcome } from "./records.js";

export type NewMailLogEntry = Omit<MailLogEntry, "id" | "conversationId" | "postId" | "dedupeKey" | "raw" | "authResults"> & {
  readonly dedupeKey?: string | null;
  /** The sender-authentication summary line (SPEC §3); null when it was not computed. */
  readonly authResults?: string | null;
  readonly raw: Buffer | null;
  readonly conversationId?: number | null;
  readonly postId?: number | null;
};

export interface MailLogOutcomePatch {
  readonly outcome: MailLogOutcome;
  readonly reason: string;
  readonly smtpCode: number;
  readonly conversationId: number | null;
  readonly postId: number | null;
  /** Null releases the deduplication key, so a refused message is judged afresh next time. */
  readonly dedupeKey: string | null;
  /** The bytes the entry keeps: all of an accepted message's, an excerpt of a refused one's (pipeline.ts). */
  readonly raw: Buffer | null;
}

const p = sql.placeholder;

const insert = (db: Db, t: Tables) =>
  db
    .insert(t.inboundMessages)
    .values({
      receivedAt: p("receivedAt"),
      sessionId: p("sessionId"),
      remoteAddress: p("remoteAddress"),
      mailFrom: p("mailFrom"),
      rcptTo: p("rcptTo"),
      fromAddress: p("fromAddress"),
      messageId: p("messageId"),
      dedupeKey: p("dedupeKey"),
      subject: p("subject"),
      outcome: p("outcome"),
      reason: p("reason"),
      smtpCode: p("smtpCode"),
      conversationId: p("conversationId"),
      postId: p("postId"),
      size: p("size"),
      raw: p("raw"),
      authResults: p("authResults"),
    })
    // The first arrival of a message holds its key; a repeat inserts nothing and learns so here.
    .onConflictDoNothing({ target: t.inboundMessages.dedupeKey })
    .returning({ id: t.inboundMessages.id });
const settle = (db: Db, t: Tables) =>
  db
    .update(t.inboundMessages)
    .set({
      outcome: setParam("outcome"),
      reason: setParam("reason"),
      smtpCode: setParam("smtpCode"),
      conversationId: setParam("conversationId"),
      postId: setParam("postId"),
      dedupeKey: setParam("dedupeKey"),
      // A Buffer passes to either driver as it is (both blob columns map it unchanged).
      raw: setParam("raw"),
    })
    .where(eq(t.inboundMessages.id, p("id")));
/** Every column but the raw bytes, which only a forward to the admins needs. */
function withoutRaw(t: Tables) {
  const { raw: _raw, ...columns } = getTableColumns(t.inboundMessages);
  return columns;
}
const byDedupeKey = (db: Db, t: Tables) => db.select(withoutRaw(t)).from(t.inboundMessages).where(eq(t.inboundMessages.dedupeKey, p("key")));
const byId = (db: Db, t: Tables) => db.select().from(t.inboundMessages).where(eq(t.inboundMessages.id, p("id")));

/** Adds a mail-log entry; undefined when its dedupe key is already taken by an earlier arrival. */
export async function insertMailLogEntry(tx: Tx, values: NewMailLogEntry): Promise<number | undefined> {
  const row = await tx.one(insert, { dedupeKey: null, conversationId: null, postId: null, authResults: null, ...values, rcptTo: [...values.rcptTo] });
  return row?.id;
}

/** The earlier arrival holding this dedupe key, without its raw bytes. */
export async function findMailLogEntryByDedupeKey(tx: Tx, key: string): Promise<Omit<MailLogEntry, "raw"> | undefined> {
  return tx.one(byDedupeKey, { key });
}

export async function settleMailLogEntry(tx: Tx, id: number, patch: MailLogOutcomePatch): Promise<void> {
  await tx.run(settle, { id, ...patch });
}

export async function findMailLogEntry(tx: Tx, id: number): Promise<MailLogEntry | undefined> {
  return tx.one(byId, { id });
}

/** The mail log, newest first, without the raw bytes. */
export async function listMailLog(tx: Tx, options: { outcomes?: MailLogOutcome[]; limit?: number } = {}): Promise<Omit<MailLogEntry, "raw">[]> {
  return tx.rows((db, t) => {
    const query = db.select(withoutRaw(t)).from(t.inboundMessages);
    const filtered = options.outcomes ? query.where(inArray(t.inboundMessages.outcome, options.outcomes)) : query;
    return filtered.orderBy(desc(t.inboundMessages.id)).limit(options.limit ?? 100);
  });
}

const temporaryFailures = (db: Db, t: Tables) =>
  db
    .select({ n: count() })
    .from(t.inboundMessages)
    .where(
      and(
        eq(t.inboundMessages.messageId, p("messageId")),
        eq(t.inboundMessages.fromAddress, p("fromAddress")),
        eq(t.inboundMessages.outcome, "rejected"),
        eq(t.inboundMessages.smtpCode, 451),
        // A full disk is the gateway's trouble, not the message's: it must never end in 554 repeated_failure.
        notLike(t.inboundMessages.reason, "storage_full:%"),
        gte(t.inboundMessages.receivedAt, p("since")),
      ),
    );

/**
 * How often one message was answered 451 since `since`. The key is the sender and the Message-ID
 * (or the digest standing in for one) the 451 entries record in from_address and message_id: they
 * hold no dedupe_key, whose unique index belongs to accepted arrivals.
 */
export async function countTemporaryFailures(
  tx: Tx,
  dedupeKey: { readonly fromAddress: string; readonly messageId: string },
  since: number,
): Promise<number> {
  const row = await tx.one(temporaryFailures, { ...dedupeKey, since });
  return Number(row?.n ?? 0);
}

/** Rewrites the one entry a session's refused RCPTs share: the addresses so far and a reason with their count. */
export async function updateRefusedRecipients(tx: Tx, id: number, patch: { readonly rcptTo: readonly string[]; readonly reason: string }): Promise<void> {
  await tx.rows((db, t) =>
    db.update(t.inboundMessages).set({ rcptTo: [...patch.rcptTo], reason: patch.reason }).where(eq(t.inboundMessages.id, id)),
  );
}

/** Rewrites an entry's reason: the count of refusals one entry stands for (a session's MAIL FROMs, an address's connections). */
export async function updateMailLogReason(tx: Tx, id: number, reason: string): Promise<void> {
  await tx.rows((db, t) => db.update(t.inboundMessages).set({ reason }).where(eq(t.inboundMessages.id, id)));
}
