import type { Store } from "../db/store.js";
import type { SmtpReply } from "../errors/smtp-reply.js";
import { insertMailLogEntry, updateMailLogReason } from "../domain/mail-log.repo.js";
import type { Logger } from "../log.js";

interface Burst {
  readonly remoteAddress: string;
  readonly reply: SmtpReply;
  readonly first: number;
  last: number;
  count: number;
  /** The burst's mail-log entry, once inserted. */
  id: number | undefined;
  /** Refusals the entry counts so far. */
  written: number;
  started: boolean;
  writing: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** A refusal this long after the address's previous one starts a new entry. */
const BURST_GAP = 10 * 60_000;
/** An entry's count is rewritten at most this often: a client reconnecting in a loop costs no write per connection. */
const REWRITE_INTERVAL = 1000;
/** Addresses tracked at once; the one refused longest ago is dropped first. */
const MAX_ADDRESSES = 1000;

/**
 * Connections refused before any command (smtp.max_connections_per_ip), in the mail log: no sender
 * or recipient is known yet, so each client address gets one entry per burst of refusals, whose
 * reason counts them. The first refusal is written at once, later ones at most once a second.
 */
export class RefusedConnections {
  private readonly bursts = new Map<string, Burst>();

  constructor(private readonly deps: { readonly store: Store; readonly logger: Logger; readonly now: () => number }) {}

  record(remoteAddress: string, reply: SmtpReply): void {
    const now = this.deps.now();
    let burst = this.bursts.get(remoteAddress);
    if (!burst || now - burst.last > BURST_GAP) {
      burst = { remoteAddress, reply, first: now, last: now, count: 0, id: undefined, written: 0, started: false, writing: false, timer: undefined };
    }
    burst.count++;
    burst.last = now;
    // Most recently refused last, so the first key is the one to drop.
    this.bursts.delete(remoteAddress);
    this.bursts.set(remoteAddress, burst);
    while (this.bursts.size > MAX_ADDRESSES) {
      const oldest = this.bursts.keys().next().value;
      if (oldest === undefined) break;
      this.bursts.delete(oldest);
    }
    this.schedule(burst);
  }

  private schedule(burst: Burst): void {
    if (burst.writing || burst.timer || burst.count === burst.written) return;
    if (!burst.started) {
      burst.started = true;
      void this.write(burst);
      return;
    }
    burst.timer = setTimeout(() => {
      burst.timer = undefined;
      void this.write(burst);
    }, REWRITE_INTERVAL);
    burst.timer.unref();
  }

  private async write(burst: Burst): Promise<void> {
    burst.writing = true;
    const count = burst.count;
    const { reply } = burst;
    const reason = `${reply.reason}: ${reply.sentence} (${count} ${count === 1 ? "connection" : "connections"} refused since ${new Date(burst.first).toISOString()})`;
    try {
      const known = burst.id;
      const id = await this.deps.store.transaction(async (tx) => {
        if (known !== undefined) {
          await updateMailLogReason(tx, known, reason);
          return known;
        }
        return insertMailLogEntry(tx, {
          receivedAt: burst.first,
          sessionId: null,
          remoteAddress: burst.remoteAddress,
          mailFrom: "",
          rcptTo: [],
          fromAddress: null,
          messageId: null,
          subject: null,
          outcome: "rejected",
          reason,
          smtpCode: reply.code,
          size: 0,
          raw: null,
        });
      });
      burst.id = id;
    } catch (error) {
      this.deps.logger.error({ event: "inbound.log_failed", err: error }, "could not record the refused connections in the mail log");
    } finally {
      // Also after a failed write: the next refusal tries again, a broken database is not retried in a loop.
      burst.written = count;
      burst.writing = false;
    }
    this.schedule(burst);
  }
}
