import { desc, eq, getTableColumns, inArray } from "drizzle-orm";
import type { Db } from "../db/database.js";
import { inboundMessages, type InboundMessage } from "../../schema/schema.js";

export type NewInboundMessage = typeof inboundMessages.$inferInsert;
export type InboundOutcomeKind = InboundMessage["outcome"];

export function insertInboundMessage(db: Db, values: NewInboundMessage): InboundMessage {
  return db.insert(inboundMessages).values(values).returning().get();
}

export function updateInboundMessage(db: Db, id: number, patch: Partial<NewInboundMessage>): void {
  db.update(inboundMessages).set(patch).where(eq(inboundMessages.id, id)).run();
}

export function findInboundMessage(db: Db, id: number): InboundMessage | undefined {
  return db.select().from(inboundMessages).where(eq(inboundMessages.id, id)).get();
}

/** The mail log, newest first, without the raw bytes. */
export function listInboundMessages(db: Db, options: { outcomes?: InboundOutcomeKind[]; limit?: number } = {}) {
  const { raw: _raw, ...columns } = getTableColumns(inboundMessages);
  const query = db.select(columns).from(inboundMessages);
  const filtered = options.outcomes ? query.where(inArray(inboundMessages.outcome, options.outcomes)) : query;
  return filtered.orderBy(desc(inboundMessages.id)).limit(options.limit ?? 100).all();
}
