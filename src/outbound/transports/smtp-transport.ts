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
    this.transporter = nodemailer.createTransport(options);
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
