/**
 * Targets 1 and 2: replies taken in over kept connections, and over a new connection per message,
 * each beside a bare smtp-server that reads and discards, with the same client and sessions.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { postgresDatabase, sqliteDatabase, type Context } from "./context.js";
import { fixed, ratioText, verdict, VERSUS, type Table } from "./report.js";
import { backlog, bareServer, configOf, countPosts, load, nodeConfig, now, seedConversation, startNode, startSink, withStore, type Database } from "./tools.js";

export const SESSIONS = 20;
export const REPLY_SIZE = 5120;
const COPIES = 4;
const COPY_TIMEOUT_MS = 180_000;

/**
 * Replies a server takes before the clock starts, Postern's nodes and the bare baseline alike: a
 * fresh process runs its first messages through the interpreter and V8 compiles the hot paths
 * meanwhile (the first 2,000 of an in-process probe cost 40% more CPU than the next), and a
 * gateway in service has long been past that. The rate of the warm-up is reported beside.
 */
export function warmupOf(messages: number): number {
  return Math.min(500, Math.ceil(messages / 4));
}

export interface InboundFigures {
  readonly rate: number;
  /** Copies accepted by the sink per second, from the first message to the last copy. */
  readonly copiesRate: number;
  readonly accepted: number;
  readonly messages: number;
  readonly copies: number;
  readonly generator: string;
  /** Copies queued when the load ended (the held run: none could be sent). */
  readonly queued?: number;
  /**
   * CPU time (ms, every thread of the node's process) per reply: from the first connection to the
   * last copy at the sink, copies included, or to the last 250 when the copies are held.
   */
  readonly cpuPerReply: number;
  /** The warm-up's replies and their rate (msg/s), before the clock started. */
  readonly warmup: number;
  readonly warmupRate: number;
}

/**
 * One Postern node on `database`, replies from one participant of a 5-person conversation that
 * already has `history` posts to their reply address: `messages` of them over SESSIONS sessions.
 */
export async function inboundRun(
  ctx: Context,
  database: Database,
  options: { messages: number; history: number; keep: boolean; greetingDelay?: string; tag?: string; held?: boolean },
): Promise<InboundFigures> {
  const sink = await startSink();
  const tarpit = options.held ? await startTarpit() : undefined;
  try {
    const raw = nodeConfig({ database: database.raw, sinkPort: sink.port, ...(options.greetingDelay ? { greetingDelay: options.greetingDelay } : {}) });
    // Held: the relay takes connections and never greets, so nothing is sent while the load runs;
    // the short timeout lets the node stop without waiting for a lease.
    if (tarpit) Object.assign(raw.outbound as Record<string, unknown>, { port: portOf(tarpit), connection_timeout: "1s" });
    const config = configOf(raw);
    const seeded = await withStore(config, (store) => seedConversation(store, config, options.tag ?? "five", 5, options.history));
    const node = await startNode(raw);
    let figures: Omit<InboundFigures, "accepted">;
    try {
      const warmup = warmupOf(options.messages);
      const warm = await load({
        port: node.port,
        messages: warmup,
        sessions: SESSIONS,
        size: REPLY_SIZE,
        from: seeded.author.email,
        to: seeded.replyAddress,
        keep: options.keep,
      });
      // The conversation's first post was queued when it was seeded: its copies go first, then the warm-up's.
      if (!tarpit) await sink.waitFor(COPIES * (1 + warmup), COPY_TIMEOUT_MS);
      const warmed = { warmup, warmupRate: warmup / warm.seconds };
      const before = sink.count;
      const cpuBefore = await node.cpu();
      const startedAt = now();
      const { seconds, generator } = await load({
        port: node.port,
        messages: options.messages,
        sessions: SESSIONS,
        size: REPLY_SIZE,
        from: seeded.author.email,
        to: seeded.replyAddress,
        keep: options.keep,
      });
      if (tarpit) {
        const cpuPerReply = ((await node.cpu()) - cpuBefore) / options.messages;
        const queued = (await withStore(config, backlog)) - COPIES * warmup;
        figures = { rate: options.messages / seconds, copiesRate: 0, messages: options.messages, copies: 0, generator, queued, cpuPerReply, ...warmed };
      } else {
        const expected = before + options.messages * COPIES;
        await sink.waitFor(expected, COPY_TIMEOUT_MS);
        const cpuPerReply = ((await node.cpu()) - cpuBefore) / options.messages;
        const copies = sink.count - before;
        figures = {
          rate: options.messages / seconds,
          copiesRate: copies / ((sink.lastAt - startedAt) / 1000),
          messages: options.messages,
          copies,
          generator,
          cpuPerReply,
          ...warmed,
        };
      }
    } finally {
      await node.stop();
    }
    const posts = await withStore(config, (store) => countPosts(store, seeded.conversation.id));
    return { ...figures, accepted: posts - 1 - options.history - figures.warmup };
  } finally {
    await sink.stop();
    if (tarpit) await new Promise((resolve) => tarpit.close(resolve));
  }
}

/** A relay that accepts connections and never answers: copies stay queued. */
async function startTarpit(): Promise<Server> {
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined).on("close", () => sockets.delete(socket));
  });
  server.on("close", () => sockets.forEach((socket) => socket.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function portOf(server: Server): number {
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("tarpit has no port");
  return address.port;
}

export interface BareFigures {
  readonly rate: number;
  /** CPU time (ms) of the server's process per message: the benchmark's own process, which runs nothing else meanwhile. */
  readonly cpuPerMessage: number;
}

export async function bareRun(messages: number, keep: boolean, greetAtOnce = false): Promise<BareFigures> {
  const server = await bareServer({ greetAtOnce });
  try {
    await load({ port: server.port, messages: warmupOf(messages), sessions: SESSIONS, size: REPLY_SIZE, from: "carol@customer.test", to: "reply@bench.test", keep });
    const cpu = process.cpuUsage();
    const { seconds } = await load({ port: server.port, messages, sessions: SESSIONS, size: REPLY_SIZE, from: "carol@customer.test", to: "reply@bench.test", keep });
    const { user, system } = process.cpuUsage(cpu);
    return { rate: messages / seconds, cpuPerMessage: (user + system) / 1000 / messages };
  } finally {
    await server.close();
  }
}

async function onDatabase<T>(database: Database, work: (d: Database) => Promise<T>): Promise<T> {
  try {
    return await work(database);
  } finally {
    await database.dispose();
  }
}

const CORES = availableParallelism();

const cpuText = (f: InboundFigures) => `${f.cpuPerReply.toFixed(2)} ms${f.queued === undefined ? ` (its ${COPIES} copies rendered and sent included)` : " (copies held)"}`;

const acceptedNote = (label: string, f: InboundFigures) =>
  f.queued === undefined
    ? `${label}: ${f.accepted} of ${f.messages} replies became posts, ${f.copies} of ${f.messages * COPIES} copies reached the sink`
    : `${label}: ${f.accepted} of ${f.messages} replies became posts, ${f.queued} copies queued when the load ended`;

const warmupNote = (warmup: number, runs: [string, InboundFigures][]) =>
  `warm-up: every server, the bare one included, took ${warmup} replies the same way before its clock started (rates of the warm-ups: ${runs.map(([label, f]) => `${label} ${fixed(f.warmupRate)} msg/s`).join("; ")})`;

/** Target 1: kept connections, every engine configuration. */
export async function inboundScenario(ctx: Context): Promise<Table> {
  const messages = ctx.quick ? 100 : 2000;
  ctx.log(`inbound, kept connections: ${messages} replies, ${SESSIONS} sessions`);
  const bareBefore = await bareRun(messages, true);
  const runs: { label: string; figures: InboundFigures; gated: boolean }[] = [];
  const failed: string[] = [];
  // One configuration failing (PostgreSQL unavailable, say) leaves the others' rows.
  const attempt = async (label: string, gated: boolean, database: () => Promise<Database>, held = false) => {
    try {
      const figures = await onDatabase(await database(), (d) => inboundRun(ctx, d, { messages, history: 10, keep: true, held }));
      runs.push({ label, figures, gated });
      ctx.log(`  ${label}: ${fixed(figures.rate)} msg/s, ${fixed(figures.copiesRate)} copies/s`);
    } catch (error) {
      failed.push(`${label}: failed (${(error instanceof Error ? error.message : String(error)).split("\n")[0]})`);
      ctx.log(`  ${failed.at(-1)}`);
    }
  };
  if (ctx.engines.includes("sqlite")) {
    // --quick is a smoke test: one SQLite row is enough to show the table works.
    for (const synchronous of ctx.quick ? (["FULL"] as const) : (["FULL", "NORMAL"] as const)) {
      await attempt(`SQLite, synchronous=${synchronous}${synchronous === "FULL" ? " (default)" : ""}`, synchronous === "FULL", async () => sqliteDatabase(synchronous));
    }
    // The inbound side alone: the same load with the copies queued and none sent meanwhile.
    if (!ctx.quick) await attempt("SQLite, synchronous=FULL, copies held (none sent during the load)", false, async () => sqliteDatabase("FULL"), true);
  }
  if (ctx.engines.includes("postgres")) await attempt("PostgreSQL, 1 node", false, () => postgresDatabase(ctx));
  const bareAfter = await bareRun(messages, true);
  const base = (bareBefore.rate + bareAfter.rate) / 2;
  const bareCpu = (bareBefore.cpuPerMessage + bareAfter.cpuPerMessage) / 2;
  ctx.bareKeptRate = base;
  const full = runs.find((r) => r.gated);
  if (full) ctx.inboundRate = full.figures.rate;
  const rows = [
    ["bare smtp-server, read and discard", "—", `${fixed(base)} msg/s`, "1.00 ×", "—", "—"],
    ...runs.map(({ label, figures, gated }) => {
      const r = figures.rate / base;
      return [`${label}: msg/s`, fixed(figures.rate), fixed(base), ratioText(r), gated ? "≥ 0.25 ×" : "—", gated ? verdict(r, 0.25) : "—"];
    }),
    ...runs.filter(({ figures }) => figures.queued === undefined).map(({ label, figures }) => [`${label}: copies/s to the sink`, fixed(figures.copiesRate), "—", "—", "—", "—"]),
  ];
  return {
    id: "inbound",
    title: "Target 1: inbound, kept connections",
    header: VERSUS,
    rows,
    notes: [
      `${messages} replies of ${REPLY_SIZE} body bytes from ${runs[0]?.figures.generator ?? "the generator"}, ${SESSIONS} sessions kept open (-d), from one participant to their reply address in a 5-person conversation with 10 earlier posts: 4 copies each, sent at once to the sink`,
      `baseline: mean of ${fixed(bareBefore.rate)} msg/s (before the Postern rows) and ${fixed(bareAfter.rate)} msg/s (after)`,
      warmupNote(warmupOf(messages), runs.map(({ label, figures }) => [label, figures])),
      ...runs.map(({ label, figures }) => acceptedNote(label, figures)),
      `CPU per message, every thread of the process: bare smtp-server ${bareCpu.toFixed(2)} ms; ${runs.map(({ label, figures }) => `${label} ${cpuText(figures)}`).join("; ")}`,
      `${CORES} cores at that CPU per reply take at most: ${runs.map(({ label, figures }) => `${label} ${fixed((CORES * 1000) / figures.cpuPerReply)} msg/s`).join("; ")}; before smtp-source and the sink take their share`,
      ...failed,
    ],
  };
}

/** Whether the listener reads smtp.greeting_delay yet (another change of issue 11 adds it). */
export function listenerHasGreetingDelay(): boolean {
  const source = readFileSync(fileURLToPath(new URL("../../src/smtp/listener.ts", import.meta.url)), "utf8");
  return /greeting_delay|greetingDelay/.test(source);
}

/** Target 2: a new connection per message, at smtp.greeting_delay 100 ms (default) and 0 ms. */
export async function connectScenario(ctx: Context): Promise<Table> {
  const messages = ctx.quick ? 60 : 1000;
  const supported = listenerHasGreetingDelay();
  ctx.log(`inbound, a connection per message: ${messages} replies, ${SESSIONS} concurrent clients (listener reads greeting_delay: ${supported ? "yes" : "no"})`);
  const bare100 = (await bareRun(messages, false)).rate;
  const bare0Run = await bareRun(messages, false, true);
  const bare0 = bare0Run.rate;
  const p100 = await onDatabase(sqliteDatabase(), (d) => inboundRun(ctx, d, { messages, history: 10, keep: false, greetingDelay: "100ms" }));
  const p0 = await onDatabase(sqliteDatabase(), (d) => inboundRun(ctx, d, { messages, history: 10, keep: false, greetingDelay: "0ms" }));
  const rows = [
    ["Postern, greeting_delay 100ms (default)", fixed(p100.rate), fixed(bare100), ratioText(p100.rate / bare100), "—", "—"],
    ["Postern, greeting_delay 0ms: msg/s", fixed(p0.rate), fixed(bare0), ratioText(p0.rate / bare0), "≥ 1000 msg/s", p0.rate >= 1000 ? "pass" : "short"],
  ];
  return {
    id: "connect",
    title: "Target 2: inbound, a new connection per message",
    header: VERSUS,
    rows,
    notes: [
      `${messages} replies of ${REPLY_SIZE} body bytes from Postfix smtp-source without -d (each message its own connection: greeting, EHLO, MAIL, RCPT, DATA, QUIT), ${SESSIONS} at a time, SQLite synchronous=FULL`,
      `baselines: the bare smtp-server with its hard-coded 100 ms wait before the greeting (${fixed(bare100)} msg/s) beside the 100 ms row, and the same server with the wait removed in this process (${fixed(bare0)} msg/s) beside the 0 ms row`,
      supported
        ? "src/smtp/listener.ts reads smtp.greeting_delay: the two Postern rows differ in their wait"
        : "src/smtp/listener.ts does not read smtp.greeting_delay yet: both Postern rows still wait smtp-server's 100 ms",
      warmupNote(warmupOf(messages), [["100ms", p100], ["0ms", p0]]),
      acceptedNote("100ms", p100),
      acceptedNote("0ms", p0),
      `CPU per message, every thread of the process: bare smtp-server (no wait) ${bare0Run.cpuPerMessage.toFixed(2)} ms; Postern at 0 ms ${cpuText(p0)}, which on ${CORES} cores allows at most ${fixed((CORES * 1000) / p0.cpuPerReply)} msg/s`,
    ],
  };
}
