import type { Config } from "../config/config.js";
import type { Store } from "../db/store.js";
import { Refusal } from "../errors/refusal.js";
import { toSmtpReply, type SmtpReply } from "../errors/smtp-reply.js";
import { insertMailLogEntry } from "../domain/mail-log.repo.js";
import type { Logger } from "../log.js";
import type { InboundEnvelope } from "./pipeline.js";

/** The 552 5.3.4 for a message over smtp.max_message_size, declared at MAIL FROM or found during DATA. */
export function oversizedReply(config: Config): SmtpReply {
  const limit = config.smtp.max_message_size;
  return toSmtpReply(new Refusal("message_too_large", `The message is larger than the ${limit} bytes this gateway accepts.`));
}

/**
 * DATA that went past smtp.max_message_size (smtp-server's `stream.sizeExceeded`, SPEC §3): answered
 * 552 5.3.4 like every other refusal, and logged like one, so an admin asked "why did my mail
 * bounce?" finds it in `postern mail log --rejected`. Nothing of the message is kept: its bytes
 * past the limit were never held, and the envelope says who sent what to whom. Rejects with the
 * reply the client gets; a mail log that cannot be written does not change that reply.
 * A SIZE declared at MAIL FROM over the limit is refused there (InboundPipeline.refuseDeclaredSize).
 */
export async function refuseOversized(
  deps: { readonly store: Store; readonly config: Config; readonly logger: Logger },
  envelope: InboundEnvelope,
  size: number,
  receivedAt: number,
): Promise<never> {
  const limit = deps.config.smtp.max_message_size;
  const reply = oversizedReply(deps.config);
  try {
    await deps.store.transaction((tx) =>
      insertMailLogEntry(tx, {
        receivedAt,
        sessionId: envelope.sessionId ?? null,
        remoteAddress: envelope.remoteAddress ?? null,
        mailFrom: envelope.mailFrom,
        rcptTo: [...envelope.rcptTo],
        fromAddress: null,
        messageId: null,
        subject: null,
        outcome: "rejected",
        reason: `${reply.reason}: ${reply.sentence} (${size} bytes arrived)`,
        smtpCode: reply.code,
        size,
        raw: null,
      }),
    );
  } catch (error) {
    deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the oversized message in the mail log");
  }
  deps.logger.info(
    { event: "inbound.rejected", sessionId: envelope.sessionId, from: envelope.mailFrom, to: envelope.rcptTo, size, limit, code: reply.code, reason: reply.reason },
    reply.sentence,
  );
  throw reply;
}
