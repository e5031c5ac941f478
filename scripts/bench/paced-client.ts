/**
 * An SMTP client on raw sockets that offers messages at a fixed rate over kept connections and
 * timestamps each one: the moment its final "." is written and the moment the 250 comes back.
 * Message i is due at start + i / rate and goes over connection i mod `connections`; a
 * connection still busy with an earlier message sends it as soon as it is free (so a server that
 * cannot keep up shows as latency, not as a lower offered rate). Each body starts with
 * `bench-mark-N`, which the sink finds in the copies.
 */
import net from "node:net";
import { now, sleep } from "./tools.js";

export interface PacedSpec {
  readonly port: number;
  readonly from: string;
  readonly to: string;
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** Approximate bytes of each message, headers included. */
  readonly size: number;
  /** First mark number, so runs against one sink do not reuse marks. */
  readonly firstMark?: number;
}

export interface Sent {
  readonly mark: number;
  readonly dueAt: number;
  readonly dotAt: number;
  readonly replyAt: number;
  readonly code: number;
}

export interface PacedResult {
  readonly sent: Sent[];
  readonly offered: number;
}

class Session {
  private buffer = "";
  private waiting: ((reply: { code: number; text: string }) => void) | undefined;
  private lines: string[] = [];

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let eol: number;
      while ((eol = this.buffer.indexOf("\r\n")) >= 0) {
        const line = this.buffer.slice(0, eol);
        this.buffer = this.buffer.slice(eol + 2);
        this.lines.push(line);
        // The last line of a reply has a space (or nothing) after its code.
        if (line[3] !== "-") {
          const reply = { code: Number(line.slice(0, 3)), text: this.lines.join("\n") };
          this.lines = [];
          const waiter = this.waiting;
          this.waiting = undefined;
          waiter?.(reply);
        }
      }
    });
  }

  static open(port: number): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      const session = new Session(socket);
      socket.once("error", reject);
      session.reply().then(() => resolve(session), reject);
    });
  }

  reply(): Promise<{ code: number; text: string }> {
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async command(line: string): Promise<{ code: number; text: string }> {
    const reply = this.reply();
    this.socket.write(`${line}\r\n`);
    return reply;
  }

  /** Writes the message and its final dot; answers when the dot went out and when the reply came. */
  async data(content: string): Promise<{ dotAt: number; replyAt: number; code: number }> {
    const go = await this.command("DATA");
    if (go.code !== 354) return { dotAt: now(), replyAt: now(), code: go.code };
    this.socket.write(content);
    const reply = this.reply();
    this.socket.write(".\r\n");
    const dotAt = now();
    const { code } = await reply;
    return { dotAt, replyAt: now(), code };
  }

  close(): void {
    this.socket.end("QUIT\r\n");
  }
}

function message(spec: PacedSpec, mark: number): string {
  const head =
    `From: Carol Customer <${spec.from}>\r\nTo: <${spec.to}>\r\nSubject: Re: Benchmark\r\n` +
    `Message-ID: <paced-${mark}-${process.pid}-${Date.now()}@customer.test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n`;
  let body = `bench-mark-${mark}\r\n\r\n`;
  const line = "A reply of a few kilobytes, so that parsing, trimming and storing have a realistic size.\r\n";
  while (head.length + body.length + line.length <= spec.size) body += line;
  return head + body;
}

export async function paced(spec: PacedSpec): Promise<PacedResult> {
  const sessions = await Promise.all(Array.from({ length: spec.connections }, () => Session.open(spec.port)));
  await Promise.all(sessions.map((s) => s.command("EHLO bench-client.test")));
  const total = Math.max(1, Math.round(spec.rate * spec.seconds));
  const first = spec.firstMark ?? 0;
  const start = now() + 50;
  const sent: Sent[] = [];
  await Promise.all(
    sessions.map(async (session, k) => {
      for (let i = k; i < total; i += spec.connections) {
        const dueAt = start + (i * 1000) / spec.rate;
        const wait = dueAt - now();
        if (wait > 0) await sleep(wait);
        const mark = first + i;
        const mail = await session.command(`MAIL FROM:<${spec.from}>`);
        const rcpt = mail.code === 250 ? await session.command(`RCPT TO:<${spec.to}>`) : mail;
        if (rcpt.code !== 250) {
          sent.push({ mark, dueAt, dotAt: now(), replyAt: now(), code: rcpt.code });
          await session.command("RSET");
          continue;
        }
        const { dotAt, replyAt, code } = await session.data(message(spec, mark));
        sent.push({ mark, dueAt, dotAt, replyAt, code });
      }
    }),
  );
  for (const session of sessions) session.close();
  return { sent, offered: total };
}
