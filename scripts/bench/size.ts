/**
 * Target 4 (throughput part): the inbound and fan-out runs of targets 1 and 3, into a
 * conversation that already has 10 posts and into one that has 10,000, back to back. The query
 * part (1,000,000 posts, 100,000 users) is scripts/bench-queries.ts (queries.ts runs it).
 */
import { sqliteDatabase, type Context } from "./context.js";
import { fanoutRun, withDatabase } from "./fanout.js";
import { inboundRun } from "./inbound.js";
import { fixed, ratioText, verdict, VERSUS, type Table } from "./report.js";
import { startSink } from "./tools.js";

export async function sizeScenario(ctx: Context): Promise<Table> {
  const big = ctx.quick ? 1000 : 10_000;
  const messages = ctx.quick ? 100 : 1000;
  const posts = ctx.quick ? 50 : 1000;
  ctx.log(`flat with size: 10 vs ${big} earlier posts (${messages} replies in; ${posts} posts out)`);
  const inSmall = await withDatabase(sqliteDatabase(), (d) => inboundRun(ctx, d, { messages, history: 10, keep: true }));
  const inBig = await withDatabase(sqliteDatabase(), (d) => inboundRun(ctx, d, { messages, history: big, keep: true }));
  const sink = await startSink();
  let outSmall: number;
  let outBig: number;
  try {
    outSmall = (await withDatabase(sqliteDatabase(), (d) => fanoutRun(d, sink, { participants: 5, history: 10, posts, rounds: 1, tag: "small" }))).rates[0] ?? 0;
    outBig = (await withDatabase(sqliteDatabase(), (d) => fanoutRun(d, sink, { participants: 5, history: big, posts, rounds: 1, tag: "big" }))).rates[0] ?? 0;
  } finally {
    await sink.stop();
  }
  const row = (label: string, large: number, small: number) => [label, fixed(large), fixed(small), ratioText(large / small), "≥ 0.90 ×", verdict(large / small, 0.9)];
  return {
    id: "size",
    title: `Target 4: flat with size (${big} earlier posts vs 10)`,
    header: ["row", `with ${big} posts`, "with 10 posts (baseline)", "ratio", "target", "result"],
    rows: [row("inbound, kept connections: msg/s", inBig.rate, inSmall.rate), row("fan-out, 5 participants: deliveries/s", outBig, outSmall)],
    notes: [
      `inbound: ${messages} replies as in target 1 (SQLite FULL); fan-out: ${posts} posts as in target 3; each on a fresh database`,
      `the earlier posts are written straight into the tables with their copies already sent (status sent), so the deliveries table grows with them: ${big} posts, ${big * 4} deliveries`,
      `copies/s while taking replies in: ${fixed(inSmall.copiesRate)} (10 posts) and ${fixed(inBig.copiesRate)} (${big} posts); replies that became posts: ${inSmall.accepted} and ${inBig.accepted} of ${messages}`,
    ],
  };
}
