import type * as pgSchema from "../../schema/pg-schema.js";
import type * as schema from "../../schema/schema.js";
import type * as records from "../../src/domain/records.js";

/**
 * Compile-time only: each table's row type and its domain record must be the same shape, so a
 * schema change that the domain has not been told about fails `npm run typecheck` (a test checks it too).
 * Both engines' schemas are checked: SQLite (schema/schema.ts) and PostgreSQL (schema/pg-schema.ts).
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
  Check<Same<typeof schema.notices.$inferSelect, records.Notice>>,
  Check<Same<typeof schema.digests.$inferSelect, records.Digest>>,
  Check<Same<typeof pgSchema.digests.$inferSelect, records.Digest>>,
  Check<Same<typeof schema.appointments.$inferSelect, records.Appointment>>,
  Check<Same<typeof pgSchema.appointments.$inferSelect, records.Appointment>>,
  Check<Same<typeof schema.rsvps.$inferSelect, records.Rsvp>>,
  Check<Same<typeof pgSchema.rsvps.$inferSelect, records.Rsvp>>,
  Check<Same<typeof pgSchema.digestPosts.$inferSelect, typeof schema.digestPosts.$inferSelect>>,
  Check<Same<typeof pgSchema.notices.$inferSelect, records.Notice>>,
  Check<Same<typeof pgSchema.notices.$inferSelect, typeof schema.notices.$inferSelect>>,
  Check<Same<typeof pgSchema.users.$inferSelect, records.User>>,
  Check<Same<typeof pgSchema.groups.$inferSelect, records.Group>>,
  Check<Same<typeof pgSchema.conversations.$inferSelect, records.Conversation>>,
  Check<Same<typeof pgSchema.participants.$inferSelect, records.Participant>>,
  Check<Same<typeof pgSchema.posts.$inferSelect, records.Post>>,
  Check<Same<typeof pgSchema.attachments.$inferSelect, records.Attachment>>,
  Check<Same<typeof pgSchema.deliveries.$inferSelect, records.Delivery>>,
  Check<Same<typeof pgSchema.inboundMessages.$inferSelect, records.MailLogEntry>>,
  // The two engines' rows, table by table, are the same type.
  Check<Same<typeof pgSchema.users.$inferSelect, typeof schema.users.$inferSelect>>,
  Check<Same<typeof pgSchema.groups.$inferSelect, typeof schema.groups.$inferSelect>>,
  Check<Same<typeof pgSchema.groupMembers.$inferSelect, typeof schema.groupMembers.$inferSelect>>,
  Check<Same<typeof pgSchema.conversations.$inferSelect, typeof schema.conversations.$inferSelect>>,
  Check<Same<typeof pgSchema.participants.$inferSelect, typeof schema.participants.$inferSelect>>,
  Check<Same<typeof pgSchema.posts.$inferSelect, typeof schema.posts.$inferSelect>>,
  Check<Same<typeof pgSchema.attachments.$inferSelect, typeof schema.attachments.$inferSelect>>,
  Check<Same<typeof pgSchema.deliveries.$inferSelect, typeof schema.deliveries.$inferSelect>>,
  Check<Same<typeof pgSchema.inboundMessages.$inferSelect, typeof schema.inboundMessages.$inferSelect>>,
];
