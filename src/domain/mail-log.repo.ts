import { desc, eq, getTableColumns, inArray, sql } from "drizzle-orm";
import { setParam, type Db, type Tx } from "../db/store.js";
import { inboundMessages } from "../../schema/schema.js";
import type { MailLogEntry, MailLogOutcome } from "./records.js";

export type NewMailLogEntry = Omit<MailLogEntry, "id" | "conversationId" | "postId" | "dedupeKey" | "raw"> & {
  readonly dedupeKey?: string | null;
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
}

const p = sql.placeholder;

const insert = (db: Db) =>
  db
    .insert(inboundMessages)
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
    })
    // The first arrival of a message holds its key; a repeat inserts nothing and learns so here.
    .onConflictDoNothing({ target: inboundMessages.dedupeKey })
    .returning({ id: inboundMessages.id })
    .prepare();
const settle = (db: Db) =>
  db
    .update(inboundMessages)
    .set({
      outcome: setParam("outcome"),
      reason: setParam("reason"),
      smtpCode: setParam("smtpCode"),
      conversationId: setParam("conversationId"),
      postId: setParam("postId"),
      dedupeKey: setParam("dedupeKey"),
    })
    .where(eq(inboundMessages.id, p("id")))
    .prepare();
const byDedupeKey = (db: Db) => {
  const { raw: _raw, ...columns } = getTableColumns(inboundMessages);
  return db.select(columns).from(inboundMessages).where(eq(inboundMessages.dedupeKey, p("key"))).prepare();
};

/** Adds a mail-log entry; undefined when its dedupe key is already taken by an earlier arrival. */
export async function insertMailLogEntry(tx: Tx, values: NewMailLogEntry): Promise<number | undefined> {
  const row = tx.one(insert, { dedupeKey: null, conversationId: null, postId: null, ...values, rcptTo: [...values.rcptTo] });
  return row?.id;
}

/** The earlier arrival holding this dedupe key, without its raw bytes. */
export async function findMailLogEntryByDedupeKey(tx: Tx, key: string): Promise<Omit<MailLogEntry, "raw"> | undefined> {
  return tx.one(byDedupeKey, { key });
}

export async function settleMailLogEntry(tx: Tx, id: number, patch: MailLogOutcomePatch): Promise<void> {
  tx.run(settle, { id, ...patch });
}

export async function findMailLogEntry(tx: Tx, id: number): Promise<MailLogEntry | undefined> {
  const [row] = await tx.db.select().from(inboundMessages).where(eq(inboundMessages.id, id));
  return row;
}

/** The mail log, newest first, without the raw bytes. */
export async function listMailLog(tx: Tx, options: { outcomes?: MailLogOutcome[]; limit?: number } = {}): Promise<Omit<MailLogEntry, "raw">[]> {
  const { raw: _raw, ...columns } = getTableColumns(inboundMessages);
  const query = tx.db.select(columns).from(inboundMessages);
  const filtered = options.outcomes ? query.where(inArray(inboundMessages.outcome, options.outcomes)) : query;
  return filtered.orderBy(desc(inboundMessages.id)).limit(options.limit ?? 100);
}
