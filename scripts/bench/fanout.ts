/**
 * Target 3: copies handed to the relay per second, from the commit of the posts to the last copy
 * the sink accepted, beside a nodemailer pool sending prebuilt raw messages of the same size over
 * as many connections, to the same sink.
 */
import { sqliteDatabase, type Context } from "./context.js";
import { openStore } from "../../src/db/database.js";
import { fixed, ratioText, verdict, VERSUS, type Table } from "./report.js";
import { CLIENT_SCRIPT, configOf, median, nodeConfig, now, run, seedConversation, startNode, startSink, writePosts, type Database, type Sink } from "./tools.js";

const TIMEOUT_MS = 180_000;
/** Postern's default outbound.pool_size; the baseline pool gets as many connections. */
export const POOL_SIZE = 5;
const POST_BODY = "Thanks, that settles it. I will send the signed form tomorrow morning.\n\nBest,\nCarol\n".repeat(4);

export interface FanoutFigures {
  /** Deliveries per second of each round. */
  readonly rates: number[];
  readonly copies: number;
  readonly expected: number;
  /** Mean bytes of one copy, as the sink received it. */
  readonly copySize: number;
}

/**
 * One node on `database`; a conversation of `participants` with `history` earlier posts; `rounds`
 * times, `posts` posts committed at once by this process, then the node is woken and the copies
 * counted at the sink.
 */
export async function fanoutRun(database: Database, sink: Sink, options: { participants: number; history: number; posts: number; rounds: number; tag: string }): Promise<FanoutFigures> {
  const raw = nodeConfig({ database: database.raw, sinkPort: sink.port, poolSize: POOL_SIZE });
  const config = configOf(raw);
  const store = await openStore(config.database, "migrate");
  try {
    const seeded = await seedConversation(store, config, options.tag, options.participants, options.history);
    const perPost = options.participants - 1;
    const startCount = sink.count;
    const node = await startNode(raw);
    try {
      // The first post's copies, queued when the conversation was seeded, open the pool.
      await sink.waitFor(startCount + perPost, 60_000);
      const rates: number[] = [];
      let copies = 0;
      let bytes = 0;
      for (let round = 0; round < options.rounds; round++) {
        const before = sink.count;
        const bytesBefore = sink.bytes;
        await writePosts(store, config, seeded, options.posts, POST_BODY);
        const committedAt = now();
        node.wake();
        const expected = options.posts * perPost;
        await sink.waitFor(before + expected, TIMEOUT_MS);
        const got = sink.count - before;
        copies += got;
        bytes += sink.bytes - bytesBefore;
        rates.push(got / ((sink.lastAt - committedAt) / 1000));
      }
      return { rates, copies, expected: options.rounds * options.posts * perPost, copySize: copies ? bytes / copies : 0 };
    } finally {
      await node.stop();
    }
  } finally {
    await store.close();
  }
}

/** The nodemailer pool: `count` prebuilt messages of `size` bytes; deliveries per second at the sink. */
export async function poolRun(sink: Sink, count: number, size: number): Promise<number> {
  const before = sink.count;
  const { stdout } = await run(process.execPath, [CLIENT_SCRIPT, "pool", String(sink.port), String(count), String(POOL_SIZE), String(Math.round(size))], { maxBuffer: 1 << 20 });
  const { startedAt } = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { startedAt: number };
  // The warm-up messages (one per connection) are counted by the sink too.
  await sink.waitFor(before + POOL_SIZE + count, TIMEOUT_MS);
  return count / ((sink.lastAt - startedAt) / 1000);
}

export async function fanoutScenario(ctx: Context): Promise<Table> {
  const rounds = ctx.quick ? 2 : 5;
  const many = ctx.quick ? 50 : 1000;
  ctx.log(`fan-out: 1 post to 100 participants (${rounds} rounds), ${many} posts to 5 participants, outbound pool ${POOL_SIZE}`);
  const sink = await startSink();
  try {
    const wide = await withDatabase(sqliteDatabase(), (d) => fanoutRun(d, sink, { participants: 100, history: 10, posts: 1, rounds, tag: "hundred" }));
    const wideBases: number[] = [];
    for (let round = 0; round < rounds; round++) wideBases.push(await poolRun(sink, 99, wide.copySize));
    const wideBase = median(wideBases);
    const narrow = await withDatabase(sqliteDatabase(), (d) => fanoutRun(d, sink, { participants: 5, history: 10, posts: many, rounds: 1, tag: "five" }));
    const narrowBase = await poolRun(sink, many * 4, narrow.copySize);
    const wideRate = median(wide.rates);
    const narrowRate = narrow.rates[0] ?? 0;
    const row = (label: string, rate: number, base: number) => [label, fixed(rate), fixed(base), ratioText(rate / base), "≥ 0.80 ×", verdict(rate / base, 0.8)];
    return {
      id: "fanout",
      title: "Target 3: fan-out to a local SMTP sink (deliveries/s)",
      header: VERSUS,
      rows: [row("1 post to a 100-participant conversation (99 copies)", wideRate, wideBase), row(`${many} posts to a 5-participant conversation (${many * 4} copies)`, narrowRate, narrowBase)],
      notes: [
        `Postern: posts written and published through the domain services in one transaction by the benchmark process, then the node's delivery worker woken; deliveries/s from that commit to the last copy the sink accepted; outbound.pool_size ${POOL_SIZE} (the default), SQLite synchronous=FULL`,
        `100-participant row: median of ${rounds} rounds each (Postern ${wide.rates.map((r) => fixed(r)).join(", ")}; baseline ${wideBases.map((r) => fixed(r)).join(", ")} deliveries/s), 99 messages per round`,
        `baseline: a nodemailer pool of ${POOL_SIZE} connections (Nagle off) in its own process sending prebuilt raw messages of the copies' mean size (${fixed(wide.copySize)} and ${fixed(narrow.copySize)} bytes), connections opened before the clock starts`,
        `copies at the sink: ${wide.copies} of ${wide.expected} and ${narrow.copies} of ${narrow.expected}`,
      ],
    };
  } finally {
    await sink.stop();
  }
}

export async function withDatabase<T>(database: Database, work: (d: Database) => Promise<T>): Promise<T> {
  try {
    return await work(database);
  } finally {
    await database.dispose();
  }
}
