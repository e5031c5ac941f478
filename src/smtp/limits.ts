import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import { SmtpReply } from "../errors/smtp-reply.js";
import type { Logger } from "../log.js";

export interface SessionLimitsConfig {
  /** Open connections one client address may hold at once. */
  readonly maxConnectionsPerIp: number;
  /** Milliseconds a session may last in all, however busy the client keeps it. */
  readonly sessionTimeout: number;
  /** Bytes per second DATA must average once the grace period is over. */
  readonly minDataRate: number;
  /** Milliseconds DATA may run before minDataRate is enforced. */
  readonly minDataRateGrace: number;
}

/** Which limit cut a client off, and what is known of the session then. */
export interface LimitCut {
  readonly limit: "max_connections_per_ip" | "min_data_rate" | "session_timeout";
  readonly session: SMTPServerSession;
  readonly reply: SmtpReply;
  /** Bytes of DATA received before a min_data_rate cut. */
  readonly bytes?: number;
}

interface Tracked {
  readonly ip: string;
  readonly session: SMTPServerSession;
  readonly deadline: NodeJS.Timeout;
  /** A DATA verdict is being worked out: the deadline waits for it rather than cut it off. */
  busy: boolean;
  /** The deadline passed while busy: the session ends right after the verdict. */
  expired: boolean;
}

/**
 * What smtp-server's socket timeout cannot do, since any byte resets it: a cap on connections
 * per client address, a deadline for the whole session and a floor on the DATA transfer rate.
 * Every cut is a 421 naming the config key, then the connection is closed.
 */
export class SessionLimits {
  private readonly perIp = new Map<string, number>();
  private readonly sessions = new Map<string, Tracked>();
  private server: SMTPServer | undefined;

  /** `onCut`: told of every client the limits refuse or cut off, with the 421 it gets (the listener logs it in the mail log). */
  constructor(
    private readonly limits: SessionLimitsConfig,
    private readonly logger: Logger,
    private readonly onCut: (cut: LimitCut) => void = () => undefined,
  ) {}

  /** The server whose connections the limits close (known only once it is constructed). */
  attach(server: SMTPServer): void {
    this.server = server;
  }

  /** smtp-server's onConnect: refuses an address over its limit, else counts it and arms the deadline. */
  connect(session: SMTPServerSession): SmtpReply | undefined {
    const ip = session.remoteAddress;
    const open = this.perIp.get(ip) ?? 0;
    const limit = this.limits.maxConnectionsPerIp;
    if (open >= limit) {
      this.logger.warn({ event: "smtp.limit", limit: "max_connections_per_ip", remoteAddress: ip, open }, "Connection refused: too many from one address");
      const reply = new SmtpReply(
        421,
        "4.7.0",
        `Too many connections from your address (limit smtp.max_connections_per_ip = ${limit}); try again later.`,
        "temporary_failure",
      );
      this.onCut({ limit: "max_connections_per_ip", session, reply });
      return reply;
    }
    this.perIp.set(ip, open + 1);
    const deadline = setTimeout(() => this.onDeadline(session.id), this.limits.sessionTimeout);
    deadline.unref();
    this.sessions.set(session.id, { ip, session, deadline, busy: false, expired: false });
    return undefined;
  }

  /** smtp-server's onClose: only sessions that connect() counted are uncounted. */
  close(session: SMTPServerSession): void {
    const tracked = this.sessions.get(session.id);
    if (!tracked) return;
    this.sessions.delete(session.id);
    clearTimeout(tracked.deadline);
    const open = (this.perIp.get(tracked.ip) ?? 1) - 1;
    if (open > 0) this.perIp.set(tracked.ip, open);
    else this.perIp.delete(tracked.ip);
  }

  /** Brackets the pipeline's work on one message, so the session deadline never cuts off a verdict. */
  async whileBusy<T>(session: SMTPServerSession, work: () => Promise<T>): Promise<T> {
    const tracked = this.sessions.get(session.id);
    if (tracked) tracked.busy = true;
    try {
      return await work();
    } finally {
      if (tracked) {
        tracked.busy = false;
        // After smtp-server has sent the verdict the callback produces.
        if (tracked.expired) setImmediate(() => this.endSessionPastDeadline(session.id));
      }
    }
  }

  /**
   * Watches one DATA stream: once the grace period is over, an average below min_data_rate ends
   * the session with 421 and rejects through `fail` (the reader stops waiting for the rest).
   * Returns the byte counter and the stop switch.
   */
  watchData(stream: SMTPServerDataStream, session: SMTPServerSession, fail: (error: SmtpReply) => void) {
    const started = Date.now();
    let bytes = 0;
    let stopped = false;
    const { minDataRate, minDataRateGrace } = this.limits;
    const check = () => {
      if (stopped) return;
      const elapsed = Date.now() - started;
      if (elapsed < minDataRateGrace || elapsed <= 0) return;
      const rate = (bytes * 1000) / elapsed;
      if (rate >= minDataRate) return;
      stop();
      const reply = new SmtpReply(
        421,
        "4.4.2",
        `The message is arriving too slowly (limit smtp.min_data_rate = ${minDataRate} bytes per second); closing the connection.`,
        "temporary_failure",
      );
      this.logger.warn(
        { event: "smtp.limit", limit: "min_data_rate", sessionId: session.id, remoteAddress: session.remoteAddress, bytes, elapsed },
        "DATA too slow; connection closed",
      );
      this.end(session.id, reply);
      this.onCut({ limit: "min_data_rate", session, reply, bytes });
      fail(reply);
    };
    const tick = Math.min(1000, Math.max(50, Math.floor(minDataRateGrace / 4)));
    const timer = setInterval(check, tick);
    timer.unref();
    const stop = () => {
      stopped = true;
      clearInterval(timer);
    };
    stream.once("end", stop);
    stream.once("error", stop);
    stream.once("close", stop);
    return {
      received(chunk: number) {
        bytes += chunk;
      },
      stop,
    };
  }

  /** Number of connections an address holds now (for tests and diagnostics). */
  openFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  private onDeadline(sessionId: string): void {
    const tracked = this.sessions.get(sessionId);
    if (!tracked) return;
    if (tracked.busy) {
      tracked.expired = true;
      return;
    }
    this.endSessionPastDeadline(sessionId);
  }

  private endSessionPastDeadline(sessionId: string): void {
    this.logger.warn({ event: "smtp.limit", limit: "session_timeout", sessionId }, "Session deadline passed; connection closed");
    const reply = new SmtpReply(
      421,
      "4.4.2",
      `This session has lasted too long (limit smtp.session_timeout = ${formatDuration(this.limits.sessionTimeout)}); closing the connection, please reconnect.`,
      "temporary_failure",
    );
    // Read before end(): closing the connection may reset the session's envelope.
    const session = this.sessions.get(sessionId)?.session;
    const ended = this.end(sessionId, reply);
    if (session && ended) this.onCut({ limit: "session_timeout", session, reply });
  }

  /** Sends the 421 from outside any command (smtp-server closes the connection after a 421); false when the connection was gone. */
  private end(sessionId: string, reply: SmtpReply): boolean {
    const connection = [...(this.server?.connections ?? [])].find((c) => c.id === sessionId);
    if (!connection) return false;
    connection.send(reply.code, reply.message, false);
    connection.close();
    return true;
  }
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
