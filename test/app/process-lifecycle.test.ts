import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { openSqliteStore } from "../../src/db/database.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";

const REPO = new URL("../../", import.meta.url).pathname;

interface RunningGateway {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
}

/** Runs `postern serve` as its own process and waits for its listening log line. */
function serve(configPath: string): Promise<RunningGateway> {
  const child = spawn(process.execPath, ["bin/postern.js", "serve", "--config", configPath], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${buffer}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /"event":"smtp\.listening"[^\n]*"port":(\d+)/.exec(buffer);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), exited });
      }
    });
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}: ${buffer}`)));
  });
}

async function freePort(): Promise<number> {
  const sink = await startSmtpSink();
  const port = sink.port;
  await sink.close();
  return port;
}

// Each test starts one or two `postern serve` processes, which compile the TypeScript sources at
// start, once for the main thread and once for the delivery thread: on a loaded machine that alone
// takes several seconds.
describe("the gateway as a process: crashes, restarts, shutdown, broken clients", { timeout: 60_000 }, () => {
  let dir: string;
  let configPath: string;
  let relayPort: number;
  let sink: SmtpSink | undefined;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "postern-proc-"));
    relayPort = await freePort();
    configPath = join(dir, "postern.toml");
    const toml = [
      "[gateway]", 'domain = "example.test"',
      "[smtp]", 'host = "127.0.0.1"', "port = 0",
      "[database]", `path = "${join(dir, "postern.db")}"`,
      "[outbound]", 'transport = "smtp"', 'host = "127.0.0.1"', `port = ${relayPort}`,
      'poll_interval = "200ms"', 'retry_schedule = ["300ms"]', 'lease = "2s"', 'connection_timeout = "2s"',
      // A spawned gateway uses the system resolver: no sender authentication, so no real DNS.
      "[auth]", 'mode = "off"',
    ].join("\n");
    writeFileSync(configPath, toml);
    const config = buildConfig({ gateway: { domain: "example.test" } });
    // Seeded before any gateway runs, so this connection creates and migrates the database.
    const store = openSqliteStore({ path: join(dir, "postern.db"), migrations: "migrate" });
    try {
      await store.transaction(async (tx) => {
        const ctx = { tx, config, now: Date.now() };
        await addUser(ctx, { email: "alice@team.test", role: "staff" });
        await addGroup(ctx, { name: "support", inbox: "support@example.test" });
        await addGroupMember(ctx, "support", "alice@team.test");
      });
    } finally {
      await store.close();
    }
  });

  afterEach(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await sink?.close();
    sink = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (port: number, subject: string) =>
    nodemailer
      .createTransport({ host: "127.0.0.1", port, ignoreTLS: true })
      .sendMail({ from: "carol@customer.test", to: "support@example.test", subject, text: `Body of ${subject}` });

  it("keeps accepted mail through kill -9 while the relay is down, and delivers it after restart", async () => {
    const first = await serve(configPath);
    children.push(first.child);
    for (const subject of ["one", "two", "three"]) expect((await send(first.port, subject)).response).toMatch(/^250 /);
    await new Promise((resolve) => setTimeout(resolve, 700)); // attempts fail against the dead relay
    first.child.kill("SIGKILL");
    await first.exited;

    sink = await startSmtpSink({ port: relayPort });
    const second = await serve(configPath);
    children.push(second.child);
    const delivered = await sink.waitFor(3, 15_000);
    expect(delivered.map((m) => m.parsed.subject).sort()).toEqual(["one", "three", "two"]);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("drains in-flight deliveries on SIGTERM and exits 0", async () => {
    sink = await startSmtpSink({ port: relayPort });
    sink.delayReplies(800);
    const gateway = await serve(configPath);
    children.push(gateway.child);
    await send(gateway.port, "slow");
    await sink.waitFor(1, 10_000); // the relay has the message and is holding its 250
    gateway.child.kill("SIGTERM");
    expect(await gateway.exited).toBe(0);
    expect(sink.replies).toEqual([250]);
  });

  it("survives a client that resets the connection in the middle of DATA", async () => {
    const gateway = await serve(configPath);
    children.push(gateway.child);
    await new Promise<void>((resolve) => {
      const socket = connect(gateway.port, "127.0.0.1");
      const script = ["EHLO client.test", "MAIL FROM:<carol@customer.test>", "RCPT TO:<support@example.test>", "DATA"];
      socket.on("data", (data) => {
        const text = data.toString();
        if (text.startsWith("354")) {
          socket.write("From: carol@customer.test\r\nSubject: cut\r\n\r\nhalf a messa");
          setTimeout(() => {
            socket.resetAndDestroy();
            resolve();
          }, 100);
        } else if (/^(220|250)[ ]/m.test(text)) {
          const next = script.shift();
          if (next) socket.write(`${next}\r\n`);
        }
      });
      socket.on("error", () => resolve());
    });
    const after = await send(gateway.port, "still alive");
    expect(after.response).toMatch(/^250 /);
    expect(gateway.child.exitCode).toBeNull();
  });
});
