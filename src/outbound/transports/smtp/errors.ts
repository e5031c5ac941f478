import { replyCode } from "./replies.js";

/**
 * The kinds of failure, named as nodemailer named them, because src/domain/delivery-errors.ts
 * classifies by these names and its rules (and the errors recorded on old deliveries) use them.
 */
export type SmtpErrorCode =
  | "ESOCKET" // the TCP connection failed or broke
  | "ETIMEDOUT" // the relay did not answer in time
  | "ECONNECTION" // the connection closed under a command
  | "EPROTOCOL" // the relay said something that is not SMTP
  | "ETLS" // STARTTLS was refused or its handshake failed
  | "EAUTH" // the relay refused our credentials
  | "EENVELOPE" // the sender or a recipient was refused, or is malformed
  | "EMESSAGE"; // the message was refused, or is larger than the relay takes

/** The SMTP command being answered, "CONN" while connecting, "API" before anything was sent. */
export type SmtpCommand = "CONN" | "EHLO" | "HELO" | "STARTTLS" | "AUTH PLAIN" | "AUTH LOGIN" | "MAIL FROM" | "RCPT TO" | "DATA" | "RSET" | "API";

/** A failed send: what failed, during which command, and the relay's whole reply when it gave one. */
export class SmtpClientError extends Error {
  readonly responseCode?: number;
  /** From the socket's own error: "connect" for a refused or unreachable relay. */
  readonly syscall?: string;

  constructor(
    message: string,
    readonly code: SmtpErrorCode,
    readonly command: SmtpCommand,
    readonly response?: string,
    cause?: unknown,
  ) {
    super(response ? `${message}: ${response}` : message, cause === undefined ? undefined : { cause });
    this.name = "SmtpClientError";
    const codeOfReply = response ? replyCode(response) : 0;
    if (codeOfReply) this.responseCode = codeOfReply;
    const syscall = (cause as { syscall?: unknown } | undefined)?.syscall;
    if (typeof syscall === "string") this.syscall = syscall;
  }
}

/** A socket's or TLS's own error, kept as the message, under our code and command. */
export function fromSocketError(error: unknown, code: SmtpErrorCode, command: SmtpCommand): SmtpClientError {
  const message = error instanceof Error ? error.message : String(error);
  return new SmtpClientError(message, code, command, undefined, error);
}
