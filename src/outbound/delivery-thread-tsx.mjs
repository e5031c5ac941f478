// The bootstrap of Postern's worker threads (the delivery thread, the transport thread) when it
// runs from its TypeScript sources: a worker thread inherits neither tsx's run-time registration
// (bin/postern.js) nor vitest's transform, so it registers tsx itself before importing the entry
// named in its workerData (see DeliveryThread, TransportThread).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
