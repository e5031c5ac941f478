/**
 * Targets 6 and 7: latency at half the maximum inbound rate, and whether outbound keeps up with
 * inbound for a minute. Both offer replies at a fixed rate with the paced client.
 */
import { openStore } from "../../src/db/database.js";
import { sqliteDatabase, type Context } from "./context.js";
import { withDatabase } from "./fanout.js";
import { inboundRun, REPLY_SIZE, SESSIONS } from "./inbound.js";
import { paced, type Sent } from "./paced-client.js";
import { fixed, type Table } from "./report.js";
import { backlog, bareServer, deliveryStates, configOf, nodeConfig, now, percentile, seedConversation, sleep, startNode, startSink } from "./tools.js";

/** The maximum kept-connection rate: target 1's figure when it ran, else a short measurement. */
async function maxInboundRate(ctx: Context): Promise<number> {
  if (ctx.inboundRate !== undefined) return ctx.inboundRate;
  ctx.log("  (inbound scenario not run: measuring the maximum inbound rate first)");
  const figures = await withDatabase(sqliteDatabase(), (d) => inboundRun(ctx, d, { messages: ctx.quick ? 100 : 600, history: 10, keep: true }));
  ctx.inboundRate = figures.rate;
  return figures.rate;
}

/** How long the end-to-end run waits, after the load, for the backlog to drain. */
const DRAIN_MS = 60_000;

const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : "—");

export async function latencyScenario(ctx: Context): Promise<Table> {
  const max = await maxInboundRate(ctx);
  const rate = Math.max(1, max / 2);
  const seconds = ctx.quick ? 3 : 20;
  ctx.log(`latency: ${fixed(rate, 1)} msg/s (half of ${fixed(max)}) for ${seconds} s over ${SESSIONS} connections`);
  const sink = await startSink();
  try {
    const measured = await withDatabase(sqliteDatabase(), async (database) => {
      const raw = nodeConfig({ database: database.raw, sinkPort: sink.port });
      const config = configOf(raw);
      const store = await openStore(config.database, "migrate");
      try {
        const seeded = await seedConversation(store, config, "latency", 5, 10);
        const node = await startNode(raw);
        try {
          await sink.waitFor(4, 30_000);
          const result = await paced({ port: node.port, from: seeded.author.email, to: seeded.replyAddress, rate, seconds, connections: SESSIONS, size: REPLY_SIZE });
          const ok = result.sent.filter((s) => s.code === 250);
          await sink.waitFor(4 + ok.length * 4, 60_000);
          return { ok, result, marks: await sink.marks() };
        } finally {
          await node.stop();
        }
      } finally {
        await store.close();
      }
    });
    const bare = await bareServer();
    let bareSent: Sent[];
    try {
      bareSent = (await paced({ port: bare.port, from: "carol@customer.test", to: "reply@bench.test", rate, seconds, connections: SESSIONS, size: REPLY_SIZE, firstMark: 1_000_000 })).sent;
    } finally {
      await bare.close();
    }
    const toReply = measured.ok.map((s) => s.replyAt - s.dotAt);
    const bareToReply = bareSent.filter((s) => s.code === 250).map((s) => s.replyAt - s.dotAt);
    const toCopy = measured.ok.flatMap((s) => {
      const at = measured.marks.get(String(s.mark));
      return at === undefined ? [] : [at - s.replyAt];
    });
    return {
      id: "latency",
      title: `Target 6: latency at half the maximum inbound rate (${fixed(rate, 1)} msg/s)`,
      header: ["measure", "Postern", "bare smtp-server (same run)", "target"],
      rows: [
        ["end of DATA → 250, p50", ms(percentile(toReply, 50)), ms(percentile(bareToReply, 50)), "reported"],
        ["end of DATA → 250, p99", ms(percentile(toReply, 99)), ms(percentile(bareToReply, 99)), "reported"],
        ["250 → first copy at the relay, p50", ms(percentile(toCopy, 50)), "—", "reported"],
        ["250 → first copy at the relay, p99", ms(percentile(toCopy, 99)), "—", "reported"],
      ],
      notes: [
        `${measured.result.offered} replies offered at a fixed pace over ${SESSIONS} kept connections by a raw-socket client in the benchmark process (scripts/bench/paced-client.ts), ${measured.ok.length} answered 250; SQLite FULL, 5-person conversation`,
        `end of DATA: when the client wrote the final "."; first copy: when the sink had the first copy carrying the reply's mark (${toCopy.length} of ${measured.ok.length} found)`,
      ],
    };
  } finally {
    await sink.stop();
  }
}

export async function endToEndScenario(ctx: Context): Promise<Table> {
  const measured = await maxInboundRate(ctx);
  const targetRate = ctx.bareKeptRate !== undefined ? 0.25 * ctx.bareKeptRate : undefined;
  const rate = Math.max(1, measured);
  const seconds = ctx.duration;
  const every = seconds >= 30 ? 10 : Math.max(1, Math.round(seconds / 3));
  ctx.log(`end to end: ${fixed(rate)} msg/s for ${seconds} s, backlog every ${every} s`);
  const sink = await startSink();
  try {
    return await withDatabase(sqliteDatabase(), async (database) => {
      const raw = nodeConfig({ database: database.raw, sinkPort: sink.port });
      const config = configOf(raw);
      const store = await openStore(config.database, "migrate");
      try {
        const seeded = await seedConversation(store, config, "steady", 5, 10);
        const node = await startNode(raw);
        try {
          await sink.waitFor(4, 30_000);
          const start = now();
          const samples: { at: number; backlog: number; copies: number }[] = [];
          let running = true;
          const sampler = (async () => {
            for (let k = 1; running && k * every <= seconds; k++) {
              await sleep(start + k * every * 1000 - now());
              if (!running) break;
              samples.push({ at: k * every, backlog: await backlog(store), copies: sink.count - 4 });
              ctx.log(`  ${k * every} s: backlog ${samples.at(-1)!.backlog}, copies at the sink ${samples.at(-1)!.copies}`);
            }
          })();
          const result = await paced({ port: node.port, from: seeded.author.email, to: seeded.replyAddress, rate, seconds, connections: SESSIONS, size: REPLY_SIZE });
          const loadEnd = now();
          running = false;
          await sampler;
          const ok = result.sent.filter((s) => s.code === 250).length;
          const lastReply = Math.max(...result.sent.map((s) => s.replyAt));
          const drained = await sink.waitFor(4 + ok * 4, DRAIN_MS);
          const drainSeconds = (sink.lastAt - loadEnd) / 1000;
          const last = samples.at(-1)?.backlog ?? 0;
          const tail = samples.slice(-3).map((s) => s.backlog);
          const rising = tail.length >= 3 && tail.every((b, i) => i === 0 || b > tail[i - 1]!);
          const keepsUp = drained && !(rising && last > rate * 4);
          const states = drained ? undefined : await deliveryStates(store);
          return {
            id: "e2e",
            title: `Target 7: end to end for ${seconds} s at ${fixed(rate)} msg/s`,
            header: ["seconds", "copies queued, not yet sent", "copies at the sink"],
            rows: [
              ...samples.map((s) => [String(s.at), String(s.backlog), String(s.copies)]),
              drained
                ? ["after the load", "0", `${sink.count - 4} (the last ${fixed(Math.max(0, drainSeconds), 1)} s after the load ended)`]
                : ["after the load", String(await backlog(store)), `${sink.count - 4} of ${ok * 4} (not drained ${DRAIN_MS / 1000} s after the load ended)`],
            ],
            notes: [
              `${result.offered} replies offered at ${fixed(rate)} msg/s (Postern's measured kept-connection rate${targetRate !== undefined ? `; target 1's rate would be ${fixed(targetRate)} msg/s` : ""}) over ${SESSIONS} connections into a 5-person conversation, ${ok} answered 250, the last ${fixed(Math.max(0, (lastReply - start) / 1000 - seconds), 1)} s after the pace ended`,
              ...(states ? [`deliveries by status after the wait: ${states}`] : []),
              `outbound: ${keepsUp ? "keeps up" : "falls behind"} (backlog at the last sample ${last}, ${rising ? "rising over the last three samples" : "not rising"}); target: keeps up for 60 s — ${keepsUp && seconds >= 60 ? "pass" : keepsUp ? `not judged (run of ${seconds} s)` : "short"}`,
            ],
          };
        } finally {
          await node.stop();
        }
      } finally {
        await store.close();
      }
    });
  } finally {
    await sink.stop();
  }
}
