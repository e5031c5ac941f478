/**
 * One Postern node for the benchmark (scripts/bench.ts), in a process of its own so that it has
 * its own event loop (and, with outbound.delivery_thread, its own delivery thread), as in
 * production. Copies go out through the configured transport: the benchmark points outbound SMTP
 * at its sink (scripts/bench/sink.ts), which counts them.
 *
 * DNS: every lookup (SPF, DKIM, DMARC of inbound mail) fails at once with ENOTFOUND, as in the
 * tests (test/helpers/dns.ts). The system resolver would make the benchmark measure the DNS
 * server's latency instead of Postern: about 25 msg/s against about 150 with this one.
 *
 *   argv[2]   the raw configuration (JSON) handed to buildConfig
 *   → parent  { type: "ready", port }
 *   ← parent  { type: "wake" }      rows were queued behind the node's back (the benchmark seeds them)
 *   ← parent  { type: "cpu" }
 *   → parent  { type: "cpu", ms }   CPU time of the whole process (every thread) so far
 *   ← parent  { type: "stop" }
 *   → parent  { type: "stopped" }   after gateway.stop(); then the process exits
 *
 * The gateway runs from the compiled dist/ when it is current, as `npm start` runs it
 * (bin/postern.js); scripts/bench.ts builds it first. From the TypeScript sources otherwise, or
 * with POSTERN_RUN_SOURCES=1.
 */
import type * as AppModule from "../src/app.js";
import type * as ConfigModule from "../src/config/config.js";
import type { DnsResolver } from "../src/inbound/authenticate.js";
import type * as LogModule from "../src/log.js";
import { distIsCurrent } from "./build.mjs";

const from = process.env.POSTERN_RUN_SOURCES !== "1" && distIsCurrent() ? "../dist/src" : "../src";
const [{ startGateway }, { buildConfig }, { silentLogger }] = (await Promise.all([
  import(`${from}/app.js`),
  import(`${from}/config/config.js`),
  import(`${from}/log.js`),
])) as [typeof AppModule, typeof ConfigModule, typeof LogModule];

// The parent went away (crashed, Ctrl-C): nothing is left to report to.
process.on("disconnect", () => process.exit(1));

const noDns: DnsResolver = async (name, rrtype) => {
  throw Object.assign(new Error(`query${rrtype} ENOTFOUND ${name}`), { code: "ENOTFOUND", hostname: name });
};

const config = buildConfig(JSON.parse(process.argv[2] ?? "{}"), "bench node");
const gateway = await startGateway(config, { logger: silentLogger(), resolver: noDns });
process.on("message", async (message: { type?: string }) => {
  if (message?.type === "cpu") {
    const { user, system } = process.cpuUsage();
    process.send?.({ type: "cpu", ms: (user + system) / 1000 });
    return;
  }
  if (message?.type === "wake") {
    (gateway as { worker?: { wake?: () => void } }).worker?.wake?.();
    return;
  }
  if (message?.type !== "stop") return;
  await gateway.stop();
  // Exits once the report is on its way, whatever handle a library might still keep open.
  process.send?.({ type: "stopped" }, () => process.exit(0));
});
process.send?.({ type: "ready", port: gateway.port });
