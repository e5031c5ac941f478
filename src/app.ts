import type { Config } from "./config/config.js";
import { CommitQueue } from "./db/commit-queue.js";
import { openDatabase, type PosternDatabase } from "./db/database.js";
import { InboundPipeline } from "./inbound/pipeline.js";
import type { Logger } from "./log.js";
import { DeliveryWorker } from "./outbound/delivery-worker.js";
import { createTransport } from "./outbound/transports/create-transport.js";
import type { Transport } from "./outbound/transports/transport.js";
import { createSmtpListener } from "./smtp/listener.js";

export interface Gateway {
  readonly port: number;
  readonly database: PosternDatabase;
  readonly worker: DeliveryWorker;
  /** Stops accepting mail, lets in-flight sessions and deliveries finish, closes the database. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  readonly logger: Logger;
  /** Tests and benchmarks inject a transport; otherwise the configured one is built. */
  readonly transport?: Transport;
  readonly now?: () => number;
}

/** The composition root: config → database → pipeline → SMTP listener, and the delivery worker. */
export async function startGateway(config: Config, options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const database = openDatabase({
    path: config.database.path,
    synchronous: config.database.synchronous,
    busyTimeoutMs: config.database.busy_timeout,
  });
  const transport = options.transport ?? createTransport(config);
  const worker = new DeliveryWorker({ db: database.db, config, logger, transport, ...(options.now ? { now: options.now } : {}) });
  const pipeline = new InboundPipeline({
    db: database.db,
    config,
    logger,
    commits: new CommitQueue(database.sqlite),
    ...(options.now ? { now: options.now } : {}),
    onDeliveriesQueued: () => worker.wake(),
  });
  const listener = createSmtpListener({ config, logger, pipeline });
  let port: number;
  try {
    port = await listener.listen();
  } catch (error) {
    database.close();
    throw error;
  }
  worker.start();
  logger.info({ event: "gateway.started", port, database: config.database.path, transport: config.outbound.transport, config: config.source }, "Postern is running");

  let stopping: Promise<void> | undefined;
  return {
    port,
    database,
    worker,
    stop() {
      stopping ??= (async () => {
        await listener.close();
        await worker.stop();
        await transport.close();
        database.close();
        logger.info({ event: "gateway.stopped" }, "Postern stopped");
      })();
      return stopping;
    },
  };
}
