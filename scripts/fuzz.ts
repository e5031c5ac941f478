/**
 * Bad-input fuzzing over SMTP: malformed and mutated messages, generated from a seeded PRNG, sent
 * with a raw client (node:net, so malformed bytes go out unchanged) over several connections to a
 * gateway started in this process, to support@example.test and to reply+token addresses.
 *
 * Zero-targets: crashes, unanswered messages (timeouts, resets), 4xx answers that stay 4xx after
 * 6 resends of the same bytes (the gateway refuses after limits.max_temporary_failures), and the
 * server must still answer a normal message with 250 afterwards.
 *
 *   npm run fuzz [-- --messages 10000 --seed 1 --connections 8 --keep]
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startGateway, type GatewayOptions } from "../src/app.js";
import { buildConfig } from "../src/config/config.js";
import { openStore } from "../src/db/database.js";
import { addGroup, addGroupMember } from "../src/domain/groups.service.js";
import { addUser } from "../src/domain/users.service.js";
import { silentLogger } from "../src/log.js";

// ---------------------------------------------------------------------------------------------
// PRNG

export type Rng = () => number;
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
/** A Unicode string as its UTF-8 bytes, one char per byte (messages are built as latin1 strings). */
const u8 = (s: string) => Buffer.from(s, "utf8").toString("latin1");
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const randomWord = (rng: Rng, n = int(rng, 3, 10)) => Array.from({ length: n }, () => String.fromCharCode(97 + int(rng, 0, 25))).join("");

// ---------------------------------------------------------------------------------------------
// Generators

export interface FuzzMessage {
  readonly generator: string;
  /** The message as bytes (a latin1 string); dot-stuffed and terminated by the sender unless `raw`. */
  readonly data: string;
  /** Sent exactly as is after DATA (it carries its own terminator): the smuggling cases. */
  readonly raw?: boolean;
}

interface Base {
  from?: string | null | undefined;
  date?: string | null | undefined;
  subject?: string;
  messageId: string;
  to: string;
  extra?: string[];
  contentType?: string | null;
  body?: string;
}

function message(b: Base): string {
  const h: string[] = [];
  if (b.from !== null) h.push(`From: ${b.from ?? "Carol <carol@customer.test>"}`);
  h.push(`To: ${b.to}`);
  h.push(`Subject: ${b.subject ?? "Fuzz"}`);
  if (b.date !== null) h.push(`Date: ${b.date ?? "Mon, 1 Jan 2024 10:00:00 +0000"}`);
  h.push(`Message-ID: ${b.messageId}`);
  h.push("MIME-Version: 1.0");
  if (b.contentType !== null) h.push(`Content-Type: ${b.contentType ?? "text/plain; charset=utf-8"}`);
  h.push(...(b.extra ?? []));
  return `${h.join("\r\n")}\r\n\r\n${b.body ?? "Hello, I need help.\r\n"}`;
}

interface GenContext {
  readonly rng: Rng;
  readonly messageId: string;
  readonly to: string;
}
type Generator = (c: GenContext) => string | { data: string; raw: true };

const multipart = (boundary: string, parts: string[], close = true) =>
  `This is a multi-part message.\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("")}${close ? `--${boundary}--\r\n` : ""}`;

export const GENERATORS: Record<string, Generator> = {
  brokenBoundary({ rng, messageId, to }) {
    const variant = int(rng, 0, 5);
    const parts = ["Content-Type: text/plain\r\n\r\nfirst", "Content-Type: text/html\r\n\r\n<p>second"];
    const ct = [
      `multipart/mixed; boundary="abc`, // unterminated quote
      `multipart/mixed; boundary=`, // empty
      `multipart/mixed; boundary="${"x".repeat(int(rng, 71, 5000))}"`, // too long
      `multipart/alternative; boundary="real"`, // parts use another boundary
      `multipart/mixed; boundary="real"`, // never closed
      `multipart/mixed; boundary="--"`,
    ][variant]!;
    const body =
      variant === 3 ? multipart("other", parts) : variant === 4 ? multipart("real", parts, false) : variant === 5 ? multipart("--", parts) : multipart("abc", parts);
    return message({ messageId, to, contentType: ct, body });
  },
  badEncoding({ rng, messageId, to }) {
    const bodies = [
      ["base64", "SGVsbG8gd29ybGQ=!!!@@@###\r\nnot*base64*at*all\r\nQUJD="],
      ["base64", "SGVsbG8gd29y"], // truncated
      ["base64", "====\r\n===="],
      ["quoted-printable", "bad =ZZ escapes =\r\n=\r\n=0 =G1 trailing="],
      ["quoted-printable", `${"=".repeat(int(rng, 1, 2000))}`],
      ["x-uuencode", "begin 644 x\r\n#86)C\r\n`\r\nend"],
      ["8bit", "\xff\xfe\xfd invalid utf-8 \xc3\x28"],
    ] as const;
    const [enc, body] = pick(rng, bodies);
    return message({ messageId, to, extra: [`Content-Transfer-Encoding: ${enc}`], body: `${body}\r\n` });
  },
  unknownCharset({ rng, messageId, to }) {
    const cs = pick(rng, ["x-klingon", "utf-7", "", "\"", "utf-8'", "iso-2022-jp-9", "../../../etc/passwd", "x".repeat(300)]);
    return message({
      messageId,
      to,
      subject: `=?${cs}?B?${b64("hello")}?= =?x-unknown?Q?caf=E9?=`,
      from: `=?${cs}?Q?Carol?= <carol@customer.test>`,
      contentType: `text/plain; charset="${cs}"`,
      body: "caf\xe9 \x1b$B\x1b(B\r\n",
    });
  },
  nulBytes({ rng, messageId, to }) {
    const v = int(rng, 0, 3);
    if (v === 0) return message({ messageId, to, subject: "a\x00b\x00c", body: "body\x00with\x00nul\r\n" });
    if (v === 1) return message({ messageId, to, extra: ["X-Nul\x00Name: v", "\x00: empty"], body: "x\r\n" });
    if (v === 2) return message({ messageId, to, from: "Carol\x00 <carol@customer.test>", body: "\x00".repeat(int(rng, 1, 5000)) + "\r\n" });
    return message({ messageId: `<nul\x00${messageId.slice(1)}`, to, body: "m\r\n" });
  },
  longLines({ rng, messageId, to }) {
    const n = pick(rng, [998, 999, 1000, 4096, 100_000]);
    const v = int(rng, 0, 2);
    const line = "a".repeat(n);
    if (v === 0) return message({ messageId, to, body: `${line}\r\n` });
    if (v === 1) return message({ messageId, to, subject: line, body: "x\r\n" });
    return message({ messageId, to, extra: [`X-Long: ${line}`, `References: <${line}@x>`], body: `${line}${line}\r\n` });
  },
  manyHeaders({ rng, messageId, to }) {
    const n = int(rng, 0, 1) ? 10_000 : int(rng, 900, 1100);
    return message({ messageId, to, extra: Array.from({ length: n }, (_, i) => `X-H${i}: ${i}`) });
  },
  deepNesting({ rng, messageId, to }) {
    const depth = int(rng, 0, 1) ? 100 : int(rng, 20, 100);
    let body = "Content-Type: text/plain\r\n\r\ninnermost";
    for (let d = depth; d > 0; d--) body = `Content-Type: multipart/mixed; boundary="b${d}"\r\n\r\n${multipart(`b${d}`, [body])}`;
    return message({ messageId, to, contentType: `multipart/mixed; boundary="b0"`, body: multipart("b0", [body]) });
  },
  missingFromDate({ rng, messageId, to }) {
    const v = int(rng, 0, 3);
    return message({
      messageId,
      to,
      from: v === 0 || v === 2 ? null : v === 3 ? "" : undefined,
      date: v === 1 || v === 2 ? null : v === 3 ? "not a date" : undefined,
    });
  },
  twoFrom({ rng, messageId, to }) {
    const second = pick(rng, ["Mallory <mallory@evil.test>", "carol@customer.test", "<>", "a@b.test, c@d.test"]);
    return message({ messageId, to, extra: [`From: ${second}`] });
  },
  headerInjection({ rng, messageId, to }) {
    const evil = "hi\r\nBcc: victim@evil.test\r\nX-Injected: 1";
    const v = int(rng, 0, 4);
    if (v === 0) return message({ messageId, to, subject: `=?utf-8?B?${b64(evil)}?=` });
    if (v === 1) return message({ messageId, to, from: `=?utf-8?Q?Eve=0D=0ABcc:_victim@evil.test?= <eve@customer.test>` });
    if (v === 2) return message({ messageId, to, subject: "bare\rCR\rin subject", from: "Eve\r <eve@customer.test>" });
    if (v === 3) return message({ messageId, to, from: `"Eve\\r\\nBcc: x@evil.test" <eve@customer.test>`, subject: `=?utf-8?Q?a=0Ab=0Dc?=` });
    return message({ messageId, to, subject: "x\nBcc: victim@evil.test", from: "=?utf-8?B?" + b64("Eve\n\nbody") + "?= <eve@customer.test>" });
  },
  hostileFilename({ rng, messageId, to }) {
    const names = [
      `filename="../../etc/passwd"`,
      `filename="${"A".repeat(int(rng, 256, 20_000))}.pdf"`,
      `filename="evil\x00.exe"`,
      `filename="${u8("invoice\u202Efdp.exe")}"`,
      `filename*=utf-8''..%2F..%2Fetc%2Fpasswd%00.txt`,
      `filename="=?utf-8?B?${b64("../../x\r\n.sh")}?="`,
      `filename="CON"; name="/dev/null"`,
      `filename=`,
    ];
    const disposition = pick(rng, names);
    const parts = ["Content-Type: text/plain\r\n\r\nSee attached.", `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; ${disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64("payload")}`];
    return message({ messageId, to, contentType: `multipart/mixed; boundary="hf"`, body: multipart("hf", parts) });
  },
  smuggling({ rng, messageId, to }) {
    const base = message({ messageId, to, body: "before\r\n" });
    const smuggled = `MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<support@example.test>\r\nDATA\r\nFrom: smuggler@evil.test\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n`;
    const trick = pick(rng, ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\n..\n"]);
    return { data: `${base}${trick}${smuggled}\r\n.\r\n`, raw: true };
  },
  emptyContentType({ rng, messageId, to }) {
    const ct = pick(rng, ["", ";", "multipart/mixed", "multipart/mixed; boundary", "/", "text/", "; charset=utf-8", "application/x-\x01"]);
    return message({ messageId, to, contentType: ct });
  },
  manyParts({ rng, messageId, to }) {
    const n = pick(rng, [499, 500, 501, int(rng, 1000, 5000)]);
    const parts = Array.from({ length: n }, (_, i) => `Content-Type: text/plain\r\n\r\npart ${i}`);
    return message({ messageId, to, contentType: `multipart/mixed; boundary="mp"`, body: multipart("mp", parts) });
  },
  hugeReferences({ rng, messageId, to }) {
    // Capped at 1,000: 1,000-20,000 references cost seconds each (reported separately).
    const n = int(rng, 200, 1000);
    const ids = Array.from({ length: n }, (_, i) => `<ref${i}.${randomWord(rng, 4)}@x.test>`);
    return message({ messageId, to, extra: [`References: ${ids.join("\r\n ")}`, `In-Reply-To: ${ids.slice(0, Math.min(n, 2000)).join(" ")}`] });
  },
  byteFlips({ rng, messageId, to }) {
    const parts = ["Content-Type: text/plain; charset=utf-8\r\n\r\nHello, see the attachment.", `Content-Type: application/pdf; name="a.pdf"\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64("%PDF-1.4 fuzz")}`];
    const bytes = Buffer.from(message({ messageId, to, contentType: `multipart/mixed; boundary="bf"`, body: multipart("bf", parts) }), "latin1");
    const flips = int(rng, 1, 40);
    for (let i = 0; i < flips; i++) bytes[int(rng, 0, bytes.length - 1)] = int(rng, 0, 255);
    return bytes.toString("latin1");
  },
};
export const GENERATOR_NAMES = Object.keys(GENERATORS);

/** Message `index` of run `seed`: the same bytes every time. */
export function generate(seed: number, index: number, to: string): FuzzMessage {
  const rng = mulberry32((seed * 0x9e3779b1) ^ (index * 0x85ebca6b));
  const generator = GENERATOR_NAMES[index % GENERATOR_NAMES.length]!;
  const messageId = `<fuzz-${seed}-${index}@customer.test>`;
  const out = GENERATORS[generator]!({ rng, messageId, to });
  return typeof out === "string" ? { generator, data: out } : { generator, data: out.data, raw: true };
}

/** RFC 5321 dot-stuffing (also after a bare LF, so no ordinary case smuggles), ending CRLF . CRLF. */
export function dotStuff(data: string): string {
  let s = data.replace(/(^|\n)\./g, "$1..");
  if (!s.endsWith("\r\n")) s += "\r\n";
  return `${s}.\r\n`;
}

// ---------------------------------------------------------------------------------------------
// Raw SMTP client

class Closed extends Error {}

class RawSmtp {
  private buffer = "";
  private current: string[] = [];
  private readonly replies: string[] = [];
  private readonly waiters: Array<{ resolve: (r: string) => void; reject: (e: Error) => void }> = [];
  closed = false;
  unknownRcpts = 0;

  private constructor(readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let i: number;
      while ((i = this.buffer.indexOf("\r\n")) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        this.current.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          const reply = this.current.join("\n");
          this.current = [];
          const w = this.waiters.shift();
          if (w) w.resolve(reply);
          else this.replies.push(reply);
        }
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.reject(new Closed("connection closed"));
    });
  }

  static open(port: number, localAddress?: string, ms = 10_000): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("connect timeout"));
      }, ms);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new RawSmtp(socket));
      });
    });
  }

  pending(): number {
    return this.replies.length;
  }

  reply(ms: number): Promise<string> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(new Closed("connection closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no reply within ${ms} ms`));
      }, ms);
      const w = {
        resolve: (r: string) => (clearTimeout(timer), resolve(r)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.push(w);
    });
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  async command(line: string, ms: number): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply(ms);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const code = (reply: string) => Number(reply.slice(0, 3));

// ---------------------------------------------------------------------------------------------
// Runner

export interface FuzzOptions {
  readonly messages: number;
  readonly seed: number;
  readonly connections: number;
  /** Seconds to wait for any one reply before counting the message unanswered. */
  readonly replyTimeout?: number;
  /** Keep the temporary directory (database, samples of 4xx/unanswered inputs) and return its path. */
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface Sample {
  readonly index: number;
  readonly generator: string;
  readonly recipients: readonly string[];
  readonly answer: string;
}

export interface FuzzResult {
  sent: number;
  answered2xx: number;
  answered4xx: number;
  answered5xx: number;
  unanswered: number;
  /** Messages answered 4xx on the first attempt that were still 4xx after 6 resends. */
  stuck4xx: number;
  /** Uncaught exceptions or unhandled rejections in this process during the run. */
  crashes: string[];
  /** Replies that arrived after the one a smuggling message got: the server split the DATA. */
  smuggled: number;
  answersAfter: boolean;
  durationMs: number;
  byGenerator: Record<string, { sent: number; c2xx: number; c4xx: number; c5xx: number; unanswered: number; ms: number }>;
  samples: Sample[];
  dir?: string;
}

const RETRIES = 6;
const RCPTS_PER_SOURCE = 20; // below limits.unknown_recipients_per_minute (30)

interface Outcome {
  answer: string | undefined; // undefined: unanswered
  smuggled: number;
}

class Pool {
  private next = 0;
  constructor(
    private readonly port: number,
    private readonly replyMs: number,
  ) {}

  /** A fresh loopback source address per connection, so the per-IP RCPT throttle never trips. */
  private source(): string {
    const n = ++this.next;
    return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${(n & 255) || 1}`.replace(/^127\.0\.0\.1$/, "127.0.0.2");
  }

  async open(): Promise<RawSmtp> {
    let conn: RawSmtp;
    try {
      conn = await RawSmtp.open(this.port, this.source());
    } catch {
      conn = await RawSmtp.open(this.port);
    }
    const banner = await conn.reply(this.replyMs);
    if (code(banner) !== 220) throw new Error(`banner: ${banner}`);
    const ehlo = await conn.command("EHLO fuzz.customer.test", this.replyMs);
    if (code(ehlo) !== 250) throw new Error(`EHLO: ${ehlo}`);
    return conn;
  }

  /** One transaction on `conn`; the answer is the first refusal, or the reply to the data. */
  async send(conn: RawSmtp, msg: FuzzMessage, recipients: readonly string[]): Promise<Outcome> {
    const ms = this.replyMs;
    const mail = await conn.command("MAIL FROM:<carol@customer.test>", ms);
    if (code(mail) !== 250) return { answer: mail, smuggled: 0 };
    let accepted = 0;
    let refused: string | undefined;
    for (const r of recipients) {
      const reply = await conn.command(`RCPT TO:<${r}>`, ms);
      if (code(reply) === 250) accepted++;
      else {
        refused ??= reply;
        if (code(reply) >= 500) conn.unknownRcpts++;
      }
    }
    if (!accepted) {
      await conn.command("RSET", ms);
      return { answer: refused, smuggled: 0 };
    }
    const data = await conn.command("DATA", ms);
    if (code(data) !== 354) return { answer: data, smuggled: 0 };
    conn.write(Buffer.from(msg.raw ? msg.data : dotStuff(msg.data), "latin1"));
    const answer = await conn.reply(Math.max(ms, 60_000));
    let smuggled = 0;
    if (msg.raw) {
      // Anything after the one reply means the server ended the data early and ran the rest as commands.
      await new Promise((r) => setTimeout(r, 50));
      smuggled = conn.pending();
    }
    return { answer, smuggled };
  }
}

function recipientsFor(seed: number, index: number, tokens: readonly string[]): string[] {
  const rng = mulberry32((seed ^ 0x5bd1e995) + index * 7919);
  const r = rng();
  if (r < 0.5) return ["support@example.test"];
  if (r < 0.75 && tokens.length) return [pick(rng, tokens)];
  // A random (unknown) token is refused at RCPT; support@ is still there, so the data is sent.
  return [`reply+${randomWord(rng, 24)}@example.test`, "support@example.test"];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "postern-fuzz-"));
  const samplesDir = join(dir, "samples");
  mkdirSync(samplesDir);
  const crashes: string[] = [];
  const onCrash = (error: unknown) => crashes.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);

  const config = buildConfig(
    {
      gateway: { domain: "example.test" },
      smtp: { port: 0 },
      database: { path: join(dir, "fuzz.db"), synchronous: "NORMAL" },
      outbound: { transport: "file", dir: join(dir, "out") },
    },
    "fuzz",
  );
  const seedStore = await openStore(config.database, "migrate");
  await seedStore.transaction(async (tx) => {
    const ctx = { tx, config, now: Date.now() };
    await addUser(ctx, { email: "agent1@team.test", role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroupMember(ctx, "support", "agent1@team.test");
  });
  await seedStore.close();

  // Real reply tokens, read from the copies the gateway renders for the member.
  const tokens = new Set<string>();
  const transport = {
    send: async (m: { raw: Buffer }) => {
      for (const match of m.raw.toString("latin1").matchAll(/reply\+[A-Za-z0-9_-]+@example\.test/g)) tokens.add(match[0]);
      return { response: "250" };
    },
    close: async () => undefined,
  };
  const notFound = (name: string) => Promise.reject(Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: "ENOTFOUND", hostname: name }));
  // `resolver` is passed for when GatewayOptions has it (src/inbound/authenticate.ts): no real DNS.
  const gatewayOptions = { logger: silentLogger(), transport, resolver: notFound } as GatewayOptions;
  const gateway = await startGateway(config, gatewayOptions);
  const replyMs = (options.replyTimeout ?? 45) * 1000;
  const pool = new Pool(gateway.port, replyMs);

  const result: FuzzResult = {
    sent: 0,
    answered2xx: 0,
    answered4xx: 0,
    answered5xx: 0,
    unanswered: 0,
    stuck4xx: 0,
    crashes,
    smuggled: 0,
    answersAfter: false,
    durationMs: 0,
    byGenerator: {},
    samples: [],
  };
  try {
    // A few valid messages first, so there are real reply+tokens to fuzz the reply route with.
    {
      const conn = await pool.open();
      for (let i = 0; i < 3; i++) {
        const data = message({ messageId: `<warmup-${options.seed}-${i}@customer.test>`, to: "support@example.test", body: `warm-up ${i}\r\n` });
        await pool.send(conn, { generator: "warmup", data }, ["support@example.test"]);
        await conn.command("RSET", replyMs);
      }
      conn.destroy();
      for (let t = 0; t < 50 && !tokens.size; t++) await new Promise((r) => setTimeout(r, 100));
    }
    const tokenList = [...tokens].sort();
    log(`gateway on port ${gateway.port}; ${tokenList.length} reply token(s) harvested; sending ${options.messages} messages over ${options.connections} connections`);

    const recipients = (i: number) => recipientsFor(options.seed, i, tokenList);
    const first = new Map<number, string | undefined>();
    /** Sends the given indexes over `connections` workers; calls `done` with each outcome. */
    const sendAll = async (indexes: number[], done: (i: number, msg: FuzzMessage, o: Outcome, ms: number) => void) => {
      let cursor = 0;
      const worker = async () => {
        let conn: RawSmtp | undefined;
        while (cursor < indexes.length) {
          const i = indexes[cursor++]!;
          const rcpts = recipients(i);
          const msg = generate(options.seed, i, rcpts[0]!);
          let outcome: Outcome;
          const t0 = performance.now();
          try {
            if (!conn || conn.closed || conn.unknownRcpts >= RCPTS_PER_SOURCE) {
              conn?.destroy();
              conn = await pool.open();
            }
            outcome = await pool.send(conn, msg, rcpts);
          } catch (error) {
            outcome = { answer: undefined, smuggled: 0 };
            if (!(error instanceof Closed)) log(`message ${i} (${msg.generator}): ${(error as Error).message}`);
            conn?.destroy();
            conn = undefined;
          }
          done(i, msg, outcome, performance.now() - t0);
          // A smuggling case, or a reply the server might still send, leaves the session unsure: start afresh.
          if (conn && (msg.raw || outcome.answer === undefined || code(outcome.answer) === 421)) {
            conn.destroy();
            conn = undefined;
          } else if (conn) {
            try {
              const rset = await conn.command("RSET", replyMs);
              if (code(rset) !== 250) throw new Error(rset);
            } catch {
              conn.destroy();
              conn = undefined;
            }
          }
        }
        conn?.command("QUIT", 1000).catch(() => undefined);
        conn?.socket.end();
      };
      await Promise.all(Array.from({ length: options.connections }, worker));
    };

    const save = (i: number, msg: FuzzMessage, answer: string) => {
      if (result.samples.length < 200) {
        result.samples.push({ index: i, generator: msg.generator, recipients: recipients(i), answer });
        writeFileSync(join(samplesDir, `${i}-${msg.generator}.eml`), Buffer.from(msg.data, "latin1"));
      }
    };

    let progress = 0;
    await sendAll(
      Array.from({ length: options.messages }, (_, i) => i),
      (i, msg, o, ms) => {
        result.sent++;
        const g = (result.byGenerator[msg.generator] ??= { sent: 0, c2xx: 0, c4xx: 0, c5xx: 0, unanswered: 0, ms: 0 });
        g.sent++;
        g.ms += ms;
        result.smuggled += o.smuggled;
        if (o.smuggled) save(i, msg, `smuggled ${o.smuggled} extra repl(ies) after: ${o.answer}`);
        first.set(i, o.answer);
        if (o.answer === undefined) {
          result.unanswered++;
          g.unanswered++;
          save(i, msg, "(unanswered)");
        } else if (o.answer.startsWith("2")) {
          result.answered2xx++;
          g.c2xx++;
        } else if (o.answer.startsWith("4")) {
          result.answered4xx++;
          g.c4xx++;
          save(i, msg, o.answer);
        } else {
          result.answered5xx++;
          g.c5xx++;
        }
        if (++progress % 1000 === 0) log(`${progress} sent`);
      },
    );

    // Resend every 4xx-answered message, the same bytes, up to RETRIES times.
    let pendingRetry = [...first].filter(([, a]) => a?.startsWith("4")).map(([i]) => i);
    for (let attempt = 1; attempt <= RETRIES && pendingRetry.length; attempt++) {
      const still: number[] = [];
      await sendAll(pendingRetry, (i, _msg, o) => {
        if (o.answer === undefined || o.answer.startsWith("4")) still.push(i);
      });
      log(`resend ${attempt}: ${pendingRetry.length} sent, ${still.length} still 4xx or unanswered`);
      pendingRetry = still;
    }
    result.stuck4xx = pendingRetry.length;

    // Does it still answer a normal message?
    try {
      const conn = await pool.open();
      const data = message({ messageId: `<after-${options.seed}-${Date.now()}@customer.test>`, to: "support@example.test", body: "Still there?\r\n" });
      const o = await pool.send(conn, { generator: "after", data }, ["support@example.test"]);
      result.answersAfter = o.answer !== undefined && code(o.answer) === 250;
      await conn.command("QUIT", replyMs).catch(() => undefined);
      conn.destroy();
    } catch {
      result.answersAfter = false;
    }
  } finally {
    await gateway.stop();
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    if (options.keep) result.dir = dir;
    else rmSync(dir, { recursive: true, force: true });
  }
  result.durationMs = performance.now() - started;
  return result;
}

export function formatResult(r: FuzzResult): string {
  const rows: Array<[string, string]> = [
    ["total sent", String(r.sent)],
    ["answered 2xx", String(r.answered2xx)],
    ["answered 4xx", String(r.answered4xx)],
    ["answered 5xx", String(r.answered5xx)],
    ["unanswered (timeouts, resets)", String(r.unanswered)],
    [`4xx still 4xx after ${RETRIES} resends`, String(r.stuck4xx)],
    ["smuggled commands answered", String(r.smuggled)],
    ["process crashed", r.crashes.length ? `yes (${r.crashes.length})` : "no"],
    ["server answers after", r.answersAfter ? "yes" : "no"],
    ["duration", `${(r.durationMs / 1000).toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = ["| measure" + " ".repeat(w - 7) + " | value |", `|${"-".repeat(w + 2)}|-------|`, ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v} |`)];
  lines.push("", "| generator | sent | 2xx | 4xx | 5xx | unanswered | mean ms |", "|---|---|---|---|---|---|---|");
  for (const [g, s] of Object.entries(r.byGenerator)) lines.push(`| ${g} | ${s.sent} | ${s.c2xx} | ${s.c4xx} | ${s.c5xx} | ${s.unanswered} | ${Math.round(s.ms / Math.max(1, s.sent))} |`);
  return lines.join("\n");
}

export const failed = (r: FuzzResult) => r.crashes.length > 0 || r.unanswered > 0 || r.stuck4xx > 0 || r.smuggled > 0 || !r.answersAfter;

// ---------------------------------------------------------------------------------------------
// CLI

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string, fallback: number) => {
    const v = option(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, not "${v}"`);
    return n;
  };
  const result = await runFuzz({
    messages: num("messages", 10_000),
    seed: num("seed", 1),
    connections: Math.max(1, num("connections", 8)),
    keep: args.includes("--keep"),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatResult(result)}\n`);
  for (const c of result.crashes) process.stdout.write(`\ncrash: ${c}\n`);
  if (result.samples.length) {
    process.stdout.write(`\nfirst-attempt 4xx / unanswered / smuggling samples (index generator recipients answer):\n`);
    for (const s of result.samples.slice(0, 40)) process.stdout.write(`  ${s.index} ${s.generator} ${s.recipients.join(",")} ${s.answer.split("\n")[0]}\n`);
  }
  if (result.dir) process.stdout.write(`\nkept: ${result.dir}\n`);
  process.exit(failed(result) ? 1 : 0);
}
