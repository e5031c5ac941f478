import { ProcessingLanes } from "./concurrency/processing-lanes.js";
import type { Config } from "./config/config.js";
import { openStore } from "./db/database.js";
import type { Store } from "./db/store.js";
import { systemResolver, type DnsResolver } from "./inbound/authenticate.js";
import { InboundPipeline } from "./inbound/pipeline.js";
import type { Logger } from "./log.js";
import { DeliveryWorker } from "./outbound/delivery-worker.js";
import { loadDkimKey } from "./outbound/dkim.js";
import { createTransport } from "./outbound/transports/create-transport.js";
import type { Transport } from "./outbound/transports/transport.js";
import { digestsJob } from "./scheduler/digests.js";
import { expireInvitationsJob } from "./scheduler/expire-invitations.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { createSmtpListener } from "./smtp/listener.js";

export interface Gateway {
  readonly port: number;
  /** The inbound connection; tests and the benchmark seed and inspect through it. */
  readonly store: Store;
  readonly worker: DeliveryWorker;
  /** Periodic work (invitation expiry, digests); tests run it at once with runNow(). */
  readonly scheduler: Scheduler;
  /** Reads smtp.tls_key/tls_cert again, as SIGHUP does; false when nothing was reloaded. */
  reloadTls(): boolean;
  /** Stops accepting mail, lets in-flight sessions and deliveries finish, closes the database. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  readonly logger: Logger;
  /** Tests and benchmarks inject a transport; otherwise the configured one is built. */
  readonly transport?: Transport;
  readonly now?: () => number;
  /** DNS for SPF/DKIM/DMARC of inbound mail (SPEC §3); the system's resolver by default. Tests pass a fake one. */
  readonly resolver?: DnsResolver;
}

/**
 * The composition root: config → database (migrated under its lock) → pipeline → SMTP listener,
 * the delivery worker and the scheduler.
 */
export async function startGateway(config: Config, options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  // A missing or unreadable DKIM key stops the start, naming the key, instead of deferring every copy.
  loadDkimKey(config);
  const store = await openStore(config.database, "migrate");
  // SQLite: the worker gets its own connection, so sends never wait behind the inbound batch.
  // PostgreSQL: the pool already gives every transaction a connection of its own.
  const workerStore = config.database.engine === "sqlite" ? await openStore(config.database, "require-current") : store;
  const transport = options.transport ?? createTransport(config, logger);
  // Large messages received and large copies sent take turns within one budget: each costs several
  // times its size in memory, and two budgets side by side would add up.
  const largeWork = new ProcessingLanes();
  const worker = new DeliveryWorker({ store: workerStore, config, logger, transport, largeWork, ...(options.now ? { now: options.now } : {}) });
  const pipeline = new InboundPipeline({
    store,
    config,
    logger,
    ...(options.now ? { now: options.now } : {}),
    onDeliveriesQueued: () => worker.wake(),
    resolver: options.resolver ?? systemResolver,
  });
  const listener = createSmtpListener({ config, logger, pipeline, largeWork });
  let port: number;
  try {
    port = await listener.listen();
  } catch (error) {
    await Promise.all([store.close(), workerStore.close()]);
    throw error;
  }
  const scheduler = new Scheduler({
    logger,
    ...(options.now ? { now: options.now } : {}),
    jobs: [
      expireInvitationsJob({ store, config, logger, onQueued: () => worker.wake() }),
      digestsJob({ store, config, logger, onQueued: () => worker.wake() }),
    ],
  });
  worker.start();
  scheduler.start();
  // SIGHUP (logrotate, certbot's deploy hook, `systemctl reload`) reloads the certificate; without a
  // handler Node would end the process.
  const onSighup = (): void => {
    logger.info({ event: "gateway.sighup" }, "SIGHUP: reloading the TLS certificate");
    listener.reloadTls();
  };
  process.on("SIGHUP", onSighup);
  logger.info({ event: "gateway.started", port, database: config.database.path, transport: config.outbound.transport, config: config.source }, "Postern is running");

  let stopping: Promise<void> | undefined;
  return {
    port,
    store,
    worker,
    scheduler,
    reloadTls: () => listener.reloadTls(),
    stop() {
      stopping ??= (async () => {
        process.off("SIGHUP", onSighup);
        await listener.close();
        await scheduler.stop();
        await worker.stop();
        await transport.close();
        await Promise.all([store.close(), workerStore.close()]);
        logger.info({ event: "gateway.stopped" }, "Postern stopped");
      })();
      return stopping;
    },
  };
}
