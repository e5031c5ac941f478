import { Refusal, type RefusalReason } from "./refusal.js";

/**
 * The one error type that reaches the SMTP client: smtp-server sends `responseCode` and the
 * message (enhanced status code first, then a sentence a person understands).
 */
export class SmtpReply extends Error {
  readonly responseCode: number;
  constructor(
    readonly code: number,
    readonly enhancedStatus: string,
    readonly sentence: string,
    readonly reason: RefusalReason,
  ) {
    super(`${enhancedStatus} ${sentence}`);
    this.name = "SmtpReply";
    this.responseCode = code;
  }

  get permanent(): boolean {
    return this.code >= 500;
  }
}

const REPLY_CODES: Record<RefusalReason, readonly [code: number, enhancedStatus: string]> = {
  unknown_recipient: [550, "5.1.1"],
  relaying_denied: [550, "5.7.1"],
  reserved_name: [550, "5.1.1"],
  message_too_large: [552, "5.3.4"],
  malformed_message: [550, "5.6.0"],
  sender_mismatch: [550, "5.7.1"],
  // SPEC §3: the From domain failed DMARC under [auth] mode = "enforce", or mail without a token is not authenticated enough to thread.
  sender_unauthenticated: [550, "5.7.1"],
  conversation_closed: [550, "5.1.1"],
  participant_gone: [550, "5.1.1"],
  empty_reply: [550, "5.6.0"],
  not_a_participant: [550, "5.7.1"],
  no_thread_found: [550, "5.1.1"],
  staged_users_disabled: [550, "5.7.1"],
  not_allowed: [550, "5.7.1"],
  user_unreachable: [550, "5.2.1"],
  too_many_attachments: [552, "5.3.4"],
  attachments_too_large: [552, "5.3.4"],
  not_found: [550, "5.1.1"],
  already_exists: [550, "5.7.1"],
  invalid_input: [550, "5.6.0"],
  // Only the CLI meets it (the gateway migrates its database when it starts); it stays until an admin acts.
  database_out_of_date: [554, "5.3.5"],
  // Checked on the raw bytes before mailparser sees them: a part or header bomb ties a parser up.
  too_many_mime_parts: [552, "5.3.4"],
  too_many_headers: [552, "5.3.4"],
  // RFC 5322 §3.6: one From field; several authors leave no one to post as.
  multiple_authors: [550, "5.7.1"],
  // The same message answered 4xx limits.max_temporary_failures times: it will fail again, so stop the retries.
  repeated_failure: [554, "5.3.0"],
  // Deliberately temporary: a client guessing tokens is slowed down for a minute, not bounced.
  too_many_unknown_recipients: [450, "4.7.1"],
  temporary_failure: [451, "4.3.0"],
  // SPEC §3's temporary problem, with its own sentence: the gateway's condition, not the message's, so never counted towards repeated_failure.
  storage_full: [451, "4.3.0"],
};

export const TEMPORARY_FAILURE_SENTENCE =
  "Postern could not process this message right now; please try again later.";

export const STORAGE_FULL_SENTENCE =
  "Postern's storage is full, so this message was not stored; please try again later.";

/** Any error → the reply the client gets. Unknown errors are temporary: never bounce on a bug. */
export function toSmtpReply(error: unknown): SmtpReply {
  if (error instanceof SmtpReply) return error;
  if (error instanceof Refusal) {
    const [code, status] = REPLY_CODES[error.reason];
    return new SmtpReply(code, status, error.sentence, error.reason);
  }
  if (isStorageFull(error)) return toSmtpReply(new Refusal("storage_full", STORAGE_FULL_SENTENCE));
  return new SmtpReply(451, "4.3.0", TEMPORARY_FAILURE_SENTENCE, "temporary_failure");
}

/**
 * The disk (or the database's quota) is full: SQLite's SQLITE_FULL, PostgreSQL's disk_full
 * (SQLSTATE 53100), or the system's ENOSPC, on the error or its cause.
 */
function isStorageFull(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "53100") return true;
  }
  return false;
}
