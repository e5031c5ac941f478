import { readFileSync } from "node:fs";
import type { Config } from "../../config/config.js";
import type { Logger } from "../../log.js";
import { asciiAddress } from "../mime/header.js";
import type { SmtpEnvelope } from "./smtp/connection.js";
import { SmtpPool, type PoolOptions } from "./smtp/pool.js";
import type { OutboundMessage, TlsOutcome, Transport } from "./transport.js";

/** Where the relay is and how to talk to it, TLS aside. */
export interface PoolSettings {
  readonly host: string;
  readonly port: number;
  /** Our name in EHLO. */
  readonly name: string;
  readonly auth?: { readonly user: string; readonly pass: string };
  readonly maxConnections: number;
  readonly connectionTimeout: number;
  readonly socketTimeout: number;
}

export interface SmtpTransportSettings {
  /** Everything but TLS: host, port, auth, pool size, timeouts. */
  readonly pool: PoolSettings;
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
 * Thrown instead of the connection's error when starttls = "required" cannot be met: the relay's
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
 * A relay or smarthost (SPEC §4): pooled connections (src/outbound/transports/smtp/), PIPELINING
 * when offered, STARTTLS, optional auth. The envelope is given explicitly: the VERP sender is not
 * the From.
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
  private readonly pool: SmtpPool;
  /** Opportunistic only: the clear pool a failed handshake falls back to, opened on first use. */
  private clearPool: SmtpPool | undefined;
  private clearUntil = 0;
  private lastOutcome: TlsOutcome | undefined;

  constructor(
    private readonly settings: SmtpTransportSettings,
    private readonly logger?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.pool = new SmtpPool(connectionOptions(settings, primaryTls(settings)));
  }

  async send(message: OutboundMessage): Promise<{ response: string; tls: TlsOutcome }> {
    const envelope = envelopeOf(message);
    if (this.settings.starttls === "opportunistic" && !this.settings.secure && this.now() < this.clearUntil) {
      return this.sendInClear(envelope, message.raw);
    }
    let response: string;
    try {
      response = await this.pool.send(envelope, message.raw);
    } catch (error) {
      if (!this.settings.secure && isHandshakeFailure(error)) {
        if (this.settings.starttls === "opportunistic") {
          this.clearUntil = this.now() + CLEAR_AFTER_TLS_FAILURE_MS;
          this.note("none", { reason: describe(error), fallback: "clear" }, "STARTTLS failed; sending in clear (starttls = opportunistic)");
          return this.sendInClear(envelope, message.raw);
        }
        if (this.settings.starttls === "required") throw requiredTlsFailure(error);
      }
      throw error;
    }
    const tls = primaryOutcome(this.settings);
    this.note(tls, {}, "copies reach the relay");
    return { response, tls };
  }

  async close(): Promise<void> {
    this.pool.close();
    this.clearPool?.close();
  }

  private async sendInClear(envelope: SmtpEnvelope, raw: Buffer): Promise<{ response: string; tls: TlsOutcome }> {
    this.clearPool ??= new SmtpPool(connectionOptions(this.settings, { secure: false, startTls: false }));
    const response = await this.clearPool.send(envelope, raw);
    this.note("none", {}, "copies reach the relay");
    return { response, tls: "none" };
  }

  private note(tls: TlsOutcome, details: Record<string, unknown>, message: string): void {
    if (tls === this.lastOutcome && !details.fallback) return;
    this.lastOutcome = tls;
    const { host, port } = this.settings.pool;
    const level = details.fallback ? "warn" : "info";
    this.logger?.[level]({ event: "outbound.tls", tls, host, port, starttls: this.settings.starttls, ...details }, message);
  }
}

/** Domains in IDNA form; one without an ASCII form goes as it is, for the relay to refuse. */
const envelopeAddress = (address: string): string => asciiAddress(address) ?? address;

function envelopeOf(message: OutboundMessage): SmtpEnvelope {
  return { from: envelopeAddress(message.envelope.from), to: message.envelope.to.map(envelopeAddress) };
}

interface TlsChoice {
  readonly secure: boolean;
  readonly startTls: boolean;
  readonly rejectUnauthorized?: boolean;
}

function connectionOptions(settings: SmtpTransportSettings, tls: TlsChoice): PoolOptions {
  return {
    ...settings.pool,
    secure: tls.secure,
    startTls: tls.startTls,
    tls: { rejectUnauthorized: tls.rejectUnauthorized ?? false, ...(settings.ca ? { ca: settings.ca } : {}) },
  };
}

function primaryTls(settings: SmtpTransportSettings): TlsChoice {
  const verify = settings.starttls === "required" && settings.rejectUnauthorized;
  if (settings.secure) return { secure: true, startTls: false, rejectUnauthorized: verify };
  switch (settings.starttls) {
    case "off":
      return { secure: false, startTls: false };
    case "required":
      return { secure: false, startTls: true, rejectUnauthorized: verify };
    case "opportunistic":
      // STARTTLS insisted on: a relay that offers none fails here and goes to the clear pool, so
      // every copy that comes back from this pool did travel encrypted.
      return { secure: false, startTls: true, rejectUnauthorized: false };
  }
}

function primaryOutcome(settings: SmtpTransportSettings): TlsOutcome {
  if (!settings.secure && settings.starttls === "off") return "none";
  return settings.starttls === "required" && settings.rejectUnauthorized ? "verified" : "unverified";
}

/**
 * Did the connection fail while negotiating TLS (STARTTLS refused, handshake broken, certificate
 * refused) rather than before reaching the relay? The connection reports them as ETLS on
 * "STARTTLS", or, for implicit TLS, as ESOCKET on "CONN"; a TCP connect or DNS failure carries the
 * syscall that failed.
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

/** Connection settings shared by both pools; TLS is added per pool by the transport. */
export function smtpPoolOptions(config: Config): PoolSettings {
  const outbound = config.outbound;
  return {
    maxConnections: outbound.pool_size,
    host: outbound.host,
    port: outbound.port,
    ...(outbound.user ? { auth: { user: outbound.user, pass: outbound.password ?? "" } } : {}),
    // EHLO with our own domain rather than the machine's hostname, which relays may reject.
    name: config.primaryDomain,
    connectionTimeout: outbound.connection_timeout,
    // A send must end well within its lease, or the row could be claimed again while in flight.
    socketTimeout: Math.max(1000, Math.min(2 * outbound.connection_timeout, Math.floor(outbound.lease / 2))),
  };
}
