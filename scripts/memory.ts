/**
 * Memory under large inbound mail: the real gateway (`bin/postern.js serve`) in a child process on
 * a generated configuration (SQLite, the file transport, a group inbox of two members), its
 * resident set read from /proc/PID/status, while this script sends:
 *
 *   a) 20 concurrent 10 MB messages, each with two PDF attachments of random bytes (base64);
 *   b) one 25 MB text/plain message;
 *   c) 32 concurrent 10 MB messages while a small message is sent every 250 ms.
 *
 * Each scenario runs on a fresh gateway process, so its peak (VmHWM) is its own. Baseline is VmRSS
 * after one small warm-up message; peak is VmHWM once every message has its answer and every copy
 * has been written (the delivery worker renders the copies, attachments included, meanwhile);
 * "until 250s" is the highest VmRSS sampled until the last message had its answer. Latency is from connecting to the 250 after DATA, for the small messages of (c).
 *
 *   npm run memory [-- --scenarios a,b,c --delivery-thread on|off --malloc-arenas N|default --keep --json]
 *
 * `--delivery-thread off` sets `outbound.delivery_thread = false` (copies are sent on the main
 * thread), to compare with the default.
 *
 * The gateway starts with `MALLOC_ARENA_MAX=2`, as `npm start` and the service recipe in the
 * README start it (glibc then keeps two malloc pools instead of one per thread); `--malloc-arenas
 * N` sets another count, `--malloc-arenas default` leaves glibc's own (8 per core), and an
 * inherited MALLOC_ARENA_MAX is used as it is.
 *
 * The gateway runs as bin/postern.js runs it: the compiled dist/ when `npm run build` is newer
 * than the sources, else the sources through tsx (POSTERN_RUN_SOURCES=1 forces them); the
 * "runtime" column says which.
 *
 * `--json` prints one JSON line (MB and ms) for `npm run bench`; the progress lines go to stderr.
 *
 * Linux only (/proc). The machine's load average is printed beside the figures.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { distIsCurrent } from "./build.mjs";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const BIN = fileURLToPath(new URL("../bin/postern.js", import.meta.url));
let runtime = "tsx";
const DOMAIN = "memory.test";
const INBOX = `support@${DOMAIN}`;
const MEMBERS = ["agent1@team.test", "agent2@team.test"];
const MB = 1024 * 1024;

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const scenarios = (option("scenarios") ?? "a,b,c").split(",").map((s) => s.trim());
const deliveryThread = option("delivery-thread") ?? "on";
const mallocArenas = option("malloc-arenas") ?? process.env.MALLOC_ARENA_MAX ?? "2";
if (mallocArenas !== "default" && !/^[1-9]\d*$/.test(mallocArenas)) throw new Error(`--malloc-arenas: a count or default, not ${mallocArenas}`);
if (deliveryThread !== "on" && deliveryThread !== "off") throw new Error(`--delivery-thread: on or off, not ${deliveryThread}`);
const keep = args.includes("--keep");
const json = args.includes("--json");
/** Progress and notes: stdout for people, stderr when stdout carries the JSON line. */
const say = (line: string) => (json ? console.error(line) : console.log(line));

// ---------------------------------------------------------------------------------------------
// Messages

let sequence = 0;
const messageId = () => `<memory.${process.pid}.${Date.now()}.${++sequence}@client.test>`;

function headerBlock(subject: string, contentType: string): string {
  return [
    `From: Carol Customer <carol${sequence}@customer.test>`,
    `To: ${INBOX}`,
    `Subject: ${subject}`,
    `Message-ID: ${messageId()}`,
    `Date: ${new Date().toUTCString()}`,
    "MIME-Version: 1.0",
    `Content-Type: ${contentType}`,
    "",
    "",
  ].join("\r\n");
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
}

/** The body of a message of about `size` bytes: a short text and two PDFs of random bytes. */
function attachmentBody(size: number): Buffer {
  const boundary = "memory-boundary-7f3a";
  const pdfBytes = Math.floor((size * 0.74) / 2);
  const pdf = (n: number) => Buffer.concat([Buffer.from("%PDF-1.4\n"), randomBytes(pdfBytes)]);
  const parts = [1, 2].map((n) =>
    [
      `--${boundary}`,
      `Content-Type: application/pdf; name="scan-${n}.pdf"`,
      `Content-Disposition: attachment; filename="scan-${n}.pdf"`,
      "Content-Transfer-Encoding: base64",
      "",
      base64Lines(pdf(n)),
    ].join("\r\n"),
  );
  const text = [`--${boundary}`, "Content-Type: text/plain; charset=utf-8", "", "Hello, the two scans are attached.", "", "Carol"].join("\r\n");
  return Buffer.from([text, ...parts, `--${boundary}--`, ""].join("\r\n"));
}

function textBody(size: number): Buffer {
  const words = ["order", "parcel", "invoice", "delivery", "tomorrow", "warehouse", "address", "number", "please", "thanks"];
  const lines: string[] = [];
  let bytes = 0;
  let i = 0;
  while (bytes < size) {
    let line = `Line ${i}:`;
    while (line.length < 70) line += ` ${words[(i * 7 + line.length) % words.length]}`;
    lines.push(line);
    bytes += line.length + 2;
    i++;
  }
  return Buffer.from(lines.join("\r\n") + "\r\n");
}

const ATTACHMENT_BODY = 10 * MB;
const bigBody = () => (cachedBig ??= attachmentBody(ATTACHMENT_BODY));
let cachedBig: Buffer | undefined;

function bigMessage(): Buffer[] {
  return [Buffer.from(headerBlock("Scans of the order", 'multipart/mixed; boundary="memory-boundary-7f3a"')), bigBody()];
}
function textMessage(size: number): Buffer[] {
  return [Buffer.from(headerBlock("A very long letter", "text/plain; charset=utf-8")), textBody(size)];
}
function smallMessage(): Buffer[] {
  return [Buffer.from(headerBlock("Quick question", "text/plain; charset=utf-8")), Buffer.from("Is my order on its way?\r\n\r\nCarol\r\n")];
}

// ---------------------------------------------------------------------------------------------
// SMTP client: one message per connection; resolves with the final reply and the time it took.

interface Sent {
  readonly reply: string;
  readonly ms: number;
}

function sendMessage(port: number, message: Buffer[]): Promise<Sent> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const steps = [
      { expect: "220", send: () => "EHLO client.test\r\n" },
      { expect: "250", send: () => "MAIL FROM:<carol@customer.test>\r\n" },
      { expect: "250", send: () => `RCPT TO:<${INBOX}>\r\n` },
      { expect: "250", send: () => "DATA\r\n" },
      { expect: "354", send: undefined },
    ];
    let buffered = "";
    let step = 0;
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(600_000, () => fail(new Error("SMTP client timed out")));
    socket.on("error", fail);
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      for (;;) {
        // A complete reply: its last line has a space after the code.
        const match = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffered);
        if (!match) return;
        const end = match.index + match[0].length;
        const reply = buffered.slice(0, end);
        buffered = buffered.slice(end);
        const code = match[2]!;
        if (step >= steps.length) {
          socket.end("QUIT\r\n");
          resolve({ reply: reply.trim().split("\r\n").pop()!, ms: performance.now() - started });
          return;
        }
        const expected = steps[step]!;
        if (code !== expected.expect) {
          socket.destroy();
          resolve({ reply: reply.trim(), ms: performance.now() - started });
          return;
        }
        step++;
        if (expected.send) socket.write(expected.send());
        else {
          // The generated bodies never start a line with a dot: no dot-stuffing needed.
          for (const part of message) socket.write(part);
          socket.write(".\r\n");
        }
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The gateway

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

interface Gateway {
  readonly child: ChildProcess;
  readonly port: number;
  readonly outbox: string;
  stop(): Promise<void>;
}

async function startGateway(dir: string): Promise<Gateway> {
  const port = await freePort();
  const outbox = join(dir, "outbox");
  const configPath = join(dir, "postern.toml");
  writeFileSync(
    configPath,
    [
      "[gateway]",
      `domain = "${DOMAIN}"`,
      "[smtp]",
      'host = "127.0.0.1"',
      `port = ${port}`,
      // 32 concurrent sessions from one address, plus the small ones.
      "max_connections_per_ip = 100",
      "[database]",
      'engine = "sqlite"',
      `path = ${JSON.stringify(join(dir, "postern.db"))}`,
      "[outbound]",
      'transport = "file"',
      `dir = ${JSON.stringify(outbox)}`,
      'poll_interval = "200ms"',
      "max_per_user_per_day = 0",
      `delivery_thread = ${deliveryThread === "on"}`,
      "[log]",
      'level = "warn"',
      "",
    ].join("\n"),
  );
  const cli = (...words: string[]) => run(process.execPath, [BIN, ...words, "--config", configPath]);
  await cli("db", "migrate");
  for (const email of MEMBERS) await cli("users", "add", email, "--role", "staff");
  await cli("groups", "add", "support", "--inbox", INBOX);
  for (const email of MEMBERS) await cli("groups", "members", "add", "support", email);

  // What bin/postern.js is about to run: the build in dist/, or the sources through tsx.
  runtime = process.env.POSTERN_RUN_SOURCES !== "1" && distIsCurrent() ? "dist" : "tsx";
  const env = { ...process.env };
  if (mallocArenas === "default") delete env.MALLOC_ARENA_MAX;
  else env.MALLOC_ARENA_MAX = mallocArenas;
  const child = spawn(process.execPath, [BIN, "serve", "--config", configPath], { stdio: ["ignore", "ignore", "pipe"], env });
  live.add(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => live.delete(child));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!live.has(child)) throw new Error(`the gateway exited before it listened:\n${stderr}`);
    if (Date.now() > deadline) throw new Error("the gateway did not listen within 60 s");
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("error", () => resolve(false));
      socket.once("data", (chunk: Buffer) => {
        socket.end("QUIT\r\n");
        resolve(chunk.toString("latin1").startsWith("220"));
      });
    });
    if (ok) break;
    await sleep(100);
  }
  return {
    child,
    port,
    outbox,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      if (stderr.includes('"level":50') || stderr.includes('"level":60')) process.stderr.write(`gateway errors:\n${stderr}\n`);
    },
  };
}

/** VmRSS and VmHWM of a process, in MB. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

function countFiles(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}

async function waitForCopies(outbox: string, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (countFiles(outbox) < expected && Date.now() < deadline) await sleep(200);
  return countFiles(outbox);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Figures {
  readonly name: string;
  readonly baseline: number;
  /** Highest VmRSS sampled (every 20 ms) until the last message had its answer. */
  readonly receivingPeak: number;
  readonly peak: number;
  readonly maxSmallMs: number | undefined;
  readonly smallCount: number;
  readonly bigReplies: string;
  readonly maxBigMs: number;
  readonly load: string;
  /** dist (compiled JavaScript) or tsx (the TypeScript sources). */
  readonly runtime: string;
  readonly copies: string;
}

function tally(replies: string[]): string {
  const counts = new Map<string, number>();
  for (const reply of replies) {
    const key = reply.slice(0, 3);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([code, n]) => `${n}×${code}`).join(" ");
}

async function scenario(
  name: string,
  big: () => Buffer[],
  concurrent: number,
  withSmall: boolean,
): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "postern-memory-"));
  mkdirSync(join(dir, "outbox"));
  const gateway = await startGateway(dir);
  const pid = gateway.child.pid!;
  try {
    const warm = await sendMessage(gateway.port, smallMessage());
    if (!warm.reply.startsWith("250")) throw new Error(`the warm-up message was refused: ${warm.reply}`);
    await waitForCopies(gateway.outbox, MEMBERS.length, 30_000);
    await sleep(1000);
    const baseline = memoryOf(pid).rss;
    const load = loadavg()[0]!.toFixed(1);
    let receivingPeak = baseline;
    const sampler = setInterval(() => {
      receivingPeak = Math.max(receivingPeak, memoryOf(pid).rss);
    }, 20);
    const messages = Array.from({ length: concurrent }, big);
    const small: Sent[] = [];
    let done = false;
    const smallLoop = (async () => {
      const inFlight: Promise<void>[] = [];
      while (withSmall && !done) {
        inFlight.push(sendMessage(gateway.port, smallMessage()).then((sent) => void small.push(sent)));
        await sleep(250);
      }
      await Promise.all(inFlight);
    })();
    const bigSent = await Promise.all(messages.map((m) => sendMessage(gateway.port, m)));
    done = true;
    await smallLoop;
    clearInterval(sampler);
    const accepted = bigSent.filter((s) => s.reply.startsWith("250")).length + small.filter((s) => s.reply.startsWith("250")).length;
    const expected = (1 + accepted) * MEMBERS.length;
    const copies = await waitForCopies(gateway.outbox, expected, 300_000);
    const peak = memoryOf(pid).hwm;
    const smallFailures = small.filter((s) => !s.reply.startsWith("250"));
    if (smallFailures.length) say(`  ${name}: ${smallFailures.length} small messages not accepted: ${smallFailures[0]!.reply}`);
    const bigFailures = bigSent.filter((s) => !s.reply.startsWith("250"));
    if (bigFailures.length) say(`  ${name}: ${bigFailures.length} large messages not accepted: ${bigFailures[0]!.reply}`);
    return {
      name,
      baseline,
      receivingPeak,
      peak,
      maxSmallMs: small.length ? Math.max(...small.map((s) => s.ms)) : undefined,
      smallCount: small.length,
      bigReplies: tally(bigSent.map((s) => s.reply)),
      maxBigMs: Math.max(...bigSent.map((s) => s.ms)),
      load: `${load} → ${loadavg()[0]!.toFixed(1)}`,
      runtime,
      copies: `${copies}/${expected}`,
    };
  } finally {
    await gateway.stop();
    if (keep) say(`  kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const results: Figures[] = [];
const started = Date.now();
say(`node ${process.version}, ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, delivery thread ${deliveryThread}, malloc arenas ${mallocArenas}`);
if (scenarios.includes("a")) results.push(await scenario("a) 20 × 10 MB with attachments", bigMessage, 20, false));
if (scenarios.includes("b")) results.push(await scenario("b) 1 × 25 MB text/plain", () => textMessage(25 * 1000 * 1000 - 1024), 1, false));
if (scenarios.includes("c")) results.push(await scenario("c) 32 × 10 MB + small every 250 ms", bigMessage, 32, true));

if (json) {
  const round = (n: number) => Math.round(n * 10) / 10;
  console.log(
    JSON.stringify({
      node: process.version,
      deliveryThread,
      mallocArenas,
      seconds: Math.round((Date.now() - started) / 1000),
      scenarios: results.map((r) => ({
        name: r.name,
        baselineMb: round(r.baseline),
        peakUntilRepliesMb: round(r.receivingPeak),
        peakWithCopiesMb: round(r.peak),
        largeReplies: r.bigReplies,
        slowestLargeMs: Math.round(r.maxBigMs),
        smallMessages: r.smallCount,
        slowestSmallMs: r.maxSmallMs === undefined ? null : Math.round(r.maxSmallMs),
        copies: r.copies,
        load: r.load,
        runtime: r.runtime,
      })),
    }),
  );
} else {
  const mb = (n: number) => `${Math.round(n)} MB`;
  const rows = [
    ["scenario", "baseline RSS", "peak RSS until 250s", "peak RSS with copies", "added", "large replies", "slowest large", "small msgs", "max small latency", "copies", "load 1m", "runtime"],
    ...results.map((r) => [
      r.name,
      mb(r.baseline),
      mb(r.receivingPeak),
      mb(r.peak),
      mb(r.peak - r.baseline),
      r.bigReplies,
      `${(r.maxBigMs / 1000).toFixed(1)} s`,
      String(r.smallCount),
      r.maxSmallMs === undefined ? "-" : `${(r.maxSmallMs / 1000).toFixed(2)} s`,
      r.copies,
      r.load,
      r.runtime,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log("");
  for (const row of rows) console.log(`| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`);
  console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s in all`);
}
