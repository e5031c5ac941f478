import { readFileSync } from "node:fs";
import net from "node:net";
import { PassThrough } from "node:stream";
import nodemailer from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool/index.js";
import type { Config } from "../../config/config.js";
import type { Logger } from "../../log.js";
import { asciiAddress } from "../mime/header.js";
import type { OutboundMessage, TlsOutcome, Transport } from "./transport.js";

export interface SmtpTransportSettings {
  /** Everything but TLS: host, port, auth, pool size, timeouts. */
  readonly pool: SMTPPool.Options;
  readonly starttls: "opportunistic" | "required" | "off";
  /** TLS from the first byte (port 465): no STARTTLS, no clear fallback. */
  readonly secure: boolean;
  /** PEM trust anchors for verification instead of the system CAs. */
  readonly ca?: Buffer;
  /** Verify the relay's certificate (starttls = "required" or secure). */
  readonly rejectUnauthorized: boolean;
}

/**
 * After a failed opportunistic handshake, copies go in clear for this long before TLS is tried
 * again: a relay whose TLS is broken (or absent) would otherwise cost a failed connection per copy.
 */
const CLEAR_AFTER_TLS_FAILURE_MS = 60 * 60 * 1000;

/**
 * Thrown instead of nodemailer's error when starttls = "required" cannot be met: the relay's
 * certificate does not verify, or it offers no STARTTLS. Our configuration or the relay's, never
 * something a retry fixes (delivery-errors.ts classifies it as permanent, "configuration").
 */
export class TlsPolicyError extends Error {
  readonly code = "ETLSPOLICY";
  readonly command = "STARTTLS";
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "TlsPolicyError";
  }
}

/**
 * A relay or smarthost (SPEC §4): pooled connections, STARTTLS, optional auth. The envelope is
 * given explicitly, so nodemailer never derives it from the headers (the VERP sender is not the From).
 *
 * TLS policy (`outbound.starttls`):
 *  - "opportunistic" (Postfix's "may"): STARTTLS is always attempted and the certificate is not
 *    verified, so a self-signed or expired certificate still encrypts. If the handshake fails, or
 *    the relay offers no STARTTLS, the same copy is sent again at once in clear through a second
 *    pool, which is used alone for the next hour.
 *  - "required": STARTTLS with a certificate verified against the system CAs or `tls_ca`; anything
 *    less fails the copy with a TlsPolicyError.
 *  - "off": never STARTTLS.
 * Each change of how copies travel is logged (`outbound.tls`), not every copy.
 */
export class SmtpTransport implements Transport {
  private readonly transporter: nodemailer.Transporter<SMTPPool.SentMessageInfo>;
  /** Opportunistic only: the clear pool a failed handshake falls back to, opened on first use. */
  private clearTransporter: nodemailer.Transporter<SMTPPool.SentMessageInfo> | undefined;
  private clearUntil = 0;
  private lastOutcome: TlsOutcome | undefined;

  constructor(
    private readonly settings: SmtpTransportSettings,
    private readonly logger?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.transporter = createPool(settings.pool, primaryTlsOptions(settings));
  }

  async send(message: OutboundMessage): Promise<{ response: string; tls: TlsOutcome }> {
    const mail = rawMail(message);
    if (this.settings.starttls === "opportunistic" && !this.settings.secure && this.now() < this.clearUntil) {
      return this.sendInClear(mail);
    }
    let info: SMTPPool.SentMessageInfo;
    try {
      info = await sendThrough(this.transporter, mail);
    } catch (error) {
      if (!this.settings.secure && isHandshakeFailure(error)) {
        if (this.settings.starttls === "opportunistic") {
          this.clearUntil = this.now() + CLEAR_AFTER_TLS_FAILURE_MS;
          this.note("none", { reason: describe(error), fallback: "clear" }, "STARTTLS failed; sending in clear (starttls = opportunistic)");
          return this.sendInClear(mail);
        }
        if (this.settings.starttls === "required") throw requiredTlsFailure(error);
      }
      throw error;
    }
    const tls = primaryOutcome(this.settings);
    this.note(tls, {}, "copies reach the relay");
    return { response: info.response, tls };
  }

  async close(): Promise<void> {
    this.transporter.close();
    this.clearTransporter?.close();
  }

  private async sendInClear(mail: RawMail): Promise<{ response: string; tls: TlsOutcome }> {
    this.clearTransporter ??= createPool(this.settings.pool, { ignoreTLS: true });
    const info = await sendThrough(this.clearTransporter, mail);
    this.note("none", {}, "copies reach the relay");
    return { response: info.response, tls: "none" };
  }

  private note(tls: TlsOutcome, details: Record<string, unknown>, message: string): void {
    if (tls === this.lastOutcome && !details.fallback) return;
    this.lastOutcome = tls;
    const { host, port } = this.settings.pool;
    const level = details.fallback ? "warn" : "info";
    this.logger?.[level]({ event: "outbound.tls", tls, host, port, starttls: this.settings.starttls, ...details }, message);
  }
}

/**
 * A finished message as nodemailer's transports take it (its documented plugin interface: the
 * envelope, a Message-ID for its logs, and a stream of the bytes). Handed to the pool directly,
 * not through sendMail(), which would build a MIME tree and generate a Message-ID for bytes that
 * are already final: about a tenth of the delivery thread's time per copy.
 */
interface RawMail {
  readonly data: { readonly envelope: SmtpEnvelope };
  readonly message: {
    getEnvelope(): SmtpEnvelope;
    messageId(): string;
    getHeader(name: string): string;
    createReadStream(): NodeJS.ReadableStream;
  };
}

interface SmtpEnvelope {
  readonly from: string;
  readonly to: string[];
  /** SIZE= in MAIL FROM when the relay advertises SIZE (RFC 1870): an oversized copy is refused before its bytes are sent. */
  readonly size: number;
}

const envelopeAddress = (address: string): string => asciiAddress(address) ?? address;

function rawMail(message: OutboundMessage): RawMail {
  // Domains in IDNA form, as nodemailer's own envelope parsing gave them; one without an ASCII form goes as it is, for the relay to refuse.
  const envelope = { from: envelopeAddress(message.envelope.from), to: message.envelope.to.map(envelopeAddress), size: message.raw.length };
  return {
    data: { envelope },
    message: {
      getEnvelope: () => ({ ...envelope, to: [...envelope.to] }),
      messageId: () => "",
      getHeader: () => "",
      // A fresh stream each time: the pool asks again when a connection failed before the message went.
      createReadStream: () => new PassThrough().end(message.raw),
    },
  };
}


function sendThrough(transporter: nodemailer.Transporter<SMTPPool.SentMessageInfo>, mail: RawMail): Promise<SMTPPool.SentMessageInfo> {
  const pool = transporter.transporter as unknown as { send(mail: RawMail, callback: (error: Error | null, info: SMTPPool.SentMessageInfo) => void): boolean };
  return new Promise((resolve, reject) => {
    const queued = pool.send(mail, (error, info) => (error ? reject(error) : resolve(info)));
    if (queued === false) reject(Object.assign(new Error("the SMTP connection pool is closed"), { code: "ECONNECTION" }));
  });
}

function createPool(options: SMTPPool.Options, tls: Partial<SMTPPool.Options>): nodemailer.Transporter<SMTPPool.SentMessageInfo> {
  // Every connection, pooled or from verify(), goes through getSocket: Nagle off on all of them.
  return nodemailer.createTransport({ ...options, ...tls, getSocket: connectWithoutNagle });
}

function primaryTlsOptions(settings: SmtpTransportSettings): Partial<SMTPPool.Options> {
  const verified = { rejectUnauthorized: settings.rejectUnauthorized, ...(settings.ca ? { ca: settings.ca } : {}) };
  if (settings.secure) return { secure: true, tls: settings.starttls === "required" ? verified : { rejectUnauthorized: false } };
  switch (settings.starttls) {
    case "off":
      return { ignoreTLS: true };
    case "required":
      return { requireTLS: true, tls: verified };
    case "opportunistic":
      // requireTLS: a relay that offers no STARTTLS fails here and goes to the clear pool, so
      // every copy that comes back from this pool did travel encrypted.
      return { requireTLS: true, tls: { rejectUnauthorized: false } };
  }
}

function primaryOutcome(settings: SmtpTransportSettings): TlsOutcome {
  if (!settings.secure && settings.starttls === "off") return "none";
  return settings.starttls === "required" && settings.rejectUnauthorized ? "verified" : "unverified";
}

/**
 * Did the connection fail while negotiating TLS (STARTTLS refused, handshake broken, certificate
 * refused) rather than before reaching the relay? nodemailer reports all of them as ESOCKET/ETLS on
 * "CONN" or "STARTTLS"; a TCP connect or DNS failure carries the syscall that failed.
 */
function isHandshakeFailure(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; command?: unknown; syscall?: unknown };
  if (e.code === "ETLS" || e.command === "STARTTLS") return true;
  if (e.command !== "CONN" || e.code !== "ESOCKET") return false;
  return e.syscall !== "connect" && e.syscall !== "getaddrinfo";
}

/** The relay's certificate failed verification (as opposed to a broken or reset handshake). */
const CERTIFICATE_PROBLEM = /certificate|self[- ]signed|altnames|unable to (get|verify)/i;

function requiredTlsFailure(error: unknown): Error {
  const e = error as { message?: string; responseCode?: number };
  const detail = describe(error);
  if (CERTIFICATE_PROBLEM.test(e.message ?? "")) {
    return new TlsPolicyError(
      `The relay's TLS certificate could not be verified (${detail}); outbound.starttls = "required" needs a certificate signed by a CA the system trusts or by outbound.tls_ca.`,
      error,
    );
  }
  if (e.responseCode !== undefined && e.responseCode >= 500) {
    return new TlsPolicyError(`The relay does not offer STARTTLS (${detail}), and outbound.starttls = "required".`, error);
  }
  // A handshake cut short or a 454 is passing trouble: left as it is, it is retried.
  return error as Error;
}

function describe(error: unknown): string {
  const e = error as { message?: string };
  return (e.message ?? String(error)).replace(/\s+/g, " ").trim();
}

/**
 * nodemailer's `getSocket` hook, which opens the TCP connection for it with TCP_NODELAY set.
 *
 * Why: nodemailer never sets TCP_NODELAY, and it writes the final ".\r\n" of DATA as a separate
 * small write. With Nagle on, the kernel holds that write until the relay ACKs the previous
 * segment, and the relay delays its ACK (~40 ms on Linux) because it has nothing to say until it
 * sees the dot: every message stalls ~40 ms, which caps a pooled connection at ~22 messages/s.
 * Lettre and SwiftMailer hit the same stall and fixed it the same way (nodelay on the socket).
 *
 * How: the socket is handed over at once, still connecting, as `connection`; nodemailer then runs
 * its usual path for an already opened connection (smtp-connection `connect()`): its error
 * listener and connection timeout, then implicit TLS (`secure: true`, tls.connect over this
 * socket, which waits for it to connect) or the greeting, EHLO and STARTTLS (`tls.connect` over
 * this socket again). TLS wraps this TCP socket, so nodelay holds under TLS too.
 *
 * Handing over a socket that is still connecting, rather than waiting for "connect" here, keeps
 * every failure on nodemailer's own path: an error passed to this callback leaves the pool
 * resource behind (smtp-pool never removes it), so a few refused connections would wedge the pool.
 * Refusals therefore surface as nodemailer's ESOCKET, and a connection that never completes ends
 * with our timer or nodemailer's greeting timeout (both `connectionTimeout`), as ETIMEDOUT/ESOCKET.
 *
 * Differences from nodemailer's own connect: the host is resolved by the OS (`dns.lookup`, as any
 * Node client does) rather than nodemailer's resolve4/resolve6 cache, and DNS failures come back as
 * ESOCKET ENOTFOUND instead of EDNS; both classify as "connection" (temporary, network).
 */
function connectWithoutNagle(options: SMTPPool.Options, callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void): void {
  const port = Number(options.port) || (options.secure ? 465 : 587);
  const socket = net.connect({ host: options.host ?? "localhost", port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  // Set before the connection exists: Node keeps the flag and applies it to the handle that
  // actually connects (including the one happy-eyeballs settles on), before any byte is written.
  socket.setNoDelay(true);
  socket.setKeepAlive(true);
  // nodemailer's greeting timeout only starts its clock once it has the socket; this bounds the
  // TCP connect itself, and destroys (rather than ends) a socket that never connected.
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error("Connection timeout"), { code: "ETIMEDOUT", syscall: "connect" }));
  }, options.connectionTimeout ?? 2 * 60 * 1000);
  timer.unref();
  const clear = (): void => clearTimeout(timer);
  socket.once("connect", clear);
  socket.once("close", clear);
  // Synchronously: nodemailer attaches its "error" listener before any socket event can fire.
  callback(null, { connection: socket });
}

/** The transport's settings from `[outbound]`; reads `tls_ca`, so a missing file stops the start naming the key. */
export function smtpTransportSettings(config: Config): SmtpTransportSettings {
  const outbound = config.outbound;
  let ca: Buffer | undefined;
  if (outbound.tls_ca) {
    try {
      ca = readFileSync(outbound.tls_ca);
    } catch (error) {
      throw new Error(`outbound.tls_ca: cannot read ${outbound.tls_ca}: ${(error as Error).message}`);
    }
  }
  return {
    pool: smtpPoolOptions(config),
    starttls: outbound.starttls,
    secure: outbound.secure,
    rejectUnauthorized: outbound.tls_reject_unauthorized,
    ...(ca ? { ca } : {}),
  };
}

/** Connection options shared by both pools; TLS is added per pool by the transport. */
export function smtpPoolOptions(config: Config): SMTPPool.Options {
  const outbound = config.outbound;
  return {
    pool: true,
    maxConnections: outbound.pool_size,
    host: outbound.host,
    port: outbound.port,
    ...(outbound.user ? { auth: { user: outbound.user, pass: outbound.password ?? "" } } : {}),
    // EHLO with our own domain rather than the machine's hostname, which relays may reject.
    name: config.primaryDomain,
    connectionTimeout: outbound.connection_timeout,
    greetingTimeout: outbound.connection_timeout,
    // A send must end well within its lease, or the row could be claimed again while in flight.
    socketTimeout: Math.max(1000, Math.min(2 * outbound.connection_timeout, Math.floor(outbound.lease / 2))),
    logger: false,
    debug: false,
  };
}
