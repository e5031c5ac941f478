import nodemailer from "nodemailer";

/** What one inbound message got from the gateway. */
export interface Attempt {
  readonly marker: string;
  readonly messageId: string;
  /** "accepted": 250; "temporary": 4xx; "permanent": 5xx; "no_answer": the connection failed or dropped. */
  readonly outcome: "accepted" | "temporary" | "permanent" | "no_answer";
  readonly reply: string;
  readonly at: number;
}

export interface LoadOptions {
  readonly port: number;
  readonly clients: number;
  /** Messages per second over all clients together (each client waits its share between messages). */
  readonly rate: number;
  readonly to: string;
  /** Distinguishes this drill's markers from another's: `fault-drill-<prefix>-<client>-<n>`. */
  readonly prefix: string;
  /** Filler text added to each body (the disk-full drill sends big messages). */
  readonly bodyBytes?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Steady inbound load: `clients` SMTP clients, one connection per message, each message with a
 * unique Message-ID and a marker in its Subject and body. Every answer is recorded; a client that
 * cannot connect (the gateway is down) waits its turn and tries the next message.
 */
export class Load {
  readonly attempts: Attempt[] = [];
  private running = true;
  private readonly done: Promise<void[]>;

  constructor(private readonly options: LoadOptions) {
    this.done = Promise.all(Array.from({ length: options.clients }, (_, i) => this.client(i + 1)));
  }

  /** Sends `count` more messages from one client, one after the other, and returns what they got. */
  static async sendBurst(options: LoadOptions, count: number): Promise<Attempt[]> {
    const load = new Load({ ...options, clients: 0 });
    for (let n = 1; n <= count; n++) load.attempts.push(await load.sendOne(1, n));
    return load.attempts;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  accepted(): Attempt[] {
    return this.attempts.filter((a) => a.outcome === "accepted");
  }

  private async client(client: number): Promise<void> {
    const pause = (1000 * this.options.clients) / this.options.rate;
    for (let n = 1; this.running; n++) {
      const started = Date.now();
      this.attempts.push(await this.sendOne(client, n));
      await sleep(Math.max(0, pause - (Date.now() - started)));
    }
  }

  private async sendOne(client: number, n: number): Promise<Attempt> {
    const marker = `fault-drill-${this.options.prefix}-${client}-${n}`;
    const messageId = `<${marker}@customer.test>`;
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: this.options.port,
      secure: false,
      ignoreTLS: true,
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 60_000,
    });
    const filler = this.options.bodyBytes ? `\n\n${fillerText(this.options.bodyBytes)}` : "";
    try {
      const info = await transport.sendMail({
        from: `customer${client}@customer.test`,
        to: this.options.to,
        subject: `Drill ${marker}`,
        messageId,
        text: `This is drill message ${marker}.${filler}`,
      });
      return { marker, messageId, outcome: "accepted", reply: String(info.response), at: Date.now() };
    } catch (error) {
      const { responseCode, response, message } = error as { responseCode?: number; response?: string; message?: string };
      const outcome = responseCode === undefined ? "no_answer" : responseCode >= 500 ? "permanent" : responseCode >= 400 ? "temporary" : "no_answer";
      if (outcome === "no_answer") await sleep(200);
      return { marker, messageId, outcome, reply: response ?? message ?? String(error), at: Date.now() };
    } finally {
      transport.close();
    }
  }
}

/** `bytes` of plain text in lines of 72 characters, so nothing needs encoding. */
function fillerText(bytes: number): string {
  const line = `${"drill filler text ".repeat(4)}`.slice(0, 71);
  return `${line}\n`.repeat(Math.ceil(bytes / 72));
}
