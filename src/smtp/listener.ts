import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createSecureContext } from "node:tls";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import type { Config } from "../config/config.js";
import { Refusal } from "../errors/refusal.js";
import { SmtpReply, toSmtpReply } from "../errors/smtp-reply.js";
import type { InboundPipeline } from "../inbound/pipeline.js";
import type { Logger } from "../log.js";
import { keepOwnEnhancedStatus } from "./enhanced-status.js";
import { SessionLimits } from "./limits.js";
import { checkMailFrom } from "./mail-from.js";

export interface SmtpListener {
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting connections and waits for open sessions to finish. */
  close(): Promise<void>;
  /**
   * Reads smtp.tls_key and smtp.tls_cert again (SIGHUP): new STARTTLS sessions get the new
   * certificate, open ones keep theirs. A file that cannot be read or a key that does not match
   * its certificate leaves the current certificate in place. False when nothing was reloaded.
   */
  reloadTls(): boolean;
}

export interface ListenerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly pipeline: InboundPipeline;
}

/**
 * The thin adapter: RCPT TO asks the router, DATA hands the bytes to the pipeline and answers
 * with its verdict. No rule about conversations lives here.
 */
export function createSmtpListener({ config, logger, pipeline }: ListenerDeps): SmtpListener {
  const tls = readTlsFiles(config);
  const limits = new SessionLimits(
    {
      maxConnectionsPerIp: config.smtp.max_connections_per_ip,
      sessionTimeout: config.smtp.session_timeout,
      minDataRate: config.smtp.min_data_rate,
      minDataRateGrace: config.smtp.min_data_rate_grace,
    },
    logger,
  );
  const server = new SMTPServer({
    name: config.primaryDomain,
    banner: config.smtp.banner ?? "Postern conversation gateway",
    size: config.smtp.max_message_size,
    authOptional: true,
    // Without a configured certificate STARTTLS would complete a handshake with smtp-server's
    // built-in (expired, CN=localhost) certificate: the command is disabled, not merely unadvertised.
    disabledCommands: tls ? ["AUTH"] : ["AUTH", "STARTTLS"],
    hideSTARTTLS: !tls,
    // Behind a front MTA every client is that MTA: only it may say who the real client was.
    useXClient: config.auth.trusted_hosts.length > 0 ? [...config.auth.trusted_hosts] : false,
    useXForward: config.auth.trusted_hosts.length > 0 ? [...config.auth.trusted_hosts] : false,
    ...(tls ?? {}),
    disableReverseLookup: !config.smtp.reverse_dns,
    maxClients: config.smtp.max_clients,
    socketTimeout: config.smtp.socket_timeout,
    logger: false,
    // RFC 2034; every reply of ours already starts with its precise status (see enhanced-status.ts).
    hideENHANCEDSTATUSCODES: false,

    onConnect(session, callback) {
      keepOwnEnhancedStatus(server, session);
      callback(limits.connect(session) ?? null);
    },

    onMailFrom(address, _session, callback) {
      // Refused here, not after DATA: Postern cannot store or answer a non-ASCII mailbox (RFC 6531).
      callback(checkMailFrom(address) ?? null);
    },

    onClose(session) {
      limits.close(session);
    },

    onRcptTo(address, session, callback) {
      const { rcptTo: _accepted, ...envelope } = envelopeOf(session);
      pipeline.checkRecipient(address.address, envelope).then(
        () => callback(),
        (error: unknown) => callback(toSmtpReply(error)),
      );
    },

    onData(stream, session, callback) {
      readMessage(stream, limits, session)
        .then((raw) => {
          if (stream.sizeExceeded) {
            throw new Refusal("message_too_large", `The message is larger than the ${config.smtp.max_message_size} bytes this gateway accepts.`);
          }
          return limits.whileBusy(session, () =>
            withTimeout(pipeline.process(raw, envelopeOf(session)), config.smtp.processing_timeout),
          );
        })
        .then(
          (verdict) => callback(null, verdict.message),
          (error) => callback(toSmtpReply(error)),
        );
    },
  });

  limits.attach(server);

  server.on("error", (error) => {
    // Socket errors (a client resetting mid-DATA) belong to one session; they must not end the process.
    logger.warn({ event: "smtp.error", err: error }, "SMTP connection error");
  });

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.smtp.port, config.smtp.host, () => {
          server.off("error", reject);
          const port = (server.server.address() as AddressInfo).port;
          logger.info({ event: "smtp.listening", host: config.smtp.host, port }, "SMTP listener ready");
          resolve(port);
        });
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
    reloadTls() {
      if (!tls) return false;
      let fresh: { key: Buffer; cert: Buffer };
      try {
        fresh = readTlsFiles(config)!;
        // updateSecureContext drops the old context before building the new one: a bad pair is caught here first.
        createSecureContext(fresh);
      } catch (error) {
        logger.error({ event: "smtp.tls_reload_failed", key: config.smtp.tls_key, cert: config.smtp.tls_cert, err: error }, "TLS certificate not reloaded; the previous one stays in use");
        return false;
      }
      server.updateSecureContext(fresh);
      logger.info({ event: "smtp.tls_reloaded", key: config.smtp.tls_key, cert: config.smtp.tls_cert }, "TLS certificate reloaded");
      return true;
    },
  };
}

function readTlsFiles(config: Config): { key: Buffer; cert: Buffer } | undefined {
  if (!config.smtp.tls_key || !config.smtp.tls_cert) return undefined;
  return { key: readFileSync(config.smtp.tls_key), cert: readFileSync(config.smtp.tls_cert) };
}

/** Reads DATA; a client below smtp.min_data_rate (past its grace period) is cut off with 421. */
function readMessage(stream: SMTPServerDataStream, limits: SessionLimits, session: SMTPServerSession): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const rate = limits.watchData(stream, session, (reply) => {
      chunks.length = 0;
      reject(reply);
    });
    stream.on("data", (chunk: Buffer) => {
      rate.received(chunk.length);
      // Past the limit, keep draining the stream but stop holding its bytes.
      if (!stream.sizeExceeded) chunks.push(chunk);
    });
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

function envelopeOf(session: SMTPServerSession) {
  const mailFrom = session.envelope.mailFrom;
  return {
    mailFrom: mailFrom ? mailFrom.address : "",
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    sessionId: session.id,
    remoteAddress: session.remoteAddress,
    // What the client said in EHLO/HELO; SPF checks it as well (SPEC §3).
    helo: session.hostNameAppearsAs ?? "",
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SmtpReply(451, "4.3.0", "Processing this message took too long; please try again later.", "temporary_failure")),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
