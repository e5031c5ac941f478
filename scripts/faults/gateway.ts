import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, writeFileSync, type WriteStream } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const BIN = fileURLToPath(new URL("../../bin/postern.js", import.meta.url));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Gateways still running: killed if the drill script itself dies, so none is left behind. */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export const DOMAIN = "faults.test";
export const INBOX = `support@${DOMAIN}`;
export const MEMBERS = ["agent1@team.test", "agent2@team.test", "agent3@team.test"] as const;

export interface GatewaySettings {
  /** Where the config file and the log go. */
  readonly dir: string;
  /** Where the database goes (a tmpfs in the disk-full drill). */
  readonly dataDir: string;
  readonly port: number;
  readonly sinkPort: number;
  readonly retrySchedule: readonly string[];
  readonly lease: string;
}

/** A free TCP port on 127.0.0.1, so the gateway comes back on the same port after every kill. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The real gateway, `bin/postern.js serve`, as a child process on a generated configuration:
 * SQLite with synchronous = FULL, outbound SMTP to the drill's sink, a short retry schedule and
 * lease so the drills end in minutes, no daily cap and no DNS lookups.
 */
export class Gateway {
  readonly configPath: string;
  readonly databasePath: string;
  private child: ChildProcess | undefined;
  private readonly log: WriteStream;
  /** Exits the drill did not cause (a crash), with their exit code or signal. */
  readonly unexpectedExits: string[] = [];

  constructor(readonly settings: GatewaySettings) {
    this.configPath = join(settings.dir, "postern.toml");
    this.databasePath = join(settings.dataDir, "postern.db");
    this.log = createWriteStream(join(settings.dir, "gateway.log"), { flags: "a" });
    writeFileSync(
      this.configPath,
      [
        "[gateway]",
        `domain = "${DOMAIN}"`,
        "[smtp]",
        'host = "127.0.0.1"',
        `port = ${settings.port}`,
        'processing_timeout = "30s"',
        "[database]",
        'engine = "sqlite"',
        `path = ${JSON.stringify(this.databasePath)}`,
        'synchronous = "FULL"',
        "[outbound]",
        'transport = "smtp"',
        'host = "127.0.0.1"',
        `port = ${settings.sinkPort}`,
        'starttls = "off"',
        `retry_schedule = [${settings.retrySchedule.map((s) => JSON.stringify(s)).join(", ")}]`,
        `lease = "${settings.lease}"`,
        'connection_timeout = "5s"',
        'poll_interval = "200ms"',
        "max_per_user_per_day = 0",
        "[auth]",
        'mode = "off"',
        "[log]",
        'level = "warn"',
        "",
      ].join("\n"),
    );
  }

  /** `postern ARGS --config FILE`, for setup and read-only listings. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [BIN, ...args, "--config", this.configPath], { maxBuffer: 64 << 20 });
    return stdout;
  }

  /** Creates the database and the group inbox with its members, through the CLI. */
  async seed(): Promise<void> {
    await this.cli("db", "migrate");
    for (const email of MEMBERS) await this.cli("users", "add", email, "--role", "staff");
    await this.cli("groups", "add", "support", "--inbox", INBOX);
    for (const email of MEMBERS) await this.cli("groups", "members", "add", "support", email);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts `postern serve` and resolves once its listener greets with 220. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [BIN, "serve", "--config", this.configPath], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.pipe(this.log, { end: false });
    this.child = child;
    live.add(child);
    child.once("exit", (code, signal) => {
      live.delete(child);
      if (this.child === child) {
        this.child = undefined;
        this.unexpectedExits.push(`exit code ${code ?? "none"}, signal ${signal ?? "none"}`);
      }
    });
    const deadline = Date.now() + 60_000;
    while (!(await greets(this.settings.port))) {
      if (this.child !== child) throw new Error(`the gateway exited before it listened; see ${join(this.settings.dir, "gateway.log")}`);
      if (Date.now() > deadline) throw new Error("the gateway did not listen within 60 s");
      await sleep(100);
    }
  }

  /** SIGKILL: no drain, no shutdown hook; resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.end("SIGKILL");
  }

  /** SIGTERM: the gateway's own graceful drain. */
  async stop(): Promise<void> {
    await this.end("SIGTERM");
    this.log.end();
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
  }
}

/** True when something on the port answers with an SMTP greeting. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (chunk: Buffer) => {
      socket.write("QUIT\r\n");
      done(chunk.toString("latin1").startsWith("220"));
    });
  });
}
