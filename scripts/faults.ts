/**
 * Fault drills: the real gateway (`bin/postern.js serve`, SQLite with synchronous = FULL) under
 * steady inbound load from real SMTP clients, delivering to a real SMTP sink in this process.
 *
 *   crash   SIGKILL the gateway at random moments while mail arrives (each time 3-8 s after the
 *           last, at the first moment within 2 s that copies are being sent), restart it; then
 *           every message answered 250 has its post, every post's deliveries are sent, and the
 *           duplicate copies are at most the deliveries in flight at the kills.
 *   outage  the relay (the sink) goes away for --outage seconds while mail keeps arriving; once it
 *           is back every delivery is made, and the script says how long that took.
 *   disk    the database on a small tmpfs filled to the last byte: inbound answers 451, never 250
 *           for mail it did not store, and nothing accepted is lost once space is freed.
 *
 *   npm run faults [-- --drills crash,outage,disk --kills 5 --outage 60 --clients 3 --rate 15
 *                      --disk-size 16 --keep]
 *
 * Exits 1 when a drill finds lost mail, unsent deliveries or more duplicates than the bound.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { outstanding, inFlight, snapshot } from "./faults/database.js";
import { countFigures, table, violations, type Figures } from "./faults/figures.js";
import { DOMAIN, freePort, Gateway, INBOX } from "./faults/gateway.js";
import { Load, type Attempt } from "./faults/load.js";
import { Sink } from "./faults/sink.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const numberOption = (name: string, fallback: number): number => {
  const value = option(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not "${value}"`);
  return n;
};
const DRILLS = (option("drills") ?? "crash,outage,disk").split(",").map((d) => d.trim());
for (const d of DRILLS) if (!["crash", "outage", "disk"].includes(d)) throw new Error(`--drills takes crash, outage, disk (comma-separated), not "${d}"`);
const KILLS = Math.round(numberOption("kills", 5));
const OUTAGE_S = numberOption("outage", 60);
const CLIENTS = Math.round(numberOption("clients", 3));
const RATE = numberOption("rate", 15);
const DISK_MB = Math.round(numberOption("disk-size", 16));
const KEEP = args.includes("--keep");
/** Short, so a killed gateway's claims come back soon and the drills end in minutes. */
const LEASE = "10s";
const RETRY_SCHEDULE = ["5s", "10s"];
/** How long a drill waits for its last deliveries before it reports them unsent. */
const DRAIN_TIMEOUT_MS = 180_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const say = (line: string) => process.stdout.write(`${line}\n`);
const root = mkdtempSync(join(tmpdir(), "postern-faults-"));
const cleanups: (() => Promise<void> | void)[] = [];
const markerPattern = /fault-drill-[a-z]+-\d+-\d+/;

interface Environment {
  readonly gateway: Gateway;
  readonly sink: Sink;
  readonly port: number;
}

/** A fresh directory, sink and seeded gateway for one drill, both running. */
async function environment(name: string, dataDir?: string): Promise<Environment> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const sink = new Sink(0, markerPattern);
  await sink.start();
  cleanups.push(() => sink.stop());
  const port = await freePort();
  const gateway = new Gateway({ dir, dataDir: dataDir ?? dir, port, sinkPort: sink.port, retrySchedule: RETRY_SCHEDULE, lease: LEASE });
  cleanups.push(() => gateway.stop());
  await gateway.seed();
  await gateway.start();
  return { gateway, sink, port };
}

/** Waits until no delivery is queued or sending; the time it took, or undefined on timeout. */
async function drain(gateway: Gateway, timeoutMs = DRAIN_TIMEOUT_MS): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (outstanding(gateway.databasePath) === 0) return Date.now() - started;
    await sleep(250);
  }
  return undefined;
}

interface DrillResult {
  readonly name: string;
  readonly figures: Figures;
  /** Extra rows for the table: figure name → value. */
  readonly extra: [string, string][];
  readonly problems: string[];
}

// ---------------------------------------------------------------------------------------------

async function crashDrill(): Promise<DrillResult> {
  say(`crash: ${KILLS} SIGKILLs at random moments under ${RATE} msg/s from ${CLIENTS} clients`);
  const { gateway, sink, port } = await environment("crash");
  const load = new Load({ port, clients: CLIENTS, rate: RATE, to: INBOX, prefix: "crash" });
  const inFlightAtKills: number[] = [];
  const downtimes: number[] = [];
  for (let k = 1; k <= KILLS; k++) {
    await sleep(3_000 + Math.random() * 5_000);
    // Then, within 2 s, the first moment copies are being sent, the case that can duplicate one.
    for (const until = Date.now() + 2_000; Date.now() < until && inFlight(gateway.databasePath) === 0; ) await sleep(10 + Math.random() * 20);
    await gateway.kill();
    const killedAt = Date.now();
    inFlightAtKills.push(inFlight(gateway.databasePath));
    await gateway.start();
    downtimes.push(Date.now() - killedAt);
    say(`  kill ${k}: ${inFlightAtKills.at(-1)} deliveries in flight, back after ${seconds(downtimes.at(-1) ?? 0)} s`);
  }
  await sleep(3_000);
  await load.stop();
  const drained = await drain(gateway);
  const figures = countFigures(load.attempts, snapshot(gateway.databasePath), sink.receipts);
  const bound = inFlightAtKills.reduce((a, b) => a + b, 0);
  const problems = violations(figures, bound);
  if (drained === undefined) problems.push(`deliveries still outstanding after ${DRAIN_TIMEOUT_MS / 1000} s`);
  if (gateway.unexpectedExits.length) problems.push(`the gateway exited by itself: ${gateway.unexpectedExits.join("; ")}`);
  return {
    name: "crash",
    figures,
    problems,
    extra: [
      ["kills (SIGKILL)", String(KILLS)],
      ["deliveries in flight at each kill", inFlightAtKills.join(", ")],
      ["duplicate bound (sum in flight)", String(bound)],
      ["restart to first 220, mean s", seconds(downtimes.reduce((a, b) => a + b, 0) / Math.max(1, downtimes.length))],
      ["drain after load stopped, s", drained === undefined ? "timed out" : seconds(drained)],
    ],
  };
}

// ---------------------------------------------------------------------------------------------

async function outageDrill(): Promise<DrillResult> {
  say(`outage: the relay down for ${OUTAGE_S} s under ${RATE} msg/s, retry_schedule ${JSON.stringify(RETRY_SCHEDULE)}`);
  const { gateway, sink, port } = await environment("outage");
  const load = new Load({ port, clients: CLIENTS, rate: RATE, to: INBOX, prefix: "outage" });
  await sleep(5_000);
  await sink.stop();
  say("  relay down");
  await sleep(OUTAGE_S * 1000);
  const waiting = outstanding(gateway.databasePath);
  await sink.start();
  const backAt = Date.now();
  // The load stops as the relay returns: the catch-up measured is the outage's backlog alone.
  await load.stop();
  say(`  relay back with ${waiting} deliveries waiting`);
  const drained = await drain(gateway);
  const receivedAfter = sink.receipts.filter((r) => r.at >= backAt);
  const lastCopy = Math.max(backAt, ...receivedAfter.map((r) => r.at));
  const shot = snapshot(gateway.databasePath);
  const figures = countFigures(load.attempts, shot, sink.receipts);
  const retried = shot.deliveries.filter((d) => d.postId !== null && d.attempts > 1).length;
  const problems = violations(figures, 0);
  if (drained === undefined) problems.push(`deliveries still outstanding ${DRAIN_TIMEOUT_MS / 1000} s after the relay came back`);
  if (gateway.unexpectedExits.length) problems.push(`the gateway exited by itself: ${gateway.unexpectedExits.join("; ")}`);
  return {
    name: "outage",
    figures,
    problems,
    extra: [
      ["relay outage, s", String(OUTAGE_S)],
      ["deliveries waiting when the relay returned", String(waiting)],
      ["deliveries retried (attempts > 1)", String(retried)],
      ["relay back → first copy, s", receivedAfter.length ? seconds(Math.min(...receivedAfter.map((r) => r.at)) - backAt) : "none"],
      ["relay back → last copy, s", seconds(lastCopy - backAt)],
    ],
  };
}

// ---------------------------------------------------------------------------------------------

async function diskDrill(): Promise<DrillResult | string> {
  const dataDir = join(root, "disk", "data");
  mkdirSync(dataDir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${DISK_MB}m`, "tmpfs", dataDir], { stdio: "pipe" });
  } catch (error) {
    return `disk drill skipped: could not mount a ${DISK_MB} MB tmpfs (${String((error as { stderr?: Buffer }).stderr ?? error).trim()}); it needs root (or CAP_SYS_ADMIN)`;
  }
  cleanups.push(() => {
    execFileSync("umount", [dataDir]);
  });
  say(`disk: database on a ${DISK_MB} MB tmpfs, 32 KB messages until it is full`);
  const { gateway, sink, port } = await environment("disk", dataDir);
  // Space set aside now and freed later, as an admin would free space.
  const filler = join(dataDir, "filler");
  writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
  const options = { port, clients: CLIENTS, rate: RATE, to: INBOX, prefix: "disk", bodyBytes: 32 * 1024 };
  const load = new Load(options);
  const started = Date.now();
  let fullAt: number | undefined;
  while (Date.now() - started < 180_000) {
    if (load.attempts.some((a) => a.outcome !== "accepted")) {
      fullAt = Date.now();
      break;
    }
    await sleep(200);
  }
  // Keep sending to the full disk: every answer must stay temporary, and the gateway up.
  await sleep(5_000);
  await load.stop();
  const whileFull = load.attempts.filter((a) => fullAt !== undefined && a.at >= fullAt);
  const acceptedBeforeFull = load.attempts.filter((a) => a.outcome === "accepted" && (fullAt === undefined || a.at < fullAt)).length;
  const replies = tally(load.attempts.filter((a) => a.outcome !== "accepted").map((a) => a.reply.trim()));
  rmSync(filler);
  say("  2 MB freed");
  // The first messages after freeing may still meet a full disk (the delivery worker catches up too): give them a few tries.
  const after: Attempt[] = [];
  for (let round = 0; round < 10 && !after.some((a) => a.outcome === "accepted"); round++) {
    after.push(...(await Load.sendBurst({ ...options, prefix: `diskafter${"abcdefghij"[round]}` }, 3)));
    if (!after.some((a) => a.outcome === "accepted")) await sleep(1_000);
  }
  const drained = await drain(gateway);
  const all = [...load.attempts, ...after];
  const figures = countFigures(all, snapshot(gateway.databasePath), sink.receipts);
  const problems = violations(figures);
  if (fullAt === undefined) problems.push("the disk never filled (every message was accepted for 180 s)");
  if (figures.permanent) problems.push(`${figures.permanent} message(s) answered 5xx while the disk was full`);
  if (!after.some((a) => a.outcome === "accepted")) problems.push("no message was accepted after space was freed");
  if (drained === undefined) problems.push(`deliveries still outstanding ${DRAIN_TIMEOUT_MS / 1000} s after space was freed`);
  if (gateway.unexpectedExits.length) problems.push(`the gateway exited by itself: ${gateway.unexpectedExits.join("; ")}`);
  return {
    name: "disk",
    figures,
    problems,
    extra: [
      ["tmpfs size, MB", String(DISK_MB)],
      ["accepted before the first refusal", String(acceptedBeforeFull)],
      ["answers in 5 s on the full disk", String(whileFull.length)],
      ["refusal replies", Object.entries(replies).map(([r, n]) => `${n} × "${r}"`).join(", ") || "none"],
      ["sent after freeing 2 MB: accepted", `${after.filter((a) => a.outcome === "accepted").length} of ${after.length}`],
      ["gateway exits it was not told to make", String(gateway.unexpectedExits.length)],
    ],
  };
}

function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------------

async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      say(`cleanup: ${String(error)}`);
    }
  }
  cleanups.length = 0;
  if (!KEEP) rmSync(root, { recursive: true, force: true });
}
process.once("SIGINT", () => void cleanUp().then(() => process.exit(130)));

const runStarted = Date.now();
const results: DrillResult[] = [];
const notes: string[] = [];
try {
  for (const drill of DRILLS) {
    const drillCleanups = cleanups.length;
    const result = drill === "crash" ? await crashDrill() : drill === "outage" ? await outageDrill() : await diskDrill();
    // Each drill's gateway and sink stop before the next starts: the machine is shared.
    for (const cleanup of cleanups.splice(drillCleanups).reverse()) await cleanup();
    if (typeof result === "string") {
      notes.push(result);
      say(result);
    } else results.push(result);
  }
} finally {
  await cleanUp();
}

const figureRows = (f: Figures): [string, string][] => [
  ["messages sent", String(f.sent)],
  ["answered 250", String(f.accepted)],
  ["answered 4xx", String(f.temporary)],
  ["answered 5xx", String(f.permanent)],
  ["no answer (gateway down)", String(f.noAnswer)],
  ["250 without a post (lost)", String(f.acceptedWithoutPost.length)],
  ["deliveries of those posts", String(f.deliveries)],
  ["deliveries not sent", String(Object.values(f.notSent).reduce((a, b) => a + b, 0))],
  ["recorded sent, never received", String(f.sentButNotReceived.length)],
  ["copies received by the sink", String(f.copiesReceived)],
  ["duplicate copies", `${f.duplicates} (${f.duplicatedDeliveries} deliveries)`],
];
say("");
say(`Fault drills on ${cpus().length} cores, Node ${process.version}, ${DOMAIN} inbox with 3 members, ${seconds(Date.now() - runStarted)} s in all`);
for (const r of results) {
  say("");
  say(table([`drill: ${r.name}`, "figure"], [...figureRows(r.figures), ...r.extra]));
  say(r.problems.length ? `FAILED: ${r.problems.join("; ")}` : "held: every 250 has its post, every delivery sent" + (r.name === "crash" ? ", duplicates within the bound" : ""));
}
for (const note of notes) say(`\n${note}`);
if (KEEP) say(`\nkept: ${root}`);
process.exitCode = results.some((r) => r.problems.length) ? 1 : 0;
