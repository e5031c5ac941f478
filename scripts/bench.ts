/**
 * Inbound throughput: how many messages per second Postern accepts (parse, classify, trim,
 * route, commit with fan-out, answer 250), and how many copies per second its delivery worker
 * renders and hands to a discarding transport, against a bare smtp-server that only reads and
 * discards, measured in the same run with the same client. Figures are ratios to that baseline.
 *
 * Configurations: SQLite with synchronous=FULL and NORMAL; PostgreSQL (a throwaway cluster from
 * scripts/postgres-cluster.mjs, a fresh database for each configuration) with one node, and with
 * two nodes on one database, each in a process of its own (scripts/bench-node.ts), the load
 * split evenly between their ports by two load generators running at once.
 *
 * The load comes from Postfix's smtp-source (unpacked from Debian's postfix package into .tmp/ on
 * first use, no mail daemon needed), which is far faster than any server here; where it cannot be
 * had, from a nodemailer client in its own process (scripts/bench-client.mjs).
 *
 * The table is printed and written, with the machine, the date and the command, between the
 * markers of docs/benchmarks.md.
 *
 *   npm run bench [-- --messages 2000 --connections 10 --engines sqlite,postgres]
 */
import { execFile, fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { SMTPServer } from "smtp-server";
import { buildConfig } from "../src/config/config.js";
import { openStore } from "../src/db/database.js";
import { addGroup, addGroupMember } from "../src/domain/groups.service.js";
import { addUser } from "../src/domain/users.service.js";
import * as clusterModule from "./postgres-cluster.mjs";
import type { Cluster } from "./postgres-cluster.mjs";

const runStarted = performance.now();
const run = promisify(execFile);
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const numberOption = (name: string, fallback: number): number => {
  const value = option(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, not "${value}"`);
  return n;
};
const MESSAGES = numberOption("messages", 2000);
const CONNECTIONS = numberOption("connections", 10);
const COPIES_PER_MESSAGE = 2; // the group inbox has two members
/** How long to wait for the last copy after the last message was accepted. */
const DELIVERY_TIMEOUT_MS = 120_000;

const DOCS = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
const NODE_SCRIPT = fileURLToPath(new URL("./bench-node.ts", import.meta.url));
const POSTFIX_DIR = join(process.cwd(), ".tmp", "postfix");
const SMTP_SOURCE = join(POSTFIX_DIR, "usr", "sbin", "smtp-source");
const now = () => performance.timeOrigin + performance.now();


// ---------------------------------------------------------------------------------------------
// Which engines

type Engine = "sqlite" | "postgres";
const notes: string[] = [];
const enginesOption = option("engines");
let engines: Engine[];
if (enginesOption !== undefined) {
  engines = enginesOption.split(",").map((e) => e.trim()).filter(Boolean) as Engine[];
  const unknown = engines.filter((e) => e !== "sqlite" && e !== "postgres");
  if (unknown.length || !engines.length) throw new Error(`--engines takes sqlite, postgres or both (comma-separated), not "${enginesOption}"`);
} else if (clusterModule.findPostgresBinDir() || clusterModule.mayInstall()) {
  engines = ["sqlite", "postgres"];
} else {
  engines = ["sqlite"];
  notes.push(
    "PostgreSQL rows skipped: no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or pg_config --bindir " +
      "(install Debian's postgresql package, or run as root with POSTERN_INSTALL_POSTGRES=1)",
  );
  process.stdout.write(`${notes[0]}\n`);
}

// ---------------------------------------------------------------------------------------------
// Load

async function smtpSource(): Promise<string | undefined> {
  if (existsSync(SMTP_SOURCE)) return SMTP_SOURCE;
  try {
    mkdirSync(POSTFIX_DIR, { recursive: true });
    await run("apt-get", ["download", "postfix"], { cwd: POSTFIX_DIR });
    const deb = readdirSync(POSTFIX_DIR).find((f) => f.endsWith(".deb"));
    if (!deb) return undefined;
    await run("dpkg", ["-x", join(POSTFIX_DIR, deb), POSTFIX_DIR]);
    return existsSync(SMTP_SOURCE) ? SMTP_SOURCE : undefined;
  } catch {
    return undefined;
  }
}

const generator = await smtpSource();

interface Share {
  readonly port: number;
  readonly messages: number;
  readonly connections: number;
}

/** One load generator, in a process of its own: `messages` over `connections` to one port. */
async function load({ port, messages, connections }: Share, to: string): Promise<{ seconds: number; failed: number }> {
  if (generator) {
    const started = performance.now();
    // -d keeps each session's connection for all its messages, as a relay would.
    await run(generator, ["-d", "-s", String(connections), "-m", String(messages), "-l", "400", "-f", "carol@customer.test", "-t", to, `127.0.0.1:${port}`], {
      env: { ...process.env, LD_LIBRARY_PATH: join(POSTFIX_DIR, "usr", "lib", "postfix") },
    });
    return { seconds: (performance.now() - started) / 1000, failed: 0 };
  }
  const { stdout } = await run(process.execPath, ["scripts/bench-client.mjs", String(port), String(messages), String(connections), to], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim()) as { seconds: number; failed: number };
}

/** MESSAGES and CONNECTIONS split evenly over the ports, every generator running at once. */
function shares(ports: readonly number[]): Share[] {
  return ports.map((port, i) => {
    const part = (total: number) => Math.floor(total / ports.length) + (i < total % ports.length ? 1 : 0);
    return { port, messages: part(MESSAGES), connections: Math.max(1, part(CONNECTIONS)) };
  });
}

// ---------------------------------------------------------------------------------------------
// Baseline

async function baseline(): Promise<number> {
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ["AUTH"], hideSTARTTLS: true, disableReverseLookup: true, logger: false,
    onData(stream, _session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  const { seconds } = await load({ port, messages: MESSAGES, connections: CONNECTIONS }, "support@bench.test");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return MESSAGES / seconds;
}

// ---------------------------------------------------------------------------------------------
// Postern nodes

interface Node {
  readonly port: number;
  sent: number;
  lastAt: number;
  /** Stops the gateway and resolves with its final count, once the process has exited. */
  stop(): Promise<void>;
}

type NodeMessage = { type: "ready"; port: number } | { type: "progress" | "stopped"; sent: number; lastAt: number };

/** Forks scripts/bench-node.ts with this raw configuration; resolves once it listens. */
function startNode(rawConfig: object, onProgress: () => void): Promise<Node> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(NODE_SCRIPT, [JSON.stringify(rawConfig)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let stopped: () => void = () => {};
    const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
    const node: Node = {
      port: 0,
      sent: 0,
      lastAt: 0,
      async stop() {
        const done = new Promise<void>((resolveStop) => (stopped = resolveStop));
        if (child.connected) child.send({ type: "stop" });
        await Promise.race([done, exited]);
        await exited;
      },
    };
    child.on("message", (message: NodeMessage) => {
      if (message.type === "ready") {
        resolve(Object.assign(node, { port: message.port }));
        return;
      }
      node.sent = message.sent;
      node.lastAt = message.lastAt;
      onProgress();
      if (message.type === "stopped") stopped();
    });
    child.once("exit", (code) => reject(new Error(`bench node exited with code ${code} before it listened`)));
  });
}

interface Result {
  readonly label: string;
  readonly rate: number;
  readonly copiesRate: number;
  readonly copies: number;
  readonly failed: number;
  readonly timedOut: boolean;
}

/**
 * One configuration: seed the database, start `nodes` gateway processes on it, send the load
 * split between them, wait for every copy, stop them. Copies per second run from the start of
 * the load (the first message) to the last copy any node handed over.
 */
async function postern(label: string, database: Record<string, unknown>, nodes: number): Promise<Result> {
  const raw = {
    gateway: { domain: "bench.test" },
    smtp: { port: 0 },
    database,
    // The load goes to a handful of recipients: no daily cap, or it would measure held-back copies.
    outbound: { poll_interval: "50ms", batch_size: 200, pool_size: 20, max_per_user_per_day: 0 },
  };
  const config = buildConfig(raw, "bench");
  const seed = await openStore(config.database, "migrate");
  await seed.transaction(async (tx) => {
    const ctx = { tx, config, now: Date.now() };
    for (const email of ["agent1@team.test", "agent2@team.test"]) await addUser(ctx, { email, role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@bench.test" });
    await addGroupMember(ctx, "support", "agent1@team.test");
    await addGroupMember(ctx, "support", "agent2@team.test");
  });
  await seed.close();

  const expected = MESSAGES * COPIES_PER_MESSAGE;
  let allSent: () => void = () => {};
  const done = new Promise<void>((resolve) => (allSent = resolve));
  const started: Node[] = [];
  const total = () => started.reduce((sum, n) => sum + n.sent, 0);
  const onProgress = () => {
    if (total() >= expected) allSent();
  };
  try {
    // One after the other: both would otherwise run the (idempotent) migration check at once.
    for (let i = 0; i < nodes; i++) started.push(await startNode(raw, onProgress));

    const startedAt = now();
    const results = await Promise.all(shares(started.map((n) => n.port)).map((share) => load(share, "support@bench.test")));
    const seconds = Math.max(...results.map((r) => r.seconds));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), DELIVERY_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    const lastAt = Math.max(...started.map((n) => n.lastAt));
    const copies = total();
    const copiesSeconds = (lastAt - startedAt) / 1000;
    return {
      label,
      rate: MESSAGES / seconds,
      copiesRate: copies > 0 && copiesSeconds > 0 ? copies / copiesSeconds : 0,
      copies,
      failed: results.reduce((sum, r) => sum + r.failed, 0),
      timedOut,
    };
  } finally {
    await Promise.all(started.map((n) => n.stop()));
  }
}

async function sqlite(synchronous: "FULL" | "NORMAL", label: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "postern-bench-"));
  try {
    return await postern(label, { engine: "sqlite", path: join(dir, "postern.db"), synchronous }, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

async function query(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

interface PostgresInfo {
  readonly version: string;
  readonly settings: string;
}

async function postgresRuns(): Promise<{ results: Result[]; info?: PostgresInfo }> {
  let cluster: Cluster;
  try {
    cluster = await clusterModule.startCluster();
  } catch (error) {
    // Only when PostgreSQL was not asked for explicitly does its absence skip the rows.
    if (enginesOption === undefined && error instanceof Error && error.name === "PostgresUnavailableError") {
      const note = `PostgreSQL rows skipped: ${error.message}`;
      notes.push(note);
      process.stdout.write(`${note}\n`);
      return { results: [] };
    }
    throw error;
  }
  const unhook = clusterModule.stopOnExit(cluster);
  try {
    const { rows } = await query(
      cluster.url,
      "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, " +
        "current_setting('synchronous_commit') AS synchronous_commit, current_setting('full_page_writes') AS full_page_writes",
    );
    const row = rows[0] as Record<string, string>;
    const info = {
      version: row.version ?? "unknown",
      settings: `fsync=${row.fsync}, synchronous_commit=${row.synchronous_commit}, full_page_writes=${row.full_page_writes}`,
    };
    const results: Result[] = [];
    for (const [nodes, label] of [
      [1, "PostgreSQL, 1 node"],
      [2, "PostgreSQL, 2 nodes (2 processes, 1 database)"],
    ] as const) {
      // A fresh database for each configuration, migrated by openStore("migrate") in postern().
      const name = `postern_bench_${nodes}_nodes`;
      await query(cluster.url, `CREATE DATABASE ${name}`);
      results.push(await postern(label, { engine: "postgres", url: databaseUrl(cluster.url, name) }, nodes));
    }
    return { results, info };
  } finally {
    unhook();
    await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Run

const baseBefore = await baseline();
const results: Result[] = [];
if (engines.includes("sqlite")) {
  results.push(await sqlite("FULL", "SQLite, synchronous=FULL (default)"));
  results.push(await sqlite("NORMAL", "SQLite, synchronous=NORMAL"));
}
let postgres: PostgresInfo | undefined;
if (engines.includes("postgres")) {
  const pgRuns = await postgresRuns();
  results.push(...pgRuns.results);
  postgres = pgRuns.info;
}
// Measured again at the end, so a machine that got faster or slower during the run shows.
const baseAfter = await baseline();
const base = (baseBefore + baseAfter) / 2;
const totalSeconds = (performance.now() - runStarted) / 1000;

// ---------------------------------------------------------------------------------------------
// Report

const ratio = (rate: number) => `${(rate / base).toFixed(3)} ×`;
const rows: string[][] = [
  ["bare smtp-server, read and discard (baseline)", base.toFixed(0), ratio(base), "—", "—"],
  ...results.map((r) => [r.label, r.rate.toFixed(0), ratio(r.rate), r.copiesRate.toFixed(0), ratio(r.copiesRate)]),
];
const header = ["configuration", "msg/s", "msg/s ÷ baseline", "copies/s", "copies/s ÷ baseline"];

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
const textRow = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
const markdownRow = (cells: string[]) => `| ${cells.join(" | ")} |`;

const expected = MESSAGES * COPIES_PER_MESSAGE;
const split = shares([0, 0]);
const loadLine =
  `${MESSAGES} messages over ${CONNECTIONS} connections from ${generator ? "Postfix smtp-source" : "a nodemailer client (scripts/bench-client.mjs)"}, ` +
  `each to a group inbox of 2 members (${COPIES_PER_MESSAGE} copies per message, ${expected} in all)` +
  (engines.includes("postgres") ? `; 2-node row: two generators at once, ${split.map((s) => `${s.messages} messages over ${s.connections} connections`).join(" and ")}` : "");
const baselineLine = `baseline: mean of ${baseBefore.toFixed(0)} msg/s (before the Postern runs) and ${baseAfter.toFixed(0)} msg/s (after)`;
const shortfalls = results.filter((r) => r.copies !== expected || r.timedOut);
const copiesLine = shortfalls.length
  ? `copies handed over: ${shortfalls.map((r) => `${r.label}: ${r.copies} of ${expected}${r.timedOut ? ` (gave up after ${DELIVERY_TIMEOUT_MS / 1000} s)` : ""}`).join("; ")}; every other row ${expected} of ${expected}`
  : `copies handed over: ${expected} of ${expected} in every row`;
const failed = results.reduce((sum, r) => sum + r.failed, 0);
const cpuList = cpus();
const machine = `${cpuList.length} × ${cpuList[0]?.model.trim() ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, Node ${process.version}`;
const postgresDescription = postgres
  ? `${postgres.version}, a throwaway cluster from scripts/postgres-cluster.mjs, running with ${postgres.settings}; pool_size 10 per node`
  : `not run (${engines.includes("postgres") ? "unavailable" : "--engines without postgres"})`;
const command =
  process.env.npm_lifecycle_event === "bench"
    ? `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}`
    : `node --import tsx scripts/bench.ts${args.length ? ` ${args.join(" ")}` : ""}`;
const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");

process.stdout.write(
  [
    loadLine,
    "",
    textRow(header),
    ...rows.map(textRow),
    "",
    baselineLine,
    copiesLine,
    `refused or failed sends: ${failed}`,
    `machine: ${machine}`,
    `PostgreSQL: ${postgresDescription}`,
    `total time: ${totalSeconds.toFixed(0)} s`,
  ].join("\n") + "\n",
);

const section = [
  "<!-- bench:start -->",
  "<!-- Generated by scripts/bench.ts: everything between these markers is overwritten by the next run. -->",
  "",
  `- **Command:** \`${command}\``,
  `- **Date:** ${date} (the run took ${totalSeconds.toFixed(0)} s)`,
  `- **Machine:** ${machine}`,
  `- **PostgreSQL:** ${postgresDescription}`,
  `- **Load:** ${loadLine}`,
  `- **Baseline:** ${baselineLine.replace(/^baseline: /, "")}`,
  "",
  markdownRow(header),
  markdownRow(header.map((_, i) => (i === 0 ? "---" : "---:"))),
  ...rows.map(markdownRow),
  "",
  `${copiesLine.charAt(0).toUpperCase()}${copiesLine.slice(1)}; refused or failed sends: ${failed}.`,
  ...notes.map((n) => `\n${n}.`),
  "<!-- bench:end -->",
].join("\n");

const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";
let doc = existsSync(DOCS) ? readFileSync(DOCS, "utf8") : "# Benchmarks\n\nGenerated by `npm run bench` (scripts/bench.ts).\n\n";
const from = doc.indexOf(START);
const to = doc.indexOf(END);
doc = from >= 0 && to > from ? doc.slice(0, from) + section + doc.slice(to + END.length) : `${doc.trimEnd()}\n\n${section}\n`;
writeFileSync(DOCS, doc);
process.stdout.write(`written to ${DOCS}\n`);
