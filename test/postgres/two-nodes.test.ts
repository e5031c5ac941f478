import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { runPostern } from "../helpers/cli.js";
import { createPostgresDatabase, type PostgresTestDatabase } from "../helpers/postgres.js";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";

/**
 * Two `postern serve` processes on one PostgreSQL database, under inbound load, with one node
 * killed (SIGKILL) and restarted twice: every message answered 250 is exactly one post, every copy
 * of every post is delivered, and duplicates at the relay stay within what the killed node had in
 * flight. Then one node stops gracefully and the other carries on alone.
 */

const REPO = new URL("../../", import.meta.url).pathname;

/** Messages of the load; each fans out to the two members of support. */
const N = 120;
/** Client sessions open at once, over both nodes. */
const CONCURRENCY = 4;
/** outbound.pool_size: at most this many sends in flight per node (the worker's limiter). */
const OUTBOUND_POOL = 3;
const LEASE = "3s";
const RECIPIENTS = ["alice@team.test", "bob@team.test"];

interface LogEvent {
  readonly event?: string;
  readonly level?: number;
  readonly recorded?: boolean;
  readonly [key: string]: unknown;
}

/** One run of `postern serve`: its process, and every JSON log line it wrote to stderr. */
interface Incarnation {
  readonly node: "A" | "B";
  readonly child: ChildProcess;
  readonly events: LogEvent[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const processes: ChildProcess[] = [];

/** Runs `postern serve` and waits for its listening line; keeps reading its logs until it exits. */
function serve(node: "A" | "B", configPath: string, port: number): Promise<Incarnation> {
  const child = spawn(process.execPath, ["bin/postern.js", "serve", "--config", configPath], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
  processes.push(child);
  const events: LogEvent[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let pending = "";
    let listening = false;
    const timer = setTimeout(() => reject(new Error(`node ${node} did not start within 30 s: ${JSON.stringify(events.slice(-5))}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === "") continue;
        let event: LogEvent;
        try {
          event = JSON.parse(line) as LogEvent;
        } catch {
          event = { event: "non-json", line };
        }
        events.push(event);
        if (!listening && event.event === "smtp.listening" && event.port === port) {
          listening = true;
          clearTimeout(timer);
          resolve({ node, child, events, exited });
        }
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`node ${node} exited (${code ?? signal}) before listening: ${pending}${JSON.stringify(events.slice(-5))}`));
    });
  });
}

async function freePort(): Promise<number> {
  const probe = await startSmtpSink();
  const port = probe.port;
  await probe.close();
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const bare = (messageId: string) => messageId.replace(/^<|>$/g, "");

function nodeToml(dbUrl: string, smtpPort: number, relayPort: number): string {
  return [
    "[gateway]",
    'domain = "example.test"',
    "[smtp]",
    'host = "127.0.0.1"',
    `port = ${smtpPort}`,
    "[database]",
    'engine = "postgres"',
    `url = ${JSON.stringify(dbUrl)}`,
    "pool_size = 4",
    "[outbound]",
    'transport = "smtp"',
    'host = "127.0.0.1"',
    `port = ${relayPort}`,
    'starttls = "off"',
    `pool_size = ${OUTBOUND_POOL}`,
    `lease = "${LEASE}"`,
    'poll_interval = "100ms"',
    'retry_schedule = ["1s"]',
    'connection_timeout = "2s"',
    // Every copy goes to the same two members: the daily cap would hold most of them back for a digest.
    "max_per_user_per_day = 0",
    // A spawned gateway uses the system resolver: no sender authentication, so no real DNS.
    "[auth]",
    'mode = "off"',
  ].join("\n");
}

describe("two gateway nodes on one PostgreSQL database", () => {
  let dir: string | undefined;
  let db: PostgresTestDatabase | undefined;
  let sink: SmtpSink | undefined;

  afterEach(async () => {
    for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(
      processes.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((resolve) => child.once("exit", resolve)) : undefined)),
    );
    processes.length = 0;
    await sink?.close();
    sink = undefined;
    await db?.drop();
    db = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("share the load, survive kill -9 of one node twice, deliver every copy, and carry on when one stops", async () => {
    const started = Date.now();
    dir = mkdtempSync(join(tmpdir(), "postern-two-nodes-"));
    db = await createPostgresDatabase({ empty: true });
    const dbUrl = db.url;
    sink = await startSmtpSink();
    // A little time between receiving a copy and answering 250: kills find sends in flight.
    sink.delayReplies(20);
    const [portA, portB] = [await freePort(), await freePort()];
    const configA = join(dir, "node-a.toml");
    const configB = join(dir, "node-b.toml");
    writeFileSync(configA, nodeToml(dbUrl, portA, sink.port));
    writeFileSync(configB, nodeToml(dbUrl, portB, sink.port));

    // Schema and seed through the CLI, as an administrator would.
    const cli = async (...args: string[]) => {
      const result = await runPostern(["--config", configA, ...args]);
      expect(result.code, `postern ${args.join(" ")}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    await cli("db", "migrate");
    await cli("users", "add", "alice@team.test", "--role", "staff");
    await cli("users", "add", "bob@team.test");
    await cli("groups", "add", "support", "--inbox", "support@example.test");
    await cli("groups", "members", "add", "support", "alice@team.test");
    await cli("groups", "members", "add", "support", "bob@team.test");

    const ports = { A: portA, B: portB } as const;
    const incarnations: Incarnation[] = [];
    const start = async (node: "A" | "B") => {
      const running = await serve(node, node === "A" ? configA : configB, ports[node]);
      incarnations.push(running);
      return running;
    };
    const setupMs = Date.now() - started;
    let [a, b] = await Promise.all([start("A"), start("B")]);
    let aUp = true;

    // The load: N messages from N strangers, alternating between the nodes, CONCURRENCY at a time.
    // A message whose session fails (node down, or killed mid-session) is sent again, with the same
    // Message-ID, to the other node: what a sending MTA does with two MX records.
    const run = randomBytes(4).toString("hex");
    const messageId = (i: number) => `<load-${i}.${run}@customer.test>`;
    interface Outcome {
      answered250: boolean;
      via?: "A" | "B";
      failures: string[];
    }
    const outcomes: Outcome[] = Array.from({ length: N }, () => ({ answered250: false, failures: [] }));
    const answeredBy = { A: 0, B: 0 };
    let answered = 0;
    const send = (port: number, from: string, id: string, subject: string) =>
      nodemailer
        .createTransport({ host: "127.0.0.1", port, ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000, socketTimeout: 10_000 })
        .sendMail({ from, to: "support@example.test", subject, text: `Body of ${subject}`, messageId: id });

    // Gates the chaos opens: the load never runs ahead of A's restarts, however slow they are, so
    // each life of A sees load, and what the chaos waits for is always still to come.
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, opened };
    };
    const firstRestart = gate();
    const secondRestart = gate();
    const sendOne = async (i: number) => {
      const outcome = outcomes[i]!;
      let node: "A" | "B" = i % 2 === 0 ? "A" : "B";
      for (let attempt = 0; attempt < 8 && !outcome.answered250; attempt++) {
        if (node === "A" && !aUp) node = "B";
        try {
          const info = await send(ports[node], `c${i}@customer.test`, messageId(i), `Load ${i}`);
          if (/^250[ -]/.test(info.response)) {
            outcome.answered250 = true;
            outcome.via = node;
            answeredBy[node]++;
            answered++;
          } else {
            outcome.failures.push(`${node}: ${info.response}`);
          }
        } catch (error) {
          outcome.failures.push(`${node}: ${(error as Error).message}`);
          node = node === "A" ? "B" : "A";
          await sleep(100);
        }
      }
    };
    let next = 0;
    const loadWorker = async () => {
      for (let i = next++; i < N; i = next++) {
        if (i >= N / 2 - 10) await firstRestart.opened;
        if (i >= N - 20) await secondRestart.opened;
        await sendOne(i);
        await sleep(40);
      }
    };

    // The chaos, alongside the load: kill A, restart it, kill it again, restart it.
    const waitUntil = async (condition: () => boolean, what: string, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    };
    const kills: { inFlightRows: number; answeredBefore: number }[] = [];
    const killA = async () => {
      aUp = false;
      const pid = a.child.pid!;
      a.child.kill("SIGKILL");
      await a.exited;
      // Right after its death, before any lease runs out: the rows the dead node still held.
      const [row] = await query<{ n: string }>(dbUrl, "SELECT count(*) AS n FROM deliveries WHERE status = 'sending' AND lease_owner LIKE $1", [`%:${pid}:%`]);
      kills.push({ inFlightRows: Number(row!.n), answeredBefore: answered });
    };
    const chaos = async () => {
      await waitUntil(() => answered >= 20, "20 messages answered before the first kill");
      await killA();
      a = await start("A");
      aUp = true;
      firstRestart.open();
      const answeredByABefore = answeredBy.A;
      await waitUntil(() => answeredBy.A >= answeredByABefore + 8, "the restarted node A to answer 8 messages");
      await killA();
      await sleep(300);
      a = await start("A");
      aUp = true;
      secondRestart.open();
    };
    const chaosDone = chaos();
    // A chaos failure must not leave the load waiting: it goes ahead, and the test fails below.
    chaosDone.catch(() => {}).finally(() => {
      firstRestart.open();
      secondRestart.open();
    });
    await Promise.all(Array.from({ length: CONCURRENCY }, loadWorker));
    await chaosDone;
    const loadMs = Date.now() - started - setupMs;

    // Drain: nothing queued or sending, leases the killed node held included (they run out after 3 s).
    const statusCounts = async () =>
      Object.fromEntries(
        (await query<{ status: string; n: string }>(dbUrl, "SELECT status, count(*) AS n FROM deliveries GROUP BY status")).map((r) => [r.status, Number(r.n)]),
      ) as Record<string, number>;
    let statuses: Record<string, number> = {};
    const drainDeadline = Date.now() + 40_000;
    for (;;) {
      statuses = await statusCounts();
      if (!statuses.queued && !statuses.sending) break;
      if (Date.now() > drainDeadline) throw new Error(`queue did not drain: ${JSON.stringify(statuses)}`);
      await sleep(250);
    }

    // Every message answered 250 is exactly one post, with one sent delivery per member.
    const ids = outcomes.map((_, i) => messageId(i));
    const answeredIds = ids.filter((_, i) => outcomes[i]!.answered250);
    const posts = await query<{ id: number; message_id: string; source_message_id: string }>(
      dbUrl,
      "SELECT id, message_id, source_message_id FROM posts WHERE source_message_id = ANY($1)",
      [ids],
    );
    const duplicatePosts = await query(dbUrl, "SELECT source_message_id, count(*) FROM posts GROUP BY 1 HAVING count(*) > 1");
    expect(duplicatePosts).toEqual([]);
    const postSources = new Set(posts.map((p) => p.source_message_id));
    const answeredWithoutPost = answeredIds.filter((id) => !postSources.has(id));
    expect(answeredWithoutPost).toEqual([]);
    // Only 250s are promised; with retries to the other node every message should get one.
    const unanswered = outcomes.map((o, i) => ({ i, ...o })).filter((o) => !o.answered250);
    expect(unanswered).toEqual([]);
    expect(posts).toHaveLength(answeredIds.length);

    const perPost = await query<{ post_id: number; total: string; sent: string }>(
      dbUrl,
      "SELECT post_id, count(*) AS total, count(*) FILTER (WHERE status = 'sent') AS sent FROM deliveries WHERE post_id = ANY($1) GROUP BY post_id",
      [posts.map((p) => p.id)],
    );
    expect(perPost).toHaveLength(posts.length);
    const incomplete = perPost.filter((r) => Number(r.total) !== 2 || Number(r.sent) !== 2);
    expect(incomplete).toEqual([]);
    expect(statuses).toEqual({ sent: 2 * posts.length });

    // The relay got every (post, recipient) copy at least once; duplicates only from the kills.
    const received = new Map<string, number>();
    for (const message of sink.messages) {
      const id = bare(message.parsed.messageId ?? "");
      for (const rcpt of message.envelope.rcptTo) received.set(`${id} ${rcpt}`, (received.get(`${id} ${rcpt}`) ?? 0) + 1);
    }
    const missing = posts.flatMap((p) => RECIPIENTS.filter((r) => !received.has(`${bare(p.message_id)} ${r}`)).map((r) => `${p.message_id} ${r}`));
    expect(missing).toEqual([]);
    const sinkCopies = sink.messages.length;
    const duplicates = [...received.values()].reduce((sum, n) => sum + (n - 1), 0);
    const inFlightAtKills = kills.reduce((sum, k) => sum + k.inFlightRows, 0);
    expect(duplicates).toBeLessThanOrEqual(inFlightAtKills);
    expect(duplicates).toBeLessThanOrEqual(kills.length * OUTBOUND_POOL);

    // Both nodes delivered: delivery.sent lines per node, over all of A's lives.
    const count = (node: "A" | "B", pick: (e: LogEvent) => boolean) =>
      incarnations.filter((r) => r.node === node).reduce((sum, r) => sum + r.events.filter(pick).length, 0);
    const sentBy = {
      A: count("A", (e) => e.event === "delivery.sent" && e.recorded === true),
      B: count("B", (e) => e.event === "delivery.sent" && e.recorded === true),
    };
    const sentUnrecorded = count("A", (e) => e.event === "delivery.sent" && e.recorded !== true) + count("B", (e) => e.event === "delivery.sent" && e.recorded !== true);
    const leaseLost = count("A", (e) => e.event === "delivery.lease_lost") + count("B", (e) => e.event === "delivery.lease_lost");
    const errors = incarnations.flatMap((r) => r.events.filter((e) => (e.level ?? 0) >= 50).map((e) => `${r.node}: ${e.event} ${String((e.err as { message?: string } | undefined)?.message ?? e.msg)}`));
    const warnings: Record<string, number> = {};
    for (const r of incarnations) for (const e of r.events) if (e.level === 40) warnings[`${r.node}:${e.event}`] = (warnings[`${r.node}:${e.event}`] ?? 0) + 1;
    expect(sentBy.A).toBeGreaterThan(0);
    expect(sentBy.B).toBeGreaterThan(0);
    // Each copy is recorded sent once, and logged by the node that recorded it. Not exact across
    // kill -9: pino writes stderr asynchronously (pino.destination(2) is not sync), so the last
    // lines of a killed node can be lost; and the line is written inside the transaction, before
    // its commit, so a node killed in between logged a copy another node then sends and logs again.
    const sentLines = sentBy.A + sentBy.B;
    expect(sentLines).toBeGreaterThanOrEqual(2 * posts.length - kills.length * OUTBOUND_POOL);
    expect(sentLines).toBeLessThanOrEqual(2 * posts.length + inFlightAtKills);
    const inbound = Object.fromEntries(
      (await query<{ outcome: string; n: string }>(dbUrl, "SELECT outcome, count(*) AS n FROM inbound_messages GROUP BY outcome")).map((r) => [r.outcome, Number(r.n)]),
    );
    const retried = outcomes.filter((o) => o.failures.length > 0).length;

    // The same message to both nodes at once (a sender trying both MX records): one post each.
    const twinIds = Array.from({ length: 3 }, (_, i) => `<twin-${i}.${run}@customer.test>`);
    const twinReplies = await Promise.all(
      twinIds.flatMap((id, i) => [portA, portB].map((port) => send(port, `twin${i}@customer.test`, id, `Twin ${i}`).then((info) => info.response))),
    );
    expect(twinReplies.filter((r) => /^250 /.test(r))).toHaveLength(6);
    const twinPosts = await query<{ source_message_id: string; n: string }>(
      dbUrl,
      "SELECT source_message_id, count(*) AS n FROM posts WHERE source_message_id = ANY($1) GROUP BY 1",
      [twinIds],
    );
    expect(twinPosts.map((r) => Number(r.n))).toEqual([1, 1, 1]);

    // Graceful stop of B: A keeps accepting and delivering alone.
    b.child.kill("SIGTERM");
    const bExit = await b.exited;
    expect(bExit.code).toBe(0);
    const extraIds = Array.from({ length: 5 }, (_, i) => `<after-${i}.${run}@customer.test>`);
    for (const [i, id] of extraIds.entries()) {
      const info = await send(portA, `late${i}@customer.test`, id, `After ${i}`);
      expect(info.response).toMatch(/^250 /);
    }
    const extraDeadline = Date.now() + 20_000;
    let extra: { id: number; message_id: string; sent: string }[] = [];
    for (;;) {
      extra = await query(
        dbUrl,
        "SELECT p.id, p.message_id, count(*) FILTER (WHERE d.status = 'sent') AS sent FROM posts p JOIN deliveries d ON d.post_id = p.id WHERE p.source_message_id = ANY($1) GROUP BY p.id, p.message_id",
        [extraIds],
      );
      if (extra.length === 5 && extra.every((p) => Number(p.sent) === 2)) break;
      if (Date.now() > extraDeadline) throw new Error(`after B stopped, A did not deliver: ${JSON.stringify(extra)}`);
      await sleep(200);
    }
    const receivedAfter = new Set(sink.messages.flatMap((m) => m.envelope.rcptTo.map((r) => `${bare(m.parsed.messageId ?? "")} ${r}`)));
    expect(extra.flatMap((p) => RECIPIENTS.filter((r) => !receivedAfter.has(`${bare(p.message_id)} ${r}`)))).toEqual([]);

    console.log(
      `two-nodes: answered250=${answeredIds.length}/${N} (A ${answeredBy.A}, B ${answeredBy.B}; ${retried} retried on the other node)` +
        ` posts=${posts.length} deliveries=${JSON.stringify(statuses)} inbound=${JSON.stringify(inbound)}` +
        ` sink=${sinkCopies} copies (${received.size} distinct, ${duplicates} duplicate)` +
        ` kills=${JSON.stringify(kills)} bound=${inFlightAtKills}` +
        ` sentBy=${JSON.stringify(sentBy)} (lines ${sentLines} for ${2 * posts.length} copies) sentUnrecorded=${sentUnrecorded} leaseLost=${leaseLost} warnings=${JSON.stringify(warnings)} errors=${errors.length}${errors.length ? ` ${JSON.stringify(errors.slice(0, 5))}` : ""}` +
        ` twins=${twinPosts.length} posts for 6 sessions afterStopB=${extra.length} posts delivered; setup ${setupMs} ms, load ${loadMs} ms, total ${Date.now() - started} ms`,
    );
  }, 120_000);
});
