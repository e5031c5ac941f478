/**
 * One Postern node for the benchmark (scripts/bench.ts), in a process of its own so that two
 * nodes on one PostgreSQL database each have their own event loop, as they would in production.
 * Forked by bench.ts with an IPC channel:
 *
 *   argv[2]   the raw configuration (JSON) handed to buildConfig
 *   → parent  { type: "ready", port }
 *   → parent  { type: "progress", sent, lastAt }   every ~25 ms while copies are handed over
 *   ← parent  { type: "stop" }
 *   → parent  { type: "stopped", sent, lastAt }     after gateway.stop(); then the process exits
 *
 * `sent` counts the copies this node's delivery worker handed to its discarding transport; `lastAt`
 * is when the last one was (epoch milliseconds, sub-millisecond precision, comparable across the
 * processes of one machine).
 */
import { startGateway } from "../src/app.js";
import { buildConfig } from "../src/config/config.js";
import { silentLogger } from "../src/log.js";
import type { Transport } from "../src/outbound/transports/transport.js";

const send = (message: unknown) => process.send?.(message);
const now = () => performance.timeOrigin + performance.now();

// The parent went away (crashed, Ctrl-C): nothing is left to report to.
process.on("disconnect", () => process.exit(1));

const config = buildConfig(JSON.parse(process.argv[2] ?? "{}"), "bench node");
let sent = 0;
let lastAt = 0;
let flush: NodeJS.Timeout | undefined;
// Discards rendered mail: measures Postern's own work, not a relay's.
const transport: Transport = {
  async send() {
    sent++;
    lastAt = now();
    flush ??= setTimeout(() => {
      flush = undefined;
      send({ type: "progress", sent, lastAt });
    }, 25);
    return { response: "250 discarded" };
  },
  async close() {},
};

const gateway = await startGateway(config, { logger: silentLogger(), transport });
process.on("message", async (message: { type?: string }) => {
  if (message?.type !== "stop") return;
  await gateway.stop();
  if (flush) clearTimeout(flush);
  // Exits once the report is on its way, whatever handle a library might still keep open.
  process.send?.({ type: "stopped", sent, lastAt }, () => process.exit(0));
});
send({ type: "ready", port: gateway.port });
