import type * as schema from "../../schema/schema.js";
import type * as records from "../../src/domain/records.js";

/**
 * Compile-time only: each table's row type and its domain record must be the same shape, so a
 * schema change that the domain has not been told about fails `npm run typecheck` (a test checks it too).
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;

export type RecordsMatchSchema = [
  Check<Same<typeof schema.users.$inferSelect, records.User>>,
  Check<Same<typeof schema.groups.$inferSelect, records.Group>>,
  Check<Same<typeof schema.conversations.$inferSelect, records.Conversation>>,
  Check<Same<typeof schema.participants.$inferSelect, records.Participant>>,
  Check<Same<typeof schema.posts.$inferSelect, records.Post>>,
  Check<Same<typeof schema.attachments.$inferSelect, records.Attachment>>,
  Check<Same<typeof schema.deliveries.$inferSelect, records.Delivery>>,
  Check<Same<typeof schema.inboundMessages.$inferSelect, records.MailLogEntry>>,
];
