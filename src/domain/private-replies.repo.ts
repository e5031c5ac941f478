import { and, desc, eq, sql } from "drizzle-orm";
import type { Db, Tables, Tx } from "../db/store.js";
import type { Conversation } from "./records.js";

const p = sql.placeholder;

const openDirectOfUser = (db: Db, t: Tables) =>
  db
    .select({ conversation: t.conversations })
    .from(t.conversations)
    .innerJoin(t.participants, eq(t.participants.conversationId, t.conversations.id))
    .where(
      and(
        eq(t.participants.userId, p("userId")),
        eq(t.participants.state, "active"),
        eq(t.conversations.kind, "direct"),
        eq(t.conversations.state, "open"),
        eq(t.conversations.subject, p("subject")),
      ),
    )
    .orderBy(desc(t.conversations.id));

/** Open direct conversations with this exact subject that the user takes part in, newest first. */
export async function openDirectConversationsWithSubject(tx: Tx, userId: number, subject: string): Promise<Conversation[]> {
  return (await tx.all(openDirectOfUser, { userId, subject })).map((row) => row.conversation);
}
