import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createSecureContext } from "node:tls";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import type { Config } from "../config/config.js";
import { SmtpReply, toSmtpReply } from "../errors/smtp-reply.js";
import type { InboundPipeline } from "../inbound/pipeline.js";
import type { Logger } from "../log.js";
import { keepOwnEnhancedStatus } from "./enhanced-status.js";
import { checkDeclaredSizeInMailFrom, declaredSize } from "./declared-size.js";
import { useGreetingDelay } from "./greeting-delay.js";
import { SessionLimits, type LimitCut } from "./limits.js";
import { checkMailFrom } from "./mail-from.js";
import { DEFAULT_LANE_LIMITS, ProcessingLanes, type LaneLimits } from "../concurrency/processing-lanes.js";
import { receiveMessage, spoolDirOf, type ReceivedMessage } from "./spool.js";

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
  /** The budget for large messages, shared with the delivery worker's large copies. */
  readonly largeWork?: ProcessingLanes;
  /** How many messages are processed at once (DEFAULT_LANE_LIMITS unless a test needs a full lane). */
  readonly laneLimits?: LaneLimits;
  /** How long a message may wait for its turn before 451 4.3.2 (LANE_WAIT_LIMIT unless a test needs it shorter). */
  readonly laneWaitLimit?: number;
}

/**
 * The thin adapter: RCPT TO asks the router, DATA hands the bytes to the pipeline and answers
 * with its verdict. No rule about conversations lives here.
 */
export function createSmtpListener({ config, logger, pipeline, largeWork, laneLimits, laneWaitLimit }: ListenerDeps): SmtpListener {
  const tls = readTlsFiles(config);
  /** Sessions a limit cut off: the mail log has their entry already, whatever their DATA reading does next. */
  const cutOff = new WeakSet<SMTPServerSession>();
  const limitCut = (cut: LimitCut) => {
    cutOff.add(cut.session);
    if (cut.limit === "max_connections_per_ip") return pipeline.recordRefusedConnection(cut.session.remoteAddress, cut.reply);
    // A session cut off between messages refused no message: smtp.limit in the log is enough.
    if (!cut.session.envelope.mailFrom) return;
    const note = cut.limit === "min_data_rate" ? `cut off after ${cut.bytes ?? 0} bytes of DATA` : "cut off before the message was complete";
    void pipeline.recordRefusal(envelopeOf(cut.session), cut.reply, { ...(cut.bytes !== undefined ? { size: cut.bytes } : {}), note });
  };
  const limits = new SessionLimits(
    {
      maxConnectionsPerIp: config.smtp.max_connections_per_ip,
      sessionTimeout: config.smtp.session_timeout,
      minDataRate: config.smtp.min_data_rate,
      minDataRateGrace: config.smtp.min_data_rate_grace,
    },
    logger,
    limitCut,
  );
  const spool = { dir: spoolDirOf(config.database), memoryLimit: SPOOL_MEMORY_LIMIT };
  const lanes = new ProcessingLanes(laneLimits ?? DEFAULT_LANE_LIMITS, largeWork);
  const laneWait = laneWaitLimit ?? LANE_WAIT_LIMIT;
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

    onMailFrom(address, session, callback) {
      const envelope = { ...envelopeOf(session), mailFrom: address.address };
      // Refused here, not after DATA: Postern cannot store or answer a non-ASCII mailbox (RFC 6531).
      const refused = checkMailFrom(address);
      if (refused) {
        void pipeline.recordRefusedSender(envelope, refused).then(() => callback(refused));
        return;
      }
      // RFC 1870: a SIZE over the limit is refused before the client sends a byte of the message.
      const declared = declaredSize(address);
      if (declared !== undefined && declared > config.smtp.max_message_size) {
        pipeline.refuseDeclaredSize(envelope, declared).catch((error: unknown) => callback(toSmtpReply(error)));
        return;
      }
      callback();
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
      readMessage(stream, limits, session, spool)
        .catch(async (error: unknown) => {
          // A spool file that could not be written is refused here. A limit's cut (min_data_rate) is
          // logged where it is made; a client that left mid-DATA gets no reply and refused nothing.
          const left = (error as { code?: unknown } | null)?.code === "ECONNECTION";
          if (!left && !cutOff.has(session)) await pipeline.recordRefusal(envelopeOf(session), toSmtpReply(error), { note: "while DATA arrived" });
          throw error;
        })
        .then((message) => {
          if (stream.sizeExceeded) {
            void message.discard();
            return pipeline.refuseOversized(envelopeOf(session), stream.byteLength);
          }
          const envelope = envelopeOf(session);
          // The message is read back into memory only when its lane has room, and only once.
          const work = async () => {
            let raw: Buffer;
            try {
              raw = await message.bytes();
            } finally {
              void message.discard();
            }
            return pipeline.process(raw, envelope);
          };
          // processing_timeout counts from the moment the message's turn comes; the wait for it has its own bound.
          return limits.whileBusy(session, () =>
            waitForLane(
              (signal) => inLane(lanes, message.size, work, config.smtp.processing_timeout, signal),
              laneWait,
            ).catch((error: unknown) => {
              void message.discard();
              // The pipeline logs its own verdicts; these two 451s are the listener's, and it logs them
              // without waiting: the database may well be why the message took too long.
              if (error instanceof GatewayBusy) {
                void pipeline.recordRefusal(envelope, error, { size: message.size, note: `no turn to be processed within ${laneWait / 1000} s` });
              } else if (error instanceof ProcessingTimedOut) {
                const note = `no verdict within smtp.processing_timeout = ${config.smtp.processing_timeout / 1000} s; the message's own entry follows once its processing ends`;
                void pipeline.recordRefusal(envelope, error, { size: message.size, note });
              }
              throw error;
            }),
          );
        })
        .then(
          (verdict) => callback(null, verdict.message),
          (error) => callback(toSmtpReply(error)),
        );
    },
  });

  limits.attach(server);
  useGreetingDelay(server, config.smtp.greeting_delay);
  checkDeclaredSizeInMailFrom(server);

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

/** A message held in memory up to this size; a larger one goes to a spool file as it arrives. */
const SPOOL_MEMORY_LIMIT = 256 * 1024;

/**
 * Reads DATA into memory or a spool file; a client below smtp.min_data_rate (past its grace
 * period) is cut off with 421.
 */
function readMessage(
  stream: SMTPServerDataStream,
  limits: SessionLimits,
  session: SMTPServerSession,
  spool: { readonly dir: string; readonly memoryLimit: number },
): Promise<ReceivedMessage> {
  // Past the SIZE limit, the stream is still drained but its bytes are no longer held.
  const reading = receiveMessage(stream, spool, () => !stream.sizeExceeded);
  const rate = limits.watchData(stream, session, (reply) => reading.abort(reply));
  stream.on("data", (chunk: Buffer) => rate.received(chunk.length));
  return reading.received;
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

/**
 * How long a received message may wait for its turn to be processed (ProcessingLanes) before it
 * is answered 451 and dropped: well inside the 10 minutes RFC 5321 §4.5.3.2.6 has a client wait
 * for the reply to DATA, so a backlog of large mail is retried later rather than dropped by the client.
 */
const LANE_WAIT_LIMIT = 3 * 60_000;

/** 451 4.3.2: the message's turn did not come within the lane wait limit. */
class GatewayBusy extends SmtpReply {
  constructor() {
    super(451, "4.3.2", "Postern is busy with other large messages; please try again later.", "temporary_failure");
  }
}

/** 451 4.3.0: no verdict within smtp.processing_timeout of the message's turn. */
class ProcessingTimedOut extends SmtpReply {
  constructor() {
    super(451, "4.3.0", "Processing this message took too long; please try again later.", "temporary_failure");
  }
}

/** Runs `start` with a signal that is aborted with a 451 once `ms` have passed (the lanes drop a message still waiting). */
function waitForLane<T>(start: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new GatewayBusy()), ms);
  return start(controller.signal).finally(() => clearTimeout(timer));
}

/**
 * The work's verdict, or 451 once it has run `timeout` ms. Its lane stays taken until the work
 * itself ends, even when the client has had its 451: the memory it holds is still in use.
 */
function inLane<T>(lanes: ProcessingLanes, size: number, work: () => Promise<T>, timeout: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    lanes
      .run(
        size,
        () => {
          const running = work();
          withTimeout(running, timeout).then(resolve, reject);
          return running.catch(() => undefined);
        },
        signal,
      )
      .catch(reject);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProcessingTimedOut()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
