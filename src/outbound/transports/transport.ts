import type { Envelope } from "../compose.js";

/** One rendered message on its way out. */
export interface OutboundMessage {
  readonly envelope: Envelope;
  readonly raw: Buffer;
  /** Names the file the file transport writes; the SMTP transport does not need it. */
  readonly deliveryId?: number;
}

/** How a message reached the relay: TLS with a verified certificate, TLS without verification, or in clear. */
export type TlsOutcome = "verified" | "unverified" | "none";

/** The next hop's answer, and for SMTP how the copy travelled. */
export interface SendResult {
  readonly response: string;
  readonly tls?: TlsOutcome;
}

/**
 * Where rendered mail goes. `send` resolves once the next hop has taken responsibility for the
 * message (a 250 after DATA, or a file safely renamed into place) and rejects otherwise, with
 * the error fields nodemailer named and src/outbound/transports/smtp/ keeps (`code`, `command`,
 * `responseCode`, `response`) for src/domain/delivery-errors.ts to classify.
 */
export interface Transport {
  send(message: OutboundMessage): Promise<SendResult>;
  close(): Promise<void>;
}
