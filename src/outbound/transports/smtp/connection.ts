import net from "node:net";
import tls from "node:tls";
import { dataBlock } from "./data-block.js";
import { SmtpClientError, fromSocketError, type SmtpCommand } from "./errors.js";
import { ReplyReader, ehloExtensions, replyCode } from "./replies.js";

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Our name in EHLO: the gateway's domain, not the machine's hostname, which relays may reject. */
  readonly name: string;
  /** TLS from the first byte (port 465). */
  readonly secure: boolean;
  /** Ask for STARTTLS whether or not it is offered, and fail the connection if it does not succeed. */
  readonly startTls: boolean;
  readonly tls: { readonly rejectUnauthorized: boolean; readonly ca?: Buffer };
  readonly auth?: { readonly user: string; readonly pass: string };
  /** TCP connect, TLS handshake and greeting, each. */
  readonly connectionTimeout: number;
  /** Silence on the socket: under a command it fails the command; between messages it ends an idle connection. */
  readonly socketTimeout: number;
}

export interface SmtpEnvelope {
  readonly from: string;
  readonly to: readonly string[];
}

/** The commands that open a message, MAIL FROM to DATA, each with its line. */
export type EnvelopeCommands = ReadonlyArray<readonly [SmtpCommand, string]>;

/**
 * A message whose envelope commands went out behind the previous message's end (RFC 2920 §3.1:
 * "The actual transfer of message content is explicitly allowed to be the first 'command' in a
 * group"): their replies are on their way, and `send` takes it from there.
 */
export interface OpenedEnvelope {
  readonly replies: readonly Promise<string>[];
}

/** The envelope of the message to send next over a connection, and who hears that it went out. */
export interface FollowingEnvelope {
  readonly commands: EnvelopeCommands;
  opened(envelope: OpenedEnvelope): void;
}

export interface SendOptions {
  /** The message's envelope went out already, behind the previous message's end. */
  readonly opened?: OpenedEnvelope;
  /**
   * Asked as the message's end is written, when the relay offers PIPELINING: the envelope of the
   * message to send next over this connection, which then goes in the same write. Undefined: none.
   */
  readonly next?: () => FollowingEnvelope | undefined;
}

/** A reply on its way: the command it answers, for the error when none comes. */
interface Waiter {
  readonly command: SmtpCommand;
  resolve(reply: string): void;
  reject(error: SmtpClientError): void;
}

const NON_ASCII = /[^\x00-\x7f]/;
/** Characters that would end or break an SMTP command line if put in an address. */
const UNSAFE_IN_COMMAND = /[\r\n<>]/;

/**
 * One SMTP client connection to the relay (RFC 5321), opened with `SmtpConnection.open`: greeting,
 * EHLO, STARTTLS, EHLO again and AUTH, then one message after another with `send`.
 *
 * Why our own and not nodemailer's: nodemailer writes every command and the message's end as
 * separate socket writes and waits for each reply in turn, even when the relay offers PIPELINING
 * (RFC 2920). On loopback a write costs the receiving side's work too, so a copy cost about five
 * writes and four round trips. Here, with PIPELINING, MAIL, RCPT and DATA go in one write and the
 * message with its end in a second: two writes and two waits per copy. Without PIPELINING each
 * command waits for its reply, as RFC 5321 requires.
 *
 * Errors carry nodemailer's field names (`code`, `command`, `response`, `responseCode`), which the
 * delivery classifier reads.
 */
export class SmtpConnection {
  private readonly reader = new ReplyReader();
  private readonly waiters: Waiter[] = [];
  private extensions = new Map<string, string[]>();
  private broken: SmtpClientError | undefined;
  /** The relay said 421 (it is closing): no further message goes over this connection. */
  private closing = false;
  private readonly closeListeners: Array<() => void> = [];
  /** Messages the relay accepted over this connection. */
  delivered = 0;

  private constructor(
    private socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {}

  static async open(options: ConnectionOptions): Promise<SmtpConnection> {
    const plain = net.connect({ host: options.host, port: options.port });
    // Before the first byte: Nagle would hold each pipelined group's last segment until the relay's
    // delayed ACK (about 40 ms on Linux). Node applies the flag to the handle that connects.
    plain.setNoDelay(true);
    plain.setKeepAlive(true);
    const socket = options.secure ? tls.connect({ socket: plain, ...tlsOptions(options) }) : plain;
    const connection = new SmtpConnection(socket, options);
    try {
      await connection.connect();
      await connection.greet();
    } catch (error) {
      connection.destroy();
      throw error;
    }
    return connection;
  }

  /** Whether another message may go over this connection. */
  get usable(): boolean {
    return !this.broken && !this.closing && !this.socket.destroyed;
  }

  /** Called once, when the connection is gone for whatever reason. */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /**
   * Sends one message; resolves with the relay's reply to its end ("250 2.0.0 Ok: queued as …")
   * once the relay took responsibility for it, and rejects with an SmtpClientError otherwise. The
   * connection stays usable after the relay refused a message, not after it broke. An envelope
   * `options.next` gave is written, and said to be, whether or not this message then succeeds.
   */
  async send(envelope: SmtpEnvelope, raw: Buffer, options: SendOptions = {}): Promise<string> {
    const replies = await this.envelopeReplies(envelope, raw.length, options.opened);
    const expected = 2 + envelope.to.length;
    const refusal = envelopeRefusal(replies, envelope.to.length);
    const dataReply = replies.length === expected ? replies[replies.length - 1] : undefined;
    if (dataReply === undefined || replyCode(dataReply) !== 354) {
      await this.reset();
      throw refusal ?? new SmtpClientError("Data command failed", "EENVELOPE", "DATA", dataReply);
    }
    if (refusal) {
      // The relay asked for the message although it refused the envelope: the only way back to a
      // known state without sending something is to drop the connection.
      this.destroy();
      throw refusal;
    }
    if (this.closing) {
      // A 421 to the message before, whose end this envelope followed: nothing more goes over a
      // connection the relay is closing, and none of this message went yet (the pool sends it again).
      this.destroy();
      throw new SmtpClientError("Connection closing (421) before the message was sent", "ECONNECTION", "MAIL FROM");
    }
    const answer = this.expect("DATA");
    // The next message's envelope rides behind this one's end: one write and one wait per message
    // instead of two, on both sides of the connection.
    const next = this.extensions.has("PIPELINING") ? options.next?.() : undefined;
    if (next) next.opened({ replies: this.expectAll(next.commands) });
    // Corked, the pieces leave in one writev: one system call, and no copy of the message.
    this.socket.cork();
    for (const piece of dataBlock(raw)) this.socket.write(piece);
    if (next) this.socket.write(commandLines(next.commands));
    this.socket.uncork();
    const final = await answer;
    if (!isPositive(final)) throw new SmtpClientError("Message failed", "EMESSAGE", "DATA", final);
    this.delivered++;
    return final;
  }

  /**
   * MAIL FROM (with SIZE and SMTPUTF8 as the relay offers them), a RCPT TO per recipient, DATA.
   * Throws, before anything is written, for an envelope that cannot go: an address that would
   * break the command line, no recipient, a message over the relay's announced size.
   */
  envelopeCommands(envelope: SmtpEnvelope, size: number): EnvelopeCommands {
    return [["MAIL FROM", this.mailFromCommand(envelope, size)], ...envelope.to.map((to): [SmtpCommand, string] => ["RCPT TO", `RCPT TO:<${to}>`]), ["DATA", "DATA"]];
  }

  /** Ends the session politely (QUIT) when it is idle, else at once. */
  quit(): void {
    if (this.usable && this.waiters.length === 0) {
      this.closing = true;
      this.socket.end("QUIT\r\n");
      // A relay that never answers QUIT must not keep the socket open.
      setTimeout(() => this.socket.destroy(), this.options.connectionTimeout).unref();
    } else {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private mailFromCommand(envelope: SmtpEnvelope, size: number): string {
    if (UNSAFE_IN_COMMAND.test(envelope.from)) throw new SmtpClientError(`Invalid sender ${JSON.stringify(envelope.from)}`, "EENVELOPE", "API");
    if (envelope.to.length === 0) throw new SmtpClientError("No recipients defined", "EENVELOPE", "API");
    for (const to of envelope.to) {
      if (!to || UNSAFE_IN_COMMAND.test(to)) throw new SmtpClientError(`Invalid recipient ${JSON.stringify(to)}`, "EENVELOPE", "API");
    }
    const sizeExtension = this.extensions.get("SIZE");
    const limit = Number(sizeExtension?.[0] ?? 0);
    // RFC 1870: a message over the announced limit is not offered at all; the same copy will be as large tomorrow.
    if (limit > 0 && size > limit) throw new SmtpClientError(`Message size larger than allowed ${limit}`, "EMESSAGE", "MAIL FROM");
    let command = `MAIL FROM:<${envelope.from}>`;
    if (sizeExtension) command += ` SIZE=${size}`;
    // RFC 6531: an address with non-ASCII characters is announced; a relay without SMTPUTF8 refuses it itself.
    if (this.extensions.has("SMTPUTF8") && [envelope.from, ...envelope.to].some((address) => NON_ASCII.test(address))) command += " SMTPUTF8";
    return command;
  }

  /** The replies to MAIL FROM, RCPT TO and DATA: awaited when they went out already, else asked for now. */
  private async envelopeReplies(envelope: SmtpEnvelope, size: number, opened: OpenedEnvelope | undefined): Promise<string[]> {
    if (opened) return settledInOrder(opened.replies);
    const commands = this.envelopeCommands(envelope, size);
    return this.extensions.has("PIPELINING") ? this.pipelined(commands) : this.inTurn(commands);
  }

  /** RFC 2920: the whole group in one write; the replies come back in the same order. */
  private async pipelined(commands: EnvelopeCommands): Promise<string[]> {
    const answers = this.expectAll(commands);
    this.socket.write(commandLines(commands));
    return settledInOrder(answers);
  }

  /** A waiter for each command, in order; each is awaited later, and a broken connection rejects them all at once. */
  private expectAll(commands: EnvelopeCommands): Promise<string>[] {
    const answers = commands.map(([command]) => this.expect(command));
    for (const answer of answers) answer.catch(() => {});
    return answers;
  }

  /** Without PIPELINING: one command, its reply, the next; stops at the first refusal that settles the message. */
  private async inTurn(commands: EnvelopeCommands): Promise<string[]> {
    const replies: string[] = [];
    let recipients = 0;
    for (const [command, line] of commands) {
      if (command === "DATA" && recipients === 0) break;
      const reply = await this.command(command, line);
      replies.push(reply);
      const ok = replyCode(reply) >= 200 && replyCode(reply) < 400;
      if (command === "MAIL FROM" && !ok) break;
      if (command === "RCPT TO" && ok) recipients++;
    }
    return replies;
  }

  /** After a refused envelope: RSET, so the next message starts clean; a connection that will not reset is dropped. */
  private async reset(): Promise<void> {
    if (!this.usable) return;
    try {
      const reply = await this.command("RSET", "RSET");
      if (replyCode(reply) !== 250) this.destroy();
    } catch {
      this.destroy();
    }
  }

  private async connect(): Promise<void> {
    const socket = this.socket;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SmtpClientError("Connection timeout", "ETIMEDOUT", "CONN")), this.options.connectionTimeout);
      const done = (error?: SmtpClientError): void => {
        clearTimeout(timer);
        socket.off("error", failed);
        socket.off(this.options.secure ? "secureConnect" : "connect", connected);
        if (error) reject(error);
        else resolve();
      };
      const failed = (error: Error): void => done(fromSocketError(error, "ESOCKET", "CONN"));
      const connected = (): void => done();
      socket.once("error", failed);
      socket.once(this.options.secure ? "secureConnect" : "connect", connected);
    });
    this.listen(socket);
  }

  private async greet(): Promise<void> {
    const greeting = await this.expect("CONN", this.options.connectionTimeout);
    if (replyCode(greeting) !== 220) throw new SmtpClientError("Invalid greeting", "EPROTOCOL", "CONN", greeting);
    await this.hello();
    if (this.options.startTls && !this.options.secure) {
      // Asked even when not offered (as nodemailer did): a relay without it answers 5xx, which says so.
      const reply = await this.command("STARTTLS", "STARTTLS");
      if (replyCode(reply) !== 220) throw new SmtpClientError("Error upgrading connection with STARTTLS", "ETLS", "STARTTLS", reply);
      await this.upgrade();
      await this.hello();
    }
    if (this.options.auth) await this.authenticate(this.options.auth);
  }

  private async hello(): Promise<void> {
    const ehlo = await this.command("EHLO", `EHLO ${this.options.name}`);
    if (replyCode(ehlo) === 250) {
      this.extensions = ehloExtensions(ehlo);
      return;
    }
    // RFC 5321 §3.2: a server that does not know EHLO still knows HELO, with no extensions.
    const helo = await this.command("HELO", `HELO ${this.options.name}`);
    if (replyCode(helo) !== 250) throw new SmtpClientError("Invalid HELO", "EPROTOCOL", "HELO", helo);
    this.extensions = new Map();
  }

  private async upgrade(): Promise<void> {
    // Bytes after the 220 and before the handshake (an injected reply, or a relay that is not
    // speaking TLS) broke the connection already: a failed handshake, for the TLS policy to judge.
    if (this.broken) throw new SmtpClientError("Error upgrading connection with STARTTLS", "ETLS", "STARTTLS", undefined, this.broken);
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    plain.removeAllListeners("timeout");
    plain.removeAllListeners("error");
    // Errors of the plain socket now surface through the TLS socket; until then, none may go unheard.
    plain.on("error", () => {});
    plain.setTimeout(0);
    const secure = tls.connect({ socket: plain, ...tlsOptions(this.options) });
    this.socket = secure;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new SmtpClientError("TLS handshake timeout", "ETLS", "STARTTLS"));
      }, this.options.connectionTimeout);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        secure.off("error", failed);
        resolve();
      });
      const failed = (error: Error): void => {
        clearTimeout(timer);
        secure.destroy();
        reject(fromSocketError(error, "ETLS", "STARTTLS"));
      };
      secure.once("error", failed);
    });
    this.listen(secure);
  }

  private async authenticate(auth: { user: string; pass: string }): Promise<void> {
    const offered = (this.extensions.get("AUTH") ?? []).map((mechanism) => mechanism.toUpperCase());
    if (offered.includes("LOGIN") && !offered.includes("PLAIN")) {
      const asked = await this.command("AUTH LOGIN", "AUTH LOGIN");
      if (replyCode(asked) !== 334) throw new SmtpClientError("Invalid login sequence", "EAUTH", "AUTH LOGIN", asked);
      const user = await this.command("AUTH LOGIN", Buffer.from(auth.user, "utf8").toString("base64"));
      if (replyCode(user) !== 334) throw new SmtpClientError("Invalid login sequence", "EAUTH", "AUTH LOGIN", user);
      const done = await this.command("AUTH LOGIN", Buffer.from(auth.pass, "utf8").toString("base64"));
      if (replyCode(done) !== 235) throw new SmtpClientError("Invalid login", "EAUTH", "AUTH LOGIN", done);
      return;
    }
    // PLAIN (RFC 4616) when offered, and when nothing is: the relay's refusal then says why.
    const token = Buffer.from(`\0${auth.user}\0${auth.pass}`, "utf8").toString("base64");
    const done = await this.command("AUTH PLAIN", `AUTH PLAIN ${token}`);
    if (replyCode(done) !== 235) throw new SmtpClientError("Invalid login", "EAUTH", "AUTH PLAIN", done);
  }

  private command(command: SmtpCommand, line: string): Promise<string> {
    const answer = this.expect(command);
    this.socket.write(`${line}\r\n`, "utf8");
    return answer;
  }

  /** The next reply; the socket's silence for `timeout` (socketTimeout unless given) fails it. */
  private expect(command: SmtpCommand, timeout = this.options.socketTimeout): Promise<string> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.waiters.length === 0) this.socket.setTimeout(timeout);
    return new Promise((resolve, reject) => this.waiters.push({ command, resolve, reject }));
  }

  private listen(socket: net.Socket): void {
    socket.setTimeout(this.options.socketTimeout);
    socket.on("data", (chunk: Buffer) => {
      for (const reply of this.reader.push(chunk)) {
        if (replyCode(reply) === 421) this.closing = true;
        const waiter = this.waiters.shift();
        if (!waiter) {
          // Said unasked, between messages: typically "421 idle too long" before the relay hangs up.
          this.fail(new SmtpClientError("Unexpected reply", "EPROTOCOL", "API", reply));
          return;
        }
        waiter.resolve(reply);
      }
      if (this.waiters.length === 0) socket.setTimeout(this.options.socketTimeout);
    });
    socket.on("timeout", () => {
      const waiter = this.waiters[0];
      // Idle too long between messages: end quietly; the pool opens another when there is mail.
      if (!waiter) this.quit();
      else this.fail(new SmtpClientError(waiter.command === "CONN" ? "Greeting never received" : "Timeout", "ETIMEDOUT", waiter.command));
    });
    socket.on("error", (error: Error) => this.fail(fromSocketError(error, "ESOCKET", this.waiters[0]?.command ?? "API")));
    socket.on("close", () => {
      this.fail(new SmtpClientError("Connection closed unexpectedly", "ECONNECTION", this.waiters[0]?.command ?? "API"));
      for (const listener of this.closeListeners.splice(0)) listener();
    });
  }

  /** The connection is broken: every reply still awaited fails with `error`, and so does any later command. */
  private fail(error: SmtpClientError): void {
    this.broken ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.socket.destroy();
  }
}

function commandLines(commands: EnvelopeCommands): Buffer {
  return Buffer.from(commands.map(([, line]) => `${line}\r\n`).join(""), "utf8");
}

/** The replies in the order they were asked for; the first failure rejects. */
async function settledInOrder(answers: readonly Promise<string>[]): Promise<string[]> {
  const replies: string[] = [];
  for (const answer of answers) replies.push(await answer);
  return replies;
}

/** A 2xx reply: the command, or the message, was taken. */
function isPositive(reply: string): boolean {
  const code = replyCode(reply);
  return code >= 200 && code < 300;
}

function tlsOptions(options: ConnectionOptions): tls.ConnectionOptions {
  return {
    host: options.host,
    // SNI takes a name, never an address (RFC 6066 §3).
    ...(net.isIP(options.host) ? {} : { servername: options.host }),
    rejectUnauthorized: options.tls.rejectUnauthorized,
    ...(options.tls.ca ? { ca: options.tls.ca } : {}),
  };
}

/**
 * The refusal an envelope met: the sender's, or every recipient's. `replies` are MAIL's, then the
 * recipients' (fewer when sent in turn and stopped early), then DATA's when it was sent.
 */
function envelopeRefusal(replies: readonly string[], recipients: number): SmtpClientError | undefined {
  const [mail] = replies;
  if (mail === undefined) return undefined;
  if (!isPositive(mail)) return new SmtpClientError("Mail command failed", "EENVELOPE", "MAIL FROM", mail);
  let accepted = 0;
  let refused: string | undefined;
  for (const reply of replies.slice(1, 1 + recipients)) {
    if (isPositive(reply)) accepted++;
    else refused = reply;
  }
  if (accepted === 0 && refused !== undefined) return new SmtpClientError("Can't send mail - all recipients were rejected", "EENVELOPE", "RCPT TO", refused);
  return undefined;
}
