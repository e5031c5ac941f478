/**
 * The delivery thread (see DeliveryThread): its own database connection (SQLite: a connection of
 * its own in WAL mode, taking turns for the write lock with the main thread's; PostgreSQL: a pool
 * of its own), its own transport, and a DeliveryWorker woken by the main thread's messages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { DEFAULT_LANE_LIMITS, ProcessingLanes } from "../concurrency/processing-lanes.js";
import { SharedByteBudget } from "../concurrency/shared-budget.js";
import { adoptWriteLock, openStore } from "../db/database.js";
import type { DeliveryThreadData, FromThread, ToThread } from "./delivery-thread.js";
import { DeliveryWorker } from "./delivery-worker.js";
import { threadLogger } from "./thread-log.js";
import { createTransport } from "./transports/create-transport.js";

const port = parentPort;
if (!port) throw new Error("delivery-thread-entry runs as a worker thread, started by DeliveryThread");
const data = workerData as DeliveryThreadData;
const post = (message: FromThread): void => port.postMessage(message);

const config = deepFreeze(data.config);
const logger = threadLogger(data.log, (line) => post({ type: "log", line }));
if (data.writeLock) adoptWriteLock(config.database, data.writeLock);
const store = await openStore(config.database, "require-current");
const transport = createTransport(config, logger);
const largeBudget = new SharedByteBudget(data.largeBudget.limit, data.largeBudget.buffer);
const worker = new DeliveryWorker({
  store,
  config,
  logger,
  transport,
  largeWork: new ProcessingLanes({ ...DEFAULT_LANE_LIMITS, largeBudget: largeBudget.limit }, largeBudget),
});

let stopping: Promise<void> | undefined;
port.on("message", (message: ToThread) => {
  if (message.type === "wake") worker.wake();
  else if (message.type === "stop") stopping ??= stop();
});
worker.start();
post({ type: "ready" });

async function stop(): Promise<void> {
  try {
    await worker.stop();
    await transport.close();
    await store.close();
  } catch (error) {
    logger.error({ event: "delivery.thread_stop_failed", err: error }, "the delivery thread did not stop cleanly");
  }
  post({ type: "stopped" });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export {};
