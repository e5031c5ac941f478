import { SmtpConnection, type ConnectionOptions, type EnvelopeCommands, type FollowingEnvelope, type OpenedEnvelope, type SmtpEnvelope } from "./connection.js";
import { SmtpClientError } from "./errors.js";

export interface PoolOptions extends ConnectionOptions {
  /** Connections open at once (outbound.pool_size). */
  readonly maxConnections: number;
}

interface Job {
  readonly envelope: SmtpEnvelope;
  readonly raw: Buffer;
  readonly resolve: (response: string) => void;
  readonly reject: (error: unknown) => void;
  /** Sent again once already, after a kept connection turned out to be closed. */
  retried: boolean;
}

/**
 * Relays commonly cap the messages of one session (Exchange, hosted relays), and a long-lived
 * session holds the relay's per-connection state: a fresh one now and then, as nodemailer's pool did.
 */
const MESSAGES_PER_CONNECTION = 100;

/**
 * Up to `maxConnections` connections to one relay, each sending one message at a time, taking the
 * next from a queue in arrival order. A connection is opened when a message waits and none is free,
 * kept while messages come, and closed when the relay or its idle time ends it. When the relay
 * offers PIPELINING, a connection writing a message's end takes the next waiting message and
 * writes its envelope in the same write.
 */
export class SmtpPool {
  private readonly queue: Job[] = [];
  private readonly idle: SmtpConnection[] = [];
  /** Open or opening, busy or idle. */
  private count = 0;
  private opening = 0;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  send(envelope: SmtpEnvelope, raw: Buffer): Promise<string> {
    if (this.closed) return Promise.reject(new SmtpClientError("The SMTP connection pool is closed", "ECONNECTION", "API"));
    return new Promise((resolve, reject) => {
      this.queue.push({ envelope, raw, resolve, reject, retried: false });
      this.pump();
    });
  }

  close(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.quit();
    for (const job of this.queue.splice(0)) job.reject(new SmtpClientError("The SMTP connection pool is closed", "ECONNECTION", "API"));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const connection = this.idle.pop();
      if (connection) {
        if (connection.usable) void this.run(connection, this.queue.shift() as Job);
        // One being opened per waiting message at most; the others wait for a connection to free up.
      } else if (this.count < this.options.maxConnections && this.opening < this.queue.length) {
        this.count++;
        this.opening++;
        void this.openConnection();
      } else {
        return;
      }
    }
  }

  private async openConnection(): Promise<void> {
    let connection: SmtpConnection;
    try {
      connection = await SmtpConnection.open(this.options);
    } catch (error) {
      this.opening--;
      this.count--;
      // The relay cannot be reached or refused us: the message that asked for this connection
      // fails with that reason (and is retried by its delivery), rather than every queued one.
      this.queue.shift()?.reject(error);
      this.pump();
      return;
    }
    this.opening--;
    connection.onClose(() => {
      this.count--;
      const at = this.idle.indexOf(connection);
      if (at !== -1) this.idle.splice(at, 1);
      this.pump();
    });
    if (this.closed) {
      connection.quit();
      return;
    }
    this.release(connection);
  }

  private async run(connection: SmtpConnection, job: Job, opened?: OpenedEnvelope): Promise<void> {
    // An envelope written behind another message went over a connection in use, like a kept one.
    const reused = connection.delivered > 0 || opened !== undefined;
    let following: { readonly job: Job; readonly envelope: OpenedEnvelope } | undefined;
    const next = (): FollowingEnvelope | undefined => {
      const taken = this.nextFor(connection);
      return taken && { commands: taken.commands, opened: (envelope) => (following = { job: taken.job, envelope }) };
    };
    try {
      job.resolve(await connection.send(job.envelope, job.raw, { ...(opened ? { opened } : {}), next }));
    } catch (error) {
      // A kept connection the relay closed while it sat idle fails the next message before MAIL
      // FROM is answered, so before any of the message was sent: it goes again, once, on a fresh
      // connection. Later than that the relay may have the message, and a retry could deliver it twice.
      if (reused && !job.retried && !connection.usable && isConnectionLoss(error)) {
        job.retried = true;
        this.queue.unshift(job);
      } else {
        job.reject(error);
      }
    }
    if (following) {
      void this.run(connection, following.job, following.envelope);
      return;
    }
    this.release(connection);
  }

  /**
   * The waiting message this connection sends next, with its envelope's commands; a message whose
   * envelope cannot go (a broken address, over the relay's size) fails here and the next is taken.
   */
  private nextFor(connection: SmtpConnection): { job: Job; commands: EnvelopeCommands } | undefined {
    // The message being sent counts: after it, this one must still fit the connection's allowance.
    if (this.closed || connection.delivered + 2 > MESSAGES_PER_CONNECTION) return undefined;
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      try {
        return { job, commands: connection.envelopeCommands(job.envelope, job.raw.length) };
      } catch (error) {
        job.reject(error);
      }
    }
    return undefined;
  }

  private release(connection: SmtpConnection): void {
    if (connection.usable) {
      if (this.closed || connection.delivered >= MESSAGES_PER_CONNECTION) connection.quit();
      else this.idle.push(connection);
    }
    this.pump();
  }
}

function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: unknown; command?: unknown } | null;
  return (e?.code === "ECONNECTION" || e?.code === "ESOCKET") && e.command === "MAIL FROM";
}
