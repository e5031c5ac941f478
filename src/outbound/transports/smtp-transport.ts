import net from "node:net";
import nodemailer from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool/index.js";
import type { Config } from "../../config/config.js";
import type { OutboundMessage, Transport } from "./transport.js";

/**
 * A relay or smarthost (SPEC §4): pooled connections, STARTTLS, optional auth. The envelope is
 * given explicitly, so nodemailer never derives it from the headers (the VERP sender is not the From).
 */
export class SmtpTransport implements Transport {
  private readonly transporter: nodemailer.Transporter<SMTPPool.SentMessageInfo>;

  constructor(options: SMTPPool.Options) {
    // Every connection, pooled or from verify(), goes through getSocket: Nagle off on all of them.
    this.transporter = nodemailer.createTransport({ ...options, getSocket: connectWithoutNagle });
  }

  async send(message: OutboundMessage): Promise<{ response: string }> {
    const info = await this.transporter.sendMail({
      envelope: { from: message.envelope.from, to: [...message.envelope.to] },
      raw: message.raw,
    });
    return { response: info.response };
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
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
    socket.destroy(Object.assign(new Error("Connection timeout"), { code: "ETIMEDOUT" }));
  }, options.connectionTimeout ?? 2 * 60 * 1000);
  timer.unref();
  const clear = (): void => clearTimeout(timer);
  socket.once("connect", clear);
  socket.once("close", clear);
  // Synchronously: nodemailer attaches its "error" listener before any socket event can fire.
  callback(null, { connection: socket });
}

export function smtpPoolOptions(config: Config): SMTPPool.Options {
  const outbound = config.outbound;
  return {
    pool: true,
    maxConnections: outbound.pool_size,
    host: outbound.host,
    port: outbound.port,
    secure: outbound.secure,
    requireTLS: outbound.starttls === "required",
    ignoreTLS: outbound.starttls === "off",
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
