import type { Config } from "../config/config.js";
import type { Db } from "../db/database.js";
import type { CommitQueue } from "../db/commit-queue.js";
import { Refusal } from "../errors/refusal.js";
import { toSmtpReply, type SmtpReply } from "../errors/smtp-reply.js";
import type { Logger } from "../log.js";
import { applyInbound, type AppliedOutcome, type PreparedInbound } from "./apply.js";
import { classifyMessage } from "./classify.js";
import { insertInboundMessage, updateInboundMessage } from "./inbound-log.repo.js";
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
  readonly db: Db;
  readonly config: Config;
  readonly logger: Logger;
  readonly commits: CommitQueue;
  readonly now?: () => number;
  /** Called after each commit that queued deliveries, so the worker sends without waiting to poll. */
  readonly onDeliveriesQueued?: () => void;
}

/**
 * parse → classify → trim → (route → apply, in one transaction). Resolves once everything the
 * message produced is durable; rejects with the SmtpReply the client must get otherwise.
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
  checkRecipient(address: string, envelope: Omit<InboundEnvelope, "rcptTo">): void {
    try {
      const route = resolveRoute(this.deps.db, this.deps.config, address);
      this.deps.logger.debug({ event: "smtp.rcpt", sessionId: envelope.sessionId, to: address, route: route.type }, "recipient accepted");
    } catch (error) {
      const reply = toSmtpReply(error);
      this.deps.logger.info({ event: "smtp.rcpt_refused", sessionId: envelope.sessionId, to: address, code: reply.code, reason: reply.reason }, reply.sentence);
      this.recordRejection(Buffer.alloc(0), { ...envelope, rcptTo: [address] }, undefined, reply, this.now(), false);
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
      committed = await this.deps.commits.run(() => this.commit(raw, envelope, prepared, receivedAt));
    } catch (error) {
      const reply = toSmtpReply(error);
      if (!(error instanceof Refusal)) log.error({ event: "inbound.failed", err: error }, "inbound message could not be processed");
      this.recordRejection(raw, envelope, message, reply, receivedAt);
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
    if (verdict.outcome === "accepted") this.deps.onDeliveriesQueued?.();
    return verdict;
  }

  private commit(raw: Buffer, envelope: InboundEnvelope, prepared: PreparedInbound, receivedAt: number): Committed {
    const db = this.deps.db;
    const row = insertInboundMessage(db, {
      ...logFields(raw, envelope, prepared.message, receivedAt),
      outcome: "accepted",
      reason: "processing",
      smtpCode: 250,
      raw,
    });
    const ctx = { db, config: this.deps.config, now: receivedAt };
    try {
      const outcome = this.deps.commits.savepoint(() => applyInbound(ctx, prepared, row.id));
      updateInboundMessage(db, row.id, {
        outcome: outcome.outcome,
        reason: outcome.reason,
        conversationId: outcome.conversationId ?? null,
        postId: outcome.postId ?? null,
      });
      return { inboundId: row.id, outcome };
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      const reply = toSmtpReply(error);
      updateInboundMessage(db, row.id, { outcome: "rejected", reason: `${reply.reason}: ${reply.sentence}`, smtpCode: reply.code });
      return { inboundId: row.id, refusal: error };
    }
  }

  /** Refusals before the transaction (malformed mail) and failures are logged too, best effort. */
  private recordRejection(raw: Buffer, envelope: InboundEnvelope, message: ParsedMessage | undefined, reply: SmtpReply, receivedAt: number, keepRaw = true): void {
    try {
      insertInboundMessage(this.deps.db, {
        ...logFields(raw, envelope, message, receivedAt),
        outcome: "rejected",
        reason: `${reply.reason}: ${reply.sentence}`,
        smtpCode: reply.code,
        raw: keepRaw ? raw : null,
      });
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused message in the mail log");
    }
  }
}

function logFields(raw: Buffer, envelope: InboundEnvelope, message: ParsedMessage | undefined, receivedAt: number) {
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
