import type { Config } from "../config/config.js";
import type { Store, Tx } from "../db/store.js";
import { Refusal } from "../errors/refusal.js";
import { toSmtpReply, type SmtpReply } from "../errors/smtp-reply.js";
import { findMailLogEntryByDedupeKey, insertMailLogEntry, settleMailLogEntry, type NewMailLogEntry } from "../domain/mail-log.repo.js";
import type { Logger } from "../log.js";
import { applyInbound } from "./apply.js";
import { classifyMessage } from "./classify.js";
import type { AppliedOutcome, PreparedInbound } from "./inbound.js";
import { parseMessage, type ParsedMessage } from "./parse.js";
import { resolveRoute } from "./route.js";
import { trim } from "./trim/trim.js";

export interface InboundEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly sessionId?: string;
  readonly remoteAddress?: string;
}

export interface InboundVerdict extends AppliedOutcome {
  readonly inboundId: number;
  /** The text after "250 ". */
  readonly message: string;
}

type Committed =
  | { readonly inboundId: number; readonly outcome: AppliedOutcome; readonly refusal?: undefined }
  | { readonly inboundId: number; readonly refusal: Refusal; readonly outcome?: undefined };

export interface PipelineDeps {
  /** The inbound connection: group commit, nothing else writes through it. */
  readonly store: Store;
  readonly config: Config;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Called after each commit that queued deliveries, so the worker sends without waiting to poll. */
  readonly onDeliveriesQueued?: () => void;
}

/**
 * parse → classify → trim, outside any transaction; then deduplicate → route → handler, in one
 * transaction. Resolves once everything the message produced is durable; rejects with the
 * SmtpReply the client must get otherwise.
 */
export class InboundPipeline {
  private readonly now: () => number;

  constructor(private readonly deps: PipelineDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * RCPT TO: accept an address that routes somewhere, or refuse it now, before the body is sent.
   * A refused recipient is logged in the mail log too, so an admin can see why mail bounced.
   */
  async checkRecipient(address: string, envelope: Omit<InboundEnvelope, "rcptTo">): Promise<void> {
    try {
      const route = await this.deps.store.read((tx) => resolveRoute(tx, this.deps.config, address));
      this.deps.logger.debug({ event: "smtp.rcpt", sessionId: envelope.sessionId, to: address, route: route.type }, "recipient accepted");
    } catch (error) {
      const reply = toSmtpReply(error);
      this.deps.logger.info({ event: "smtp.rcpt_refused", sessionId: envelope.sessionId, to: address, code: reply.code, reason: reply.reason }, reply.sentence);
      await this.recordRejection(Buffer.alloc(0), { ...envelope, rcptTo: [address] }, undefined, reply, this.now(), false);
      throw reply;
    }
  }

  async process(raw: Buffer, envelope: InboundEnvelope): Promise<InboundVerdict> {
    const receivedAt = this.now();
    const log = this.deps.logger.child({ sessionId: envelope.sessionId });
    let message: ParsedMessage | undefined;
    let committed: Committed;
    try {
      message = await parseMessage(raw);
      const classification = classifyMessage(this.deps.config, message, envelope.mailFrom);
      const prepared: PreparedInbound = {
        envelopeFrom: envelope.mailFrom,
        rcptTo: envelope.rcptTo,
        message,
        classification,
        trimmed: classification.kind === "human" ? trim(message.text) : "",
      };
      committed = await this.deps.store.transaction((tx) => this.commit(tx, raw, envelope, prepared, receivedAt));
    } catch (error) {
      const reply = toSmtpReply(error);
      if (!(error instanceof Refusal)) log.error({ event: "inbound.failed", err: error }, "inbound message could not be processed");
      await this.recordRejection(raw, envelope, message, reply, receivedAt);
      log.info({ event: "inbound.rejected", messageId: message?.messageId, code: reply.code, reason: reply.reason }, reply.sentence);
      throw reply;
    }
    if (committed.refusal) {
      const reply = toSmtpReply(committed.refusal);
      log.info(
        { event: "inbound.rejected", inboundId: committed.inboundId, messageId: message.messageId, code: reply.code, reason: reply.reason },
        reply.sentence,
      );
      throw reply;
    }
    const verdict: InboundVerdict = { ...committed.outcome, inboundId: committed.inboundId, message: summary(committed.outcome) };
    log.info(
      {
        event: `inbound.${verdict.outcome}`,
        inboundId: verdict.inboundId,
        messageId: message.messageId,
        conversationId: verdict.conversationId,
        postId: verdict.postId,
      },
      verdict.reason,
    );
    // A cheap poll: accepted mail usually queued deliveries, and waiting for the timer adds latency.
    if (verdict.outcome === "accepted" || verdict.outcome === "bounce") this.deps.onDeliveriesQueued?.();
    return verdict;
  }

  /**
   * The message's mail-log entry holds its dedupe key first: a message that arrives again (a
   * retransmission, or the same message sent to several gateway addresses) finds the first arrival
   * and has no second outcome, whatever that outcome was. A refusal releases the key.
   */
  private async commit(tx: Tx, raw: Buffer, envelope: InboundEnvelope, prepared: PreparedInbound, receivedAt: number): Promise<Committed> {
    const { message } = prepared;
    const dedupeKey = `${message.from.address} ${message.dedupeKey}`;
    const fields = logFields(raw, envelope, message, receivedAt);
    const inboundId = await insertMailLogEntry(tx, { ...fields, dedupeKey, outcome: "accepted", reason: "processing", smtpCode: 250, raw });
    if (inboundId === undefined) return this.duplicate(tx, fields, dedupeKey);
    const ctx = { tx, config: this.deps.config, now: receivedAt, inbound: prepared, inboundId };
    try {
      const outcome = await tx.savepoint(() => applyInbound(ctx));
      await settleMailLogEntry(tx, inboundId, {
        outcome: outcome.outcome,
        reason: outcome.reason,
        smtpCode: 250,
        conversationId: outcome.conversationId ?? null,
        postId: outcome.postId ?? null,
        dedupeKey,
      });
      return { inboundId, outcome };
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      const reply = toSmtpReply(error);
      await settleMailLogEntry(tx, inboundId, {
        outcome: "rejected",
        reason: `${reply.reason}: ${reply.sentence}`,
        smtpCode: reply.code,
        conversationId: null,
        postId: null,
        dedupeKey: null,
      });
      return { inboundId, refusal: error };
    }
  }

  private async duplicate(tx: Tx, fields: LogFields, dedupeKey: string): Promise<Committed> {
    const first = await findMailLogEntryByDedupeKey(tx, dedupeKey);
    const outcome: AppliedOutcome = {
      outcome: "duplicate",
      // Only an accepted message became its post; a bounce's postId names the post it reports on.
      reason: !first
        ? "already received"
        : first.outcome === "accepted" && first.postId
          ? `already received as post ${first.postId} (mail log entry ${first.id})`
          : `already received as mail log entry ${first.id} (${first.outcome})`,
      ...(first?.conversationId ? { conversationId: first.conversationId } : {}),
      ...(first?.postId ? { postId: first.postId } : {}),
    };
    // The repeat is logged without its bytes: the first arrival has them.
    const inboundId = await insertMailLogEntry(tx, {
      ...fields,
      outcome: "duplicate",
      reason: outcome.reason,
      smtpCode: 250,
      conversationId: outcome.conversationId ?? null,
      postId: outcome.postId ?? null,
      raw: null,
    });
    if (inboundId === undefined) throw new Error("a mail-log entry without a dedupe key was not inserted");
    return { inboundId, outcome };
  }

  /** Refusals before the transaction (malformed mail) and failures are logged too, best effort. */
  private async recordRejection(raw: Buffer, envelope: InboundEnvelope, message: ParsedMessage | undefined, reply: SmtpReply, receivedAt: number, keepRaw = true): Promise<void> {
    try {
      await this.deps.store.transaction((tx) =>
        insertMailLogEntry(tx, {
          ...logFields(raw, envelope, message, receivedAt),
          outcome: "rejected",
          reason: `${reply.reason}: ${reply.sentence}`,
          smtpCode: reply.code,
          raw: keepRaw ? raw : null,
        }),
      );
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused message in the mail log");
    }
  }
}

type LogFields = Omit<NewMailLogEntry, "outcome" | "reason" | "smtpCode" | "raw">;

function logFields(raw: Buffer, envelope: InboundEnvelope, message: ParsedMessage | undefined, receivedAt: number): LogFields {
  return {
    receivedAt,
    sessionId: envelope.sessionId ?? null,
    remoteAddress: envelope.remoteAddress ?? null,
    mailFrom: envelope.mailFrom,
    rcptTo: [...envelope.rcptTo],
    fromAddress: message?.from.address ?? null,
    messageId: message?.messageId ?? null,
    subject: message?.subject ?? null,
    size: raw.length,
  };
}

function summary(outcome: AppliedOutcome): string {
  switch (outcome.outcome) {
    case "accepted":
      return `2.0.0 Accepted: ${outcome.reason}`;
    case "duplicate":
      return `2.0.0 Already received: ${outcome.reason}`;
    case "ignored":
      return `2.0.0 Received and not posted (${outcome.reason})`;
    case "bounce":
      return `2.0.0 Delivery report recorded`;
  }
}
