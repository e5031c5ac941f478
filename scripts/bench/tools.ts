/**
 * What every benchmark scenario (scripts/bench/*.ts) is built from: the load generators, the sink,
 * Postern nodes in processes of their own, the bare smtp-server baseline, and seeding through the
 * domain services.
 */
import { execFile, fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { count, eq, inArray } from "drizzle-orm";
import { SMTPServer } from "smtp-server";
import { buildConfig, type Config } from "../../src/config/config.js";
import { openStore } from "../../src/db/database.js";
import type { Store } from "../../src/db/store.js";
import { startConversation } from "../../src/domain/conversations.service.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { newToken } from "../../src/domain/tokens.js";
import { addUser } from "../../src/domain/users.service.js";

export const run = promisify(execFile);
export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const DOMAIN = "bench.test";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NODE_SCRIPT = join(ROOT, "scripts", "bench-node.ts");
const SINK_SCRIPT = join(ROOT, "scripts", "bench", "sink.ts");
export const CLIENT_SCRIPT = join(ROOT, "scripts", "bench-client.mjs");
const POSTFIX_DIR = join(ROOT, ".tmp", "postfix");
const SMTP_SOURCE = join(POSTFIX_DIR, "usr", "sbin", "smtp-source");

// ---------------------------------------------------------------------------------------------
// Load: Postfix's smtp-source, or the nodemailer client where it cannot be had

let smtpSourcePath: string | undefined | null = null;

/** smtp-source, unpacked from Debian's postfix package into .tmp/postfix on first use. */
export async function smtpSource(): Promise<string | undefined> {
  if (smtpSourcePath !== null) return smtpSourcePath;
  smtpSourcePath = undefined;
  if (existsSync(SMTP_SOURCE)) return (smtpSourcePath = SMTP_SOURCE);
  try {
    mkdirSync(POSTFIX_DIR, { recursive: true });
    await run("apt-get", ["download", "postfix"], { cwd: POSTFIX_DIR });
    const deb = readdirSync(POSTFIX_DIR).find((f) => f.endsWith(".deb"));
    if (deb) await run("dpkg", ["-x", join(POSTFIX_DIR, deb), POSTFIX_DIR]);
  } catch {
    // No apt, no network: the nodemailer client takes over.
  }
  return (smtpSourcePath = existsSync(SMTP_SOURCE) ? SMTP_SOURCE : undefined);
}

export interface LoadSpec {
  readonly port: number;
  readonly messages: number;
  readonly sessions: number;
  /** Body bytes (smtp-source -l): the headers come on top. */
  readonly size: number;
  readonly from: string;
  readonly to: string;
  /** Keep each session's connection for all its messages (-d), as a relay would. */
  readonly keep: boolean;
}

/** Runs the load to completion; answers its wall time in seconds. */
export async function load(spec: LoadSpec): Promise<{ seconds: number; generator: string }> {
  const source = await smtpSource();
  const started = now();
  if (source) {
    await run(
      source,
      [...(spec.keep ? ["-d"] : []), "-s", String(spec.sessions), "-m", String(spec.messages), "-l", String(spec.size), "-f", spec.from, "-t", spec.to, `127.0.0.1:${spec.port}`],
      { env: { ...process.env, LD_LIBRARY_PATH: join(POSTFIX_DIR, "usr", "lib", "postfix") }, maxBuffer: 1 << 24 },
    );
    return { seconds: (now() - started) / 1000, generator: "Postfix smtp-source" };
  }
  if (!spec.keep) throw new Error("a connection per message needs Postfix's smtp-source (apt-get download postfix failed)");
  await run(process.execPath, [CLIENT_SCRIPT, "inbound", String(spec.port), String(spec.messages), String(spec.sessions), spec.from, spec.to, String(spec.size)], { maxBuffer: 1 << 20 });
  return { seconds: (now() - started) / 1000, generator: "nodemailer pool (scripts/bench-client.mjs)" };
}

// ---------------------------------------------------------------------------------------------
// The sink

export interface Sink {
  readonly port: number;
  count: number;
  bytes: number;
  lastAt: number;
  /** Resolves true once `target` messages have arrived, false after `timeoutMs`. */
  waitFor(target: number, timeoutMs: number): Promise<boolean>;
  /** The first arrival of each `bench-mark-N`. */
  marks(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

export function startSink(): Promise<Sink> {
  return new Promise((resolve, reject) => {
    const child = fork(SINK_SCRIPT, ["0"], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const waiters = new Set<() => void>();
    let marksAnswer: ((marks: Map<string, number>) => void) | undefined;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const sink: Sink = {
      port: 0,
      count: 0,
      bytes: 0,
      lastAt: 0,
      waitFor(target, timeoutMs) {
        if (sink.count >= target) return Promise.resolve(true);
        return new Promise((done) => {
          const timer = setTimeout(() => {
            waiters.delete(check);
            done(false);
          }, timeoutMs);
          const check = () => {
            if (sink.count < target) return;
            clearTimeout(timer);
            waiters.delete(check);
            done(true);
          };
          waiters.add(check);
        });
      },
      marks() {
        return new Promise((done) => {
          marksAnswer = done;
          child.send({ type: "marks" });
        });
      },
      async stop() {
        if (child.connected) child.send({ type: "stop" });
        await exited;
      },
    };
    child.on("message", (message: { type: string; port?: number; count?: number; bytes?: number; lastAt?: number; marks?: [string, number][] }) => {
      if (message.type === "ready") resolve(Object.assign(sink, { port: message.port }));
      else if (message.type === "count") {
        sink.count = message.count ?? 0;
        sink.bytes = message.bytes ?? 0;
        sink.lastAt = message.lastAt ?? 0;
        for (const check of [...waiters]) check();
      } else if (message.type === "marks") marksAnswer?.(new Map(message.marks ?? []));
    });
    child.once("exit", (code) => reject(new Error(`sink exited with code ${code} before it listened`)));
  });
}

// ---------------------------------------------------------------------------------------------
// Postern nodes

export interface PosternNode {
  readonly port: number;
  /** Tells the delivery worker that rows were queued behind its back. */
  wake(): void;
  /** CPU time (ms) the node's process has used so far, every thread included. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Node options for the Postern processes only (not the sink, not the load), split at spaces: e.g.
 * `POSTERN_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` profiles every thread of each
 * node, which NODE_OPTIONS does not allow.
 */
const NODE_ARGS = (process.env.POSTERN_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);

/** Forks scripts/bench-node.ts with this raw configuration; resolves once it listens. */
export function startNode(rawConfig: object): Promise<PosternNode> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(NODE_SCRIPT, [JSON.stringify(rawConfig)], {
      execArgv: [...NODE_ARGS, "--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.on("message", (message: { type?: string; port?: number }) => {
      if (message.type !== "ready") return;
      resolve({
        port: message.port ?? 0,
        wake: () => {
          if (child.connected) child.send({ type: "wake" });
        },
        cpu: () =>
          new Promise<number>((answer, fail) => {
            const gone = () => {
              child.off("message", onMessage);
              fail(new Error("bench node exited before it reported its CPU time"));
            };
            const onMessage = (reply: { type?: string; ms?: number }) => {
              if (reply.type !== "cpu") return;
              child.off("message", onMessage).off("exit", gone);
              answer(reply.ms ?? 0);
            };
            if (!child.connected) return fail(new Error("bench node is gone"));
            child.on("message", onMessage).once("exit", gone);
            child.send({ type: "cpu" });
          }),
        async stop() {
          if (child.connected) child.send({ type: "stop" });
          const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
    child.once("exit", (code) => reject(new Error(`bench node exited with code ${code} before it listened`)));
  });
}

export interface NodeSettings {
  readonly database: Record<string, unknown>;
  readonly sinkPort: number;
  readonly greetingDelay?: string;
  /** outbound.pool_size; Postern's default when absent. */
  readonly poolSize?: number;
}

/**
 * The configuration every node runs with: Postern's defaults, except what a benchmark must change
 * — outbound SMTP to the sink in clear, no per-recipient daily cap (the load goes to a handful of
 * people), room for 100 participants, conversations open at once (no consent round), a per-IP
 * connection limit above the load's, and a 50 ms poll as a backstop to the node's wake-up.
 */
export function nodeConfig(settings: NodeSettings): Record<string, unknown> {
  return {
    gateway: { domain: DOMAIN },
    smtp: { port: 0, max_connections_per_ip: 1000, max_clients: 1000, ...(settings.greetingDelay ? { greeting_delay: settings.greetingDelay } : {}) },
    database: settings.database,
    outbound: {
      transport: "smtp",
      host: "127.0.0.1",
      port: settings.sinkPort,
      starttls: "off",
      poll_interval: "50ms",
      max_per_user_per_day: 0,
      ...(settings.poolSize ? { pool_size: settings.poolSize } : {}),
    },
    consent: { kinds: [] },
    conversations: { max_participants: 200 },
    limits: { unknown_recipients_per_minute: 0 },
  };
}

export function configOf(raw: Record<string, unknown>): Config {
  return buildConfig(raw, "bench");
}

// ---------------------------------------------------------------------------------------------
// Databases

export type Engine = "sqlite" | "postgres";

export interface Database {
  readonly raw: Record<string, unknown>;
  dispose(): Promise<void>;
}

/** A fresh SQLite file in a temporary directory. */
export function sqliteDatabase(synchronous: "FULL" | "NORMAL" = "FULL"): Database {
  const dir = mkdtempSync(join(tmpdir(), "postern-bench-"));
  return {
    raw: { engine: "sqlite", path: join(dir, "postern.db"), synchronous },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function withStore<T>(config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config.database, "migrate");
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Seeding, through the domain services

export interface Seeded {
  readonly conversation: Conversation;
  readonly author: User;
  /** The author's reply+TOKEN@ address: mail to it is a post, copied to every other participant. */
  readonly replyAddress: string;
  readonly participants: number;
}

/**
 * A conversation of `participants` people: an outside author writes to a group inbox whose
 * `participants - 1` members all join (the first post queues a copy for each), then `history`
 * earlier posts are written straight into the tables, each already sent to everyone (status sent),
 * so that the conversation and the deliveries table have the size of one that has lived.
 */
export async function seedConversation(store: Store, config: Config, tag: string, participants: number, history: number): Promise<Seeded> {
  const open = { ...config, consent: { ...config.consent, kinds: [] } };
  const seeded = await store.transaction(async (tx) => {
    const ctx = { tx, config: open, now: Date.now() };
    const author = await addUser(ctx, { email: `${tag}-author@customer.test`, name: "Carol Customer" });
    await addGroup(ctx, { name: tag, inbox: `${tag}@${DOMAIN}` });
    const members: User[] = [];
    for (let i = 1; i < participants; i++) {
      const member = await addUser(ctx, { email: `${tag}-member${i}@team.test`, name: `Member ${i}`, role: "staff" });
      await addGroupMember(ctx, tag, member.email);
      members.push(member);
    }
    const group = (await ctx.tx.rows((db, t) => db.select().from(t.groups).where(eq(t.groups.name, tag))))[0];
    if (!group) throw new Error(`group ${tag} was not created`);
    const { conversation } = await startConversation(ctx, {
      kind: "inbox",
      subject: `Benchmark ${tag}`,
      author,
      recipients: [],
      group,
      post: { body: "Hello, a question about my order.", rawBody: "Hello, a question about my order." },
    });
    const participant = await findParticipant(tx, conversation.id, author.id);
    if (!participant) throw new Error("the author is not a participant");
    return { conversation, author, members, replyAddress: `reply+${participant.replyToken}@${DOMAIN}` };
  });
  await seedHistory(store, seeded.conversation, [seeded.author, ...seeded.members], history);
  return { conversation: seeded.conversation, author: seeded.author, replyAddress: seeded.replyAddress, participants };
}

const HISTORY_BODY = "An earlier post of this conversation, as long as a short reply usually is.\n\n".repeat(6);

async function seedHistory(store: Store, conversation: Conversation, people: readonly User[], history: number): Promise<void> {
  const chunk = 500;
  const at = Date.now() - history * 60_000;
  for (let from = 0; from < history; from += chunk) {
    await store.transaction(async (tx) => {
      const rows = Array.from({ length: Math.min(chunk, history - from) }, (_, k) => {
        const i = from + k;
        const author = people[i % people.length]!;
        return {
          conversationId: conversation.id,
          authorId: author.id,
          parentId: null,
          state: "sent" as const,
          body: HISTORY_BODY,
          rawBody: HISTORY_BODY,
          messageId: `<history-${conversation.id}-${i}-${newToken()}@${DOMAIN}>`,
          createdAt: at + i * 60_000,
          sentAt: at + i * 60_000,
        };
      });
      const posts = await tx.rows((db, t) => db.insert(t.posts).values(rows).returning({ id: t.posts.id, authorId: t.posts.authorId, sentAt: t.posts.sentAt }));
      const deliveries = posts.flatMap((post) =>
        people
          .filter((person) => person.id !== post.authorId)
          .map((person) => ({
            kind: "post" as const,
            postId: post.id,
            conversationId: conversation.id,
            recipientId: person.id,
            toAddress: person.email,
            bounceToken: newToken(),
            status: "sent" as const,
            attempts: 1,
            nextAttemptAt: post.sentAt ?? at,
            createdAt: post.sentAt ?? at,
            sentAt: post.sentAt ?? at,
          })),
      );
      for (let i = 0; i < deliveries.length; i += chunk) {
        const part = deliveries.slice(i, i + chunk);
        await tx.rows((db, t) => db.insert(t.deliveries).values(part));
      }
    });
  }
}

/** `count` posts by the author, published as mail would publish them, in one transaction. */
export async function writePosts(store: Store, config: Config, seeded: Seeded, count: number, body: string): Promise<void> {
  await store.transaction(async (tx) => {
    const ctx = { tx, config, now: Date.now() };
    for (let i = 0; i < count; i++) {
      const post = await createPost(ctx, seeded.conversation, { author: seeded.author, body, rawBody: body });
      await publishPost(ctx, seeded.conversation, post);
    }
  });
}

export async function countPosts(store: Store, conversationId: number): Promise<number> {
  const rows = await store.read((tx) => tx.rows((db, t) => db.select({ n: count() }).from(t.posts).where(eq(t.posts.conversationId, conversationId))));
  return Number(rows[0]?.n ?? 0);
}

/** Copies queued or being sent: the outbound backlog. */
export async function backlog(store: Store): Promise<number> {
  const rows = await store.read((tx) =>
    tx.rows((db, t) => db.select({ n: count() }).from(t.deliveries).where(inArray(t.deliveries.status, ["queued", "sending"]))),
  );
  return Number(rows[0]?.n ?? 0);
}

/** Deliveries by status, with the most common last errors: what became of copies that did not reach the sink. */
export async function deliveryStates(store: Store): Promise<string> {
  const rows = await store.read((tx) =>
    tx.rows((db, t) =>
      db.select({ status: t.deliveries.status, error: t.deliveries.lastError, n: count() }).from(t.deliveries).groupBy(t.deliveries.status, t.deliveries.lastError),
    ),
  );
  return rows
    .sort((a, b) => Number(b.n) - Number(a.n))
    .slice(0, 6)
    .map((row) => `${row.n} ${row.status}${row.error ? ` (${row.error.slice(0, 120)})` : ""}`)
    .join("; ");
}

// ---------------------------------------------------------------------------------------------
// The bare smtp-server baseline

const greetAtOnce = new WeakSet<object>();
type Connection = { _server: object; _setListeners(cb: () => void): void; connectionReady(): void; send(code: number, text: string, close: boolean): void; name: string };
// A module path the type declarations do not list: loaded by a name the compiler does not resolve.
const connectionModule: string = "smtp-server/lib/smtp-connection.js";
const { SMTPConnection } = (await import(connectionModule)) as { SMTPConnection: { prototype: unknown } };
const originalInit = (SMTPConnection.prototype as unknown as { init(this: Connection): void }).init;
// smtp-server waits a hard-coded 100 ms before its greeting; the "0 ms" baseline skips the wait,
// as Postern's smtp.greeting_delay = "0ms" does. Only servers in greetAtOnce are affected.
(SMTPConnection.prototype as unknown as { init(this: Connection): void }).init = function init(this: Connection) {
  if (!greetAtOnce.has(this._server)) return originalInit.call(this);
  this._setListeners(() => this.connectionReady());
};

/** An smtp-server that reads each message and discards it, in this process. */
export async function bareServer(options: { greetAtOnce?: boolean } = {}): Promise<{ port: number; close(): Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH"],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    maxClients: 1000,
    onData(stream, _session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => callback());
    },
  });
  if (options.greetAtOnce) greetAtOnce.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

// ---------------------------------------------------------------------------------------------
// Figures

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
