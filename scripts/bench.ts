/**
 * Inbound throughput: how many messages per second Postern accepts (parse, classify, trim,
 * route, commit with fan-out, answer 250) against a bare smtp-server that only reads and
 * discards, measured in the same run with the same client. Figures are ratios to that baseline.
 *
 * The load comes from Postfix's smtp-source (unpacked from Debian's postfix package into .tmp/ on
 * first use, no mail daemon needed), which is far faster than any server here; where it cannot be
 * had, from a nodemailer client in its own process (scripts/bench-client.mjs).
 *
 *   npm run bench [-- --messages 2000 --connections 10]
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SMTPServer } from "smtp-server";
import { startGateway } from "../src/app.js";
import { buildConfig } from "../src/config/config.js";
import { addGroup, addGroupMember } from "../src/domain/groups.service.js";
import { addUser } from "../src/domain/users.service.js";
import { openSqliteStore } from "../src/db/database.js";
import { silentLogger } from "../src/log.js";
import type { Transport } from "../src/outbound/transports/transport.js";

const run = promisify(execFile);
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg("messages", 2000);
const CONNECTIONS = arg("connections", 10);

const POSTFIX_DIR = join(process.cwd(), ".tmp", "postfix");
const SMTP_SOURCE = join(POSTFIX_DIR, "usr", "sbin", "smtp-source");

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

async function load(port: number, to: string): Promise<{ seconds: number; failed: number }> {
  if (generator) {
    const started = performance.now();
    // -d keeps each session's connection for all its messages, as a relay would.
    await run(generator, ["-d", "-s", String(CONNECTIONS), "-m", String(MESSAGES), "-l", "400", "-f", "carol@customer.test", "-t", to, `127.0.0.1:${port}`], {
      env: { ...process.env, LD_LIBRARY_PATH: join(POSTFIX_DIR, "usr", "lib", "postfix") },
    });
    return { seconds: (performance.now() - started) / 1000, failed: 0 };
  }
  const { stdout } = await run(process.execPath, ["scripts/bench-client.mjs", String(port), String(MESSAGES), String(CONNECTIONS), to], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim());
}

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
  const { seconds } = await load(port, "support@bench.test");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return MESSAGES / seconds;
}

async function postern(synchronous: "FULL" | "NORMAL"): Promise<{ rate: number; failed: number; deliveredRate: number }> {
  const dir = mkdtempSync(join(tmpdir(), "postern-bench-"));
  const config = buildConfig({
    gateway: { domain: "bench.test" },
    smtp: { port: 0 },
    database: { path: join(dir, "postern.db"), synchronous },
    outbound: { poll_interval: "50ms", batch_size: 200, pool_size: 20 },
  }, "bench");
  const seed = openSqliteStore({ path: config.database.path, migrations: "migrate" });
  await seed.transaction(async (tx) => {
    const ctx = { tx, config, now: Date.now() };
    for (const email of ["agent1@team.test", "agent2@team.test"]) await addUser(ctx, { email, role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@bench.test" });
    await addGroupMember(ctx, "support", "agent1@team.test");
    await addGroupMember(ctx, "support", "agent2@team.test");
  });
  await seed.close();

  let sent = 0;
  let allSent: () => void = () => {};
  const done = new Promise<void>((resolve) => (allSent = resolve));
  // Discards rendered mail: measures Postern's own work, not a relay's.
  const transport: Transport = {
    async send() {
      if (++sent === MESSAGES * 2) allSent();
      return { response: "250 discarded" };
    },
    async close() {},
  };
  const gateway = await startGateway(config, { logger: silentLogger(), transport });
  const started = performance.now();
  const { seconds, failed } = await load(gateway.port, "support@bench.test");
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 120_000))]);
  const deliveredSeconds = (performance.now() - started) / 1000;
  await gateway.stop();
  rmSync(dir, { recursive: true, force: true });
  return { rate: MESSAGES / seconds, failed, deliveredRate: sent / deliveredSeconds };
}

const base = await baseline();
const full = await postern("FULL");
const normal = await postern("NORMAL");
const line = (label: string, rate: number) =>
  `${label.padEnd(48)} ${rate.toFixed(0).padStart(7)} msg/s   ${(rate / base).toFixed(3)} × baseline`;
process.stdout.write(
  [
    `${MESSAGES} messages over ${CONNECTIONS} connections from ${generator ? "Postfix smtp-source" : "a nodemailer client"}, each to a group inbox of 2 members (2 copies each)`,
    line("baseline: bare smtp-server, read and discard", base),
    line("postern, synchronous=FULL (default): accepted", full.rate),
    line("postern, synchronous=NORMAL: accepted", normal.rate),
    `postern copies rendered and handed to a discarding transport: ${full.deliveredRate.toFixed(0)} /s (FULL), ${normal.deliveredRate.toFixed(0)} /s (NORMAL)`,
    `refused or failed sends: ${full.failed + normal.failed}`,
  ].join("\n") + "\n",
);
