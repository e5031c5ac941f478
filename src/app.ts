import { DEFAULT_LANE_LIMITS, ProcessingLanes } from "./concurrency/processing-lanes.js";
import { SharedByteBudget } from "./concurrency/shared-budget.js";
import { maskedUrl, type Config } from "./config/config.js";
import { openStore } from "./db/database.js";
import type { Store } from "./db/store.js";
import { systemResolver, type DnsResolver } from "./inbound/authenticate.js";
import { InboundPipeline } from "./inbound/pipeline.js";
import type { Logger } from "./log.js";
import { DeliveryThread } from "./outbound/delivery-thread.js";
import { DeliveryWorker, type Deliveries } from "./outbound/delivery-worker.js";
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
  /**
   * Delivery: a DeliveryThread (its own thread and connection) or, with `outbound.delivery_thread`
   * off or an injected transport or clock, a DeliveryWorker on this thread. Tests call wake().
   */
  readonly worker: Deliveries;
  /** Periodic work (invitation expiry, digests); tests run it at once with runNow(). */
  readonly scheduler: Scheduler;
  /** Reads smtp.tls_key/tls_cert again, as SIGHUP does; false when nothing was reloaded. */
  reloadTls(): boolean;
  /** Stops accepting mail, lets in-flight sessions and deliveries finish, closes the database. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  readonly logger: Logger;
  /**
   * Tests and benchmarks inject a transport; otherwise the configured one is built. Functions
   * cannot cross to a thread: an injected transport or clock keeps delivery on this thread.
   */
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
  // Large messages received and large copies sent take turns within one budget: each costs several
  // times its size in memory, and two budgets side by side would add up. It lives in shared memory
  // so that the delivery thread draws on it too.
  const largeBudget = new SharedByteBudget(DEFAULT_LANE_LIMITS.largeBudget);
  const largeWork = new ProcessingLanes(DEFAULT_LANE_LIMITS, largeBudget);
  const inThread = config.outbound.delivery_thread && !options.transport && !options.now;
  let worker: Deliveries;
  let closeDelivery: () => Promise<void>;
  /** The thread loads its half of the code while the listener starts; the gateway starts once both are up. */
  let threadReady: Promise<void> | undefined;
  if (inThread) {
    const thread = new DeliveryThread({ config, logger, largeBudget });
    threadReady = thread.start();
    // Awaited below; until then a failure must not count as unhandled.
    threadReady.catch(() => undefined);
    worker = thread;
    closeDelivery = () => thread.stop();
  } else {
    // SQLite: the worker gets its own connection, so sends never wait behind the inbound batch.
    // PostgreSQL: the pool already gives every transaction a connection of its own.
    const workerStore = config.database.engine === "sqlite" ? await openStore(config.database, "require-current") : store;
    const transport = options.transport ?? createTransport(config, logger);
    const inProcess = new DeliveryWorker({ store: workerStore, config, logger, transport, largeWork, ...(options.now ? { now: options.now } : {}) });
    worker = inProcess;
    closeDelivery = async () => {
      await inProcess.stop();
      await transport.close();
      if (workerStore !== store) await workerStore.close();
    };
  }
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
    await closeDelivery();
    await store.close();
    throw error;
  }
  if (threadReady) {
    try {
      await threadReady;
    } catch (error) {
      await listener.close();
      await store.close();
      throw error;
    }
  }
  const scheduler = new Scheduler({
    logger,
    ...(options.now ? { now: options.now } : {}),
    jobs: [
      expireInvitationsJob({ store, config, logger, onQueued: () => worker.wake() }),
      digestsJob({ store, config, logger, onQueued: () => worker.wake() }),
    ],
  });
  if (!inThread) void worker.start();
  scheduler.start();
  // SIGHUP (logrotate, certbot's deploy hook, `systemctl reload`) reloads the certificate; without a
  // handler Node would end the process.
  const onSighup = (): void => {
    logger.info({ event: "gateway.sighup" }, "SIGHUP: reloading the TLS certificate");
    listener.reloadTls();
  };
  process.on("SIGHUP", onSighup);
  logger.info(
    { event: "gateway.started", port, engine: config.database.engine, database: databaseNamed(config.database), transport: config.outbound.transport, deliveryThread: inThread, config: config.source },
    "Postern is running",
  );

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
        await closeDelivery();
        await store.close();
        logger.info({ event: "gateway.stopped" }, "Postern stopped");
      })();
      return stopping;
    },
  };
}

/** Which database a node runs on, for its start line: the SQLite file, or the PostgreSQL URL without its password. */
function databaseNamed(database: Config["database"]): string {
  return database.engine === "postgres" && database.url ? maskedUrl(database.url) : database.path;
}
