import { NO_CONTENT, readContent } from "./content.js";
import type { Config } from "../config/config.js";
import type { Store, Tx } from "../db/store.js";
import { Refusal, refuse } from "../errors/refusal.js";
import { SmtpReply, toSmtpReply } from "../errors/smtp-reply.js";
import {
  countTemporaryFailures,
  findMailLogEntryByDedupeKey,
  insertMailLogEntry,
  settleMailLogEntry,
  updateMailLogReason,
  updateRefusedRecipients,
  type NewMailLogEntry,
} from "../domain/mail-log.repo.js";
import type { Logger } from "../log.js";
import { applyInbound } from "./apply.js";
import { authenticate, systemResolver, type AuthenticationResult, type DnsResolver } from "./authenticate.js";
import { classifyMessage } from "./classify.js";
import { cachedResolver, DEFAULT_DNS_CACHE } from "./dns-cache.js";
import type { AppliedOutcome, PreparedInbound } from "./inbound.js";
import { oversizedReply, refuseOversized } from "./oversized.js";
import { parseLimitsOf, parseMessage, type ParsedMessage } from "./parse.js";
import { RefusedConnections } from "./refused-connections.js";
import { resolveRoute } from "./route.js";

export interface InboundEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly sessionId?: string;
  readonly remoteAddress?: string;
  /** The EHLO/HELO name the client gave; SPF checks it too (SPEC §3). */
  readonly helo?: string;
}

/** What a refusal's mail-log entry adds to its reason and size. */
export interface RefusalDetail {
  /** Bytes declared or received, when known. */
  readonly size?: number;
  /** Appended to the reason in parentheses: what the client did (SIZE=N declared, bytes so far). */
  readonly note?: string;
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
  /** Where SPF/DKIM/DMARC look things up; the system's resolver unless a test passes a fake one. */
  readonly resolver?: DnsResolver;
}

/** HTML longer than this (characters) is read before the transaction, not inside it. */
const HTML_READ_OUTSIDE_TRANSACTION = 64 * 1024;

/** A reply, note or private-reply address (reply+TOKEN@…): what it receives is posted as the trimmed reply. */
const ANSWER_ADDRESS = /^(?:reply|note|private)\+/i;

/**
 * parse → classify → authenticate, outside any transaction; then deduplicate → route → handler
 * (which trims the one reading of the content it posts), in one transaction. Resolves once
 * everything the message produced is durable; rejects with the SmtpReply the client must get otherwise.
 */
export class InboundPipeline {
  private readonly now: () => number;
  private readonly throttle: RecipientThrottle;
  /** Per SMTP session, the one mail-log entry its refused RCPTs share (bounded, oldest dropped first). */
  private readonly refusedRecipients = new Map<string, RefusedRecipients>();
  /** Per SMTP session, the one mail-log entry its refused MAIL FROMs share (bounded like refusedRecipients). */
  private readonly refusedSenders = new Map<string, { readonly id: number; count: number }>();
  private readonly refusedConnections: RefusedConnections;
  /** SPF/DKIM/DMARC answers of this pipeline's recent lookups (dns-cache.ts). */
  private readonly resolver: DnsResolver;

  constructor(private readonly deps: PipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.resolver = cachedResolver(deps.resolver ?? systemResolver, { ...DEFAULT_DNS_CACHE, now: this.now });
    this.throttle = new RecipientThrottle(deps.config.limits.unknown_recipients_per_minute);
    this.refusedConnections = new RefusedConnections({ store: deps.store, logger: deps.logger, now: this.now });
  }

  /**
   * RCPT TO: accept an address that routes somewhere, or refuse it now, before the body is sent.
   * A refused recipient is logged in the mail log too, so an admin can see why mail bounced.
   */
  async checkRecipient(address: string, envelope: Omit<InboundEnvelope, "rcptTo">): Promise<void> {
    const ip = envelope.remoteAddress;
    if (ip !== undefined && this.throttle.throttled(ip, this.now())) {
      // A client that keeps going through its cool-down is not retrying politely: end the session.
      if (this.throttle.persisting(ip, this.now())) {
        const reply = new SmtpReply(
          421,
          "4.7.0",
          "Too many unknown recipients from your address, and more during the cool-down; closing the connection (limit limits.unknown_recipients_per_minute).",
          "too_many_unknown_recipients",
        );
        this.deps.logger.info({ event: "smtp.rcpt_throttled", sessionId: envelope.sessionId, remoteAddress: ip, to: address, code: 421 }, reply.sentence);
        await this.recordRefusedRecipient(address, envelope, reply);
        throw reply;
      }
      // Every RCPT, not only unknown ones: a guessed token must not stand out by being accepted.
      const reply = toSmtpReply(
        new Refusal(
          "too_many_unknown_recipients",
          `Too many unknown recipients from your address; try again in a minute (limit limits.unknown_recipients_per_minute).`,
        ),
      );
      this.deps.logger.info({ event: "smtp.rcpt_throttled", sessionId: envelope.sessionId, remoteAddress: ip, to: address }, reply.sentence);
      // Logged too: the cool-down is bounded (persisting() ends the session), so this costs no more writes than the refusals that led to it.
      await this.recordRefusedRecipient(address, envelope, reply);
      throw reply;
    }
    try {
      const route = await this.deps.store.read((tx) => resolveRoute(tx, this.deps.config, address));
      this.deps.logger.debug({ event: "smtp.rcpt", sessionId: envelope.sessionId, to: address, route: route.type }, "recipient accepted");
    } catch (error) {
      const reply = toSmtpReply(error);
      this.deps.logger.info({ event: "smtp.rcpt_refused", sessionId: envelope.sessionId, to: address, code: reply.code, reason: reply.reason }, reply.sentence);
      if (ip !== undefined && reply.permanent) this.throttle.record(ip, this.now());
      await this.recordRefusedRecipient(address, envelope, reply);
      throw reply;
    }
  }

  /** DATA past smtp.max_message_size: logged without its bytes, and rejected with the 552 to send (oversized.ts). */
  refuseOversized(envelope: InboundEnvelope, size: number): Promise<never> {
    return refuseOversized(this.deps, envelope, size, this.now());
  }

  /**
   * MAIL FROM with a SIZE over smtp.max_message_size (RFC 1870): the same 552 5.3.4 as for DATA
   * that went past it, refused before any byte of the message is sent, and logged the same way.
   */
  async refuseDeclaredSize(envelope: Omit<InboundEnvelope, "rcptTo">, declared: number): Promise<never> {
    const reply = oversizedReply(this.deps.config);
    await this.recordRefusedSender(envelope, reply, { size: declared, note: `SIZE=${declared} declared at MAIL FROM` });
    this.deps.logger.info(
      {
        event: "inbound.rejected",
        sessionId: envelope.sessionId,
        from: envelope.mailFrom,
        size: declared,
        limit: this.deps.config.smtp.max_message_size,
        code: reply.code,
        reason: reply.reason,
      },
      reply.sentence,
    );
    throw reply;
  }

  /**
   * A refused MAIL FROM, in the mail log: one entry per SMTP session, as for refused RCPTs, since a
   * client may repeat MAIL FROM as often as it likes for a few bytes each; later refusals rewrite
   * the entry's reason with their count. No recipient is known yet. Best effort.
   */
  async recordRefusedSender(envelope: Omit<InboundEnvelope, "rcptTo">, reply: SmtpReply, detail: RefusalDetail = {}): Promise<void> {
    const sessionId = envelope.sessionId;
    const known = sessionId === undefined ? undefined : this.refusedSenders.get(sessionId);
    const reason = reasonOf(reply, detail);
    try {
      if (known) {
        known.count++;
        await this.deps.store.transaction((tx) => updateMailLogReason(tx, known.id, `${known.count} senders refused in this session; last: ${reason}`));
        return;
      }
      const id = await this.deps.store.transaction((tx) =>
        insertMailLogEntry(tx, {
          ...logFields(Buffer.alloc(0), { ...envelope, rcptTo: [] }, undefined, this.now()),
          size: detail.size ?? 0,
          outcome: "rejected",
          reason,
          smtpCode: reply.code,
          raw: null,
        }),
      );
      if (sessionId !== undefined && id !== undefined) remember(this.refusedSenders, sessionId, { id, count: 1 });
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused sender in the mail log");
    }
  }

  /**
   * A refusal the listener answers itself during or after DATA (a client cut off mid-DATA, a
   * gateway too busy to take the message's turn, no verdict within smtp.processing_timeout, a spool
   * file that could not be written): one entry, without the message's bytes, best effort. No
   * Message-ID is recorded, so such a 451 never counts towards limits.max_temporary_failures: it
   * is the gateway's condition, not the message's.
   */
  async recordRefusal(envelope: InboundEnvelope, reply: SmtpReply, detail: RefusalDetail = {}): Promise<void> {
    try {
      await this.deps.store.transaction((tx) =>
        insertMailLogEntry(tx, {
          ...logFields(Buffer.alloc(0), envelope, undefined, this.now()),
          size: detail.size ?? 0,
          outcome: "rejected",
          reason: reasonOf(reply, detail),
          smtpCode: reply.code,
          raw: null,
        }),
      );
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refusal in the mail log");
    }
    this.deps.logger.info(
      { event: "inbound.rejected", sessionId: envelope.sessionId, from: envelope.mailFrom, to: envelope.rcptTo, code: reply.code, reason: reply.reason, note: detail.note },
      reply.sentence,
    );
  }

  /** A connection refused before any command (smtp.max_connections_per_ip): counted per client address (refused-connections.ts). */
  recordRefusedConnection(remoteAddress: string, reply: SmtpReply): void {
    this.refusedConnections.record(remoteAddress, reply);
  }

  async process(raw: Buffer, envelope: InboundEnvelope): Promise<InboundVerdict> {
    const receivedAt = this.now();
    // The session is named in each line rather than through a child logger: one fewer object per message.
    const log = this.deps.logger;
    const sessionId = envelope.sessionId;
    let message: ParsedMessage | undefined;
    let auth: AuthenticationResult | undefined;
    let committed: Committed;
    try {
      message = await parseMessage(raw, parseLimitsOf(this.deps.config));
      const classification = classifyMessage(this.deps.config, message, envelope.mailFrom);
      // DNS is slow I/O: done here, never inside the (shared) transaction. It never throws.
      auth = await this.authenticate(raw, envelope);
      // List mail may turn out to be a person's, passed on to an inbox by a group (apply.ts).
      const content = classification.kind === "human" || (classification.kind === "automatic" && classification.listOnly) ? readContent(message) : NO_CONTENT;
      // Reading large HTML takes up to a second or two: not under the write lock every other
      // message and the delivery thread wait for. Both readings are made here, as the route is not known yet.
      if (content !== NO_CONTENT && (message.html?.length ?? 0) > HTML_READ_OUTSIDE_TRANSACTION) void [content.reply, content.opening];
      // Most mail answers a reply address: its trimmed reading is made here too, so the write lock
      // is held for the writes alone.
      else if (content !== NO_CONTENT && envelope.rcptTo.some((address) => ANSWER_ADDRESS.test(address))) void content.reply;
      const prepared: PreparedInbound = {
        envelopeFrom: envelope.mailFrom,
        rcptTo: envelope.rcptTo,
        message,
        classification,
        content,
        auth,
      };
      committed = await this.deps.store.transaction((tx) => this.commit(tx, raw, envelope, prepared, receivedAt));
    } catch (error) {
      const reply = toSmtpReply(error);
      if (!(error instanceof Refusal)) log.error({ sessionId, event: "inbound.failed", err: error }, "inbound message could not be processed");
      await this.recordRejection(raw, envelope, message, reply, receivedAt, auth);
      log.info({ sessionId, event: "inbound.rejected", messageId: message?.messageId, code: reply.code, reason: reply.reason }, reply.sentence);
      throw reply;
    }
    if (committed.refusal) {
      const reply = toSmtpReply(committed.refusal);
      log.info(
        { sessionId, event: "inbound.rejected", inboundId: committed.inboundId, messageId: message.messageId, code: reply.code, reason: reply.reason, auth: auth?.summary },
        reply.sentence,
      );
      throw reply;
    }
    const verdict: InboundVerdict = { ...committed.outcome, inboundId: committed.inboundId, message: summary(committed.outcome) };
    log.info(
      {
        sessionId,
        event: `inbound.${verdict.outcome}`,
        inboundId: verdict.inboundId,
        messageId: message.messageId,
        conversationId: verdict.conversationId,
        postId: verdict.postId,
        auth: auth?.summary,
      },
      verdict.reason,
    );
    // A cheap poll: accepted mail usually queued deliveries, and waiting for the timer adds latency.
    if (verdict.outcome === "accepted" || verdict.outcome === "bounce") this.deps.onDeliveriesQueued?.();
    return verdict;
  }

  /** SPF, DKIM and DMARC of the message (SPEC §3); undefined when [auth] mode is "off". */
  private authenticate(raw: Buffer, envelope: InboundEnvelope): Promise<AuthenticationResult | undefined> {
    const { auth } = this.deps.config;
    return authenticate(
      { raw, clientIp: envelope.remoteAddress ?? "", helo: envelope.helo ?? "", mailFrom: envelope.mailFrom },
      { mode: auth.mode, resolver: this.resolver, trustedAuthservIds: auth.trusted_authserv_ids },
    );
  }

  /**
   * The message's mail-log entry holds its dedupe key first: a message that arrives again (a
   * retransmission, or the same message sent to several gateway addresses) finds the first arrival
   * and has no second outcome, whatever that outcome was. A refusal releases the key.
   */
  private async commit(tx: Tx, raw: Buffer, envelope: InboundEnvelope, prepared: PreparedInbound, receivedAt: number): Promise<Committed> {
    const { message } = prepared;
    // In the message's own transaction: no separate read, and no turn of its own, on every message's way in.
    await this.refuseRepeatedFailure(tx, message, receivedAt);
    const dedupeKey = `${message.from.address} ${message.dedupeKey}`;
    const fields = logFields(raw, envelope, message, receivedAt, prepared.auth);
    // The bytes come with the outcome: SQLite rewrites a whole row on any update, so a row inserted
    // with them would have them written twice, and a refused message keeps only an excerpt anyway.
    const inboundId = await insertMailLogEntry(tx, { ...fields, dedupeKey, outcome: "accepted", reason: "processing", smtpCode: 250, raw: null });
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
        raw,
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
        raw: refusedExcerpt(raw, this.deps.config.limits.refused_excerpt),
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

  /**
   * A message answered 451 limits.max_temporary_failures times within limits.temporary_failure_window
   * will most likely fail again: refuse it for good rather than have the sender retry for days.
   */
  private async refuseRepeatedFailure(tx: Tx, message: ParsedMessage, receivedAt: number): Promise<void> {
    const { max_temporary_failures: max, temporary_failure_window: window } = this.deps.config.limits;
    const failures = await countTemporaryFailures(tx, { fromAddress: message.from.address, messageId: message.dedupeKey }, receivedAt - window);
    if (failures >= max) refuse("repeated_failure", `This message failed ${failures} times in a row; it will not be accepted.`);
  }

  /**
   * One mail-log entry per SMTP session for its refused RCPTs: the first refusal inserts it, later
   * ones rewrite its address list (at most MAX_LOGGED_RECIPIENTS) and the count in its reason.
   */
  private async recordRefusedRecipient(address: string, envelope: Omit<InboundEnvelope, "rcptTo">, reply: SmtpReply): Promise<void> {
    const sessionId = envelope.sessionId;
    const known = sessionId === undefined ? undefined : this.refusedRecipients.get(sessionId);
    const reason = `${reply.reason}: ${reply.sentence}`;
    try {
      if (known) {
        known.count++;
        if (known.rcptTo.length < MAX_LOGGED_RECIPIENTS) known.rcptTo.push(address);
        const listed = known.count > known.rcptTo.length ? ` (first ${known.rcptTo.length} listed)` : "";
        await this.deps.store.transaction((tx) =>
          updateRefusedRecipients(tx, known.id, { rcptTo: known.rcptTo, reason: `${known.count} recipients refused in this session${listed}; last: ${reason}` }),
        );
        return;
      }
      const id = await this.deps.store.transaction((tx) =>
        insertMailLogEntry(tx, {
          ...logFields(Buffer.alloc(0), { ...envelope, rcptTo: [address] }, undefined, this.now()),
          outcome: "rejected",
          reason,
          smtpCode: reply.code,
          raw: null,
        }),
      );
      if (sessionId === undefined || id === undefined) return;
      remember(this.refusedRecipients, sessionId, { id, rcptTo: [address], count: 1 });
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused recipient in the mail log");
    }
  }

  /**
   * Refusals before the transaction (malformed mail) and failures are logged too, best effort, with
   * the header block and an excerpt of the body only (limits.refused_excerpt). A 451 entry records the
   * message's dedupe Message-ID (a digest when it has none), which refuseRepeatedFailure counts.
   */
  private async recordRejection(
    raw: Buffer,
    envelope: InboundEnvelope,
    message: ParsedMessage | undefined,
    reply: SmtpReply,
    receivedAt: number,
    auth: AuthenticationResult | undefined,
  ): Promise<void> {
    try {
      const fields = logFields(raw, envelope, message, receivedAt, auth);
      await this.deps.store.transaction((tx) =>
        insertMailLogEntry(tx, {
          ...fields,
          ...(message && reply.code === 451 ? { messageId: message.dedupeKey } : {}),
          outcome: "rejected",
          reason: `${reply.reason}: ${reply.sentence}`,
          smtpCode: reply.code,
          raw: refusedExcerpt(raw, this.deps.config.limits.refused_excerpt),
        }),
      );
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused message in the mail log");
    }
  }
}

type LogFields = Omit<NewMailLogEntry, "outcome" | "reason" | "smtpCode" | "raw">;

const MAX_LOGGED_RECIPIENTS = 100;
const MAX_TRACKED_SESSIONS = 1000;
/** Header blocks longer than this are cut too: a refused message's stored bytes stay bounded. */
const MAX_REFUSED_HEADER_BLOCK = 64 * 1024;

/** Adds a session's entry, dropping the oldest sessions' past MAX_TRACKED_SESSIONS. */
function remember<T>(sessions: Map<string, T>, sessionId: string, entry: T): void {
  sessions.set(sessionId, entry);
  while (sessions.size > MAX_TRACKED_SESSIONS) {
    const oldest = sessions.keys().next().value;
    if (oldest === undefined) break;
    sessions.delete(oldest);
  }
}

function reasonOf(reply: SmtpReply, detail: RefusalDetail): string {
  return `${reply.reason}: ${reply.sentence}${detail.note ? ` (${detail.note})` : ""}`;
}

interface RefusedRecipients {
  readonly id: number;
  readonly rcptTo: string[];
  count: number;
}

/**
 * What the mail log keeps of a refused message: its header block (at most 64 KiB) and the first
 * `bodyBytes` of its body; nothing at all when `bodyBytes` is 0. Accepted mail keeps every byte.
 */
export function refusedExcerpt(raw: Buffer, bodyBytes: number): Buffer | null {
  if (bodyBytes <= 0 || raw.length === 0) return null;
  const crlf = raw.indexOf("\r\n\r\n");
  const lf = raw.indexOf("\n\n");
  const candidates = [crlf === -1 ? -1 : crlf + 4, lf === -1 ? -1 : lf + 2].filter((i) => i >= 0);
  const bodyStart = candidates.length ? Math.min(...candidates) : raw.length;
  if (bodyStart > MAX_REFUSED_HEADER_BLOCK) return Buffer.from(raw.subarray(0, MAX_REFUSED_HEADER_BLOCK));
  return Buffer.from(raw.subarray(0, Math.min(raw.length, bodyStart + bodyBytes)));
}

/**
 * Refused RCPTs per client address in a sliding minute, in memory: past the limit every RCPT from
 * that address is answered 450 until the oldest refusal is a minute old. At most `maxAddresses`
 * addresses are tracked; the least recently refused is dropped first. A limit of 0 turns it off.
 */
export class RecipientThrottle {
  private readonly refusals = new Map<string, number[]>();
  private readonly attemptsWhileThrottled = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  throttled(address: string, now: number): boolean {
    return this.limit > 0 && this.recent(address, now).length >= this.limit;
  }

  /**
   * Counts one more attempt during the cool-down; true once there were more than the limit itself
   * within the window, when 450 has plainly not slowed the client down.
   */
  persisting(address: string, now: number): boolean {
    const attempts = (this.attemptsWhileThrottled.get(address) ?? []).filter((t) => t > now - this.windowMs);
    attempts.push(now);
    if (attempts.length > this.limit + 1) attempts.splice(0, attempts.length - this.limit - 1);
    this.attemptsWhileThrottled.delete(address);
    this.attemptsWhileThrottled.set(address, attempts);
    while (this.attemptsWhileThrottled.size > this.maxAddresses) {
      const oldest = this.attemptsWhileThrottled.keys().next().value;
      if (oldest === undefined) break;
      this.attemptsWhileThrottled.delete(oldest);
    }
    return attempts.length > this.limit;
  }

  record(address: string, now: number): void {
    if (this.limit <= 0) return;
    const times = this.recent(address, now);
    times.push(now);
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    this.refusals.delete(address);
    this.refusals.set(address, times);
    while (this.refusals.size > this.maxAddresses) {
      const oldest = this.refusals.keys().next().value;
      if (oldest === undefined) break;
      this.refusals.delete(oldest);
    }
  }

  private recent(address: string, now: number): number[] {
    const times = this.refusals.get(address);
    if (!times) return [];
    const fresh = times.filter((t) => t > now - this.windowMs);
    if (fresh.length === 0) this.refusals.delete(address);
    else if (fresh.length !== times.length) this.refusals.set(address, fresh);
    return fresh;
  }
}

function logFields(
  raw: Buffer,
  envelope: InboundEnvelope,
  message: ParsedMessage | undefined,
  receivedAt: number,
  auth?: AuthenticationResult,
): LogFields {
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
    authResults: auth?.summary ?? null,
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
