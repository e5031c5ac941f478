/**
 * Every reason Postern refuses something, by name. The domain throws a Refusal; the SMTP adapter
 * and the CLI turn it into what a person reads through the one mapping in smtp-reply.ts.
 */
export type RefusalReason =
  | "unknown_recipient"
  | "relaying_denied"
  | "reserved_name"
  | "message_too_large"
  | "malformed_message"
  | "sender_mismatch"
  | "sender_unauthenticated"
  | "conversation_closed"
  | "participant_gone"
  | "empty_reply"
  | "not_a_participant"
  | "no_thread_found"
  | "staged_users_disabled"
  | "not_allowed"
  | "user_unreachable"
  | "too_many_attachments"
  | "attachments_too_large"
  | "not_found"
  | "already_exists"
  | "invalid_input"
  | "database_out_of_date"
  | "too_many_mime_parts"
  | "too_many_headers"
  | "multiple_authors"
  | "repeated_failure"
  | "too_many_unknown_recipients"
  | "temporary_failure"
  | "storage_full";

export class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    /** A sentence for a person, saying what was wrong with their message or command. */
    readonly sentence: string,
  ) {
    super(sentence);
    this.name = "Refusal";
  }
}

export function refuse(reason: RefusalReason, sentence: string): never {
  throw new Refusal(reason, sentence);
}
