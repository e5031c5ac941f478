import type { Socket } from "node:net";
import { SMTPServer } from "smtp-server";

/** One copy the relay received: which message (its Message-ID) went to whom, and when. */
export interface Receipt {
  readonly messageId: string;
  readonly rcpt: string;
  /** The drill marker of the inbound message the copy carries (from its Subject), if any. */
  readonly marker: string | undefined;
  readonly at: number;
}

/**
 * The relay Postern delivers to: an smtp-server on 127.0.0.1 that answers 250 to everything and
 * records each copy per recipient. stop() is an outage: the port closes and open connections are
 * cut, so pooled clients see the relay go away mid-conversation; start() comes back on the same port.
 */
export class Sink {
  readonly receipts: Receipt[] = [];
  private server: SMTPServer | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    public port: number,
    private readonly markerPattern: RegExp,
  ) {}

  async start(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["AUTH"],
      hideSTARTTLS: true,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 50,
      size: 64 * 1024 * 1024,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", callback);
        stream.on("end", () => {
          const header = headerBlock(Buffer.concat(chunks));
          const messageId = /^message-id:\s*(<[^>\r\n]*>)/im.exec(header)?.[1] ?? "(none)";
          const marker = this.markerPattern.exec(/^subject:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(header)?.[1] ?? "")?.[0];
          const at = Date.now();
          for (const to of session.envelope.rcptTo) this.receipts.push({ messageId, rcpt: to.address.toLowerCase(), marker, at });
          callback();
        });
      },
    });
    server.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    // A killed gateway resets its connections mid-message: expected here, not a failure of the sink.
    server.on("error", () => {});
    this.port = (server.server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

function headerBlock(raw: Buffer): string {
  const text = raw.subarray(0, 64 * 1024).toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}
