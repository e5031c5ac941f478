import { rmSync } from "node:fs";
import nodemailer from "nodemailer";
import type Mail from "nodemailer/lib/mailer/index.js";
import { startGateway, type Gateway } from "../../src/app.js";
import { buildConfig, type Config } from "../../src/config/config.js";
import type { DomainContext } from "../../src/domain/context.js";
import { silentLogger } from "../../src/log.js";
import type { DnsResolver } from "../../src/inbound/authenticate.js";
import { testDatabase } from "./database.js";
import { noDns } from "./dns.js";
import { startSmtpSink, type SmtpSink } from "./smtp-sink.js";

export interface TestGateway {
  readonly gateway: Gateway;
  readonly config: Config;
  readonly sink: SmtpSink;
  readonly dir: string;
  /** Sends real MIME over SMTP to the gateway with a real client; rejects with the SMTP error. */
  send(mail: Mail.Options): Promise<{ response: string; messageId: string }>;
  /** Runs domain code in one transaction on the gateway's own database. */
  write<T>(work: (ctx: DomainContext) => Promise<T>): Promise<T>;
  /** Reads through the gateway's own database. */
  read<T>(work: (ctx: DomainContext) => Promise<T>): Promise<T>;
  dispose(): Promise<void>;
}

type Overrides = { [section: string]: Record<string, unknown> };

/**
 * A gateway on port 0 with a fresh database of the engine under test (a real SQLite file, or a
 * database of its own on the throwaway PostgreSQL cluster), relaying through a real SMTP sink.
 * DNS for sender authentication is `options.resolver`, by default one that finds nothing (noDns).
 */
export async function startTestGateway(overrides: Overrides = {}, options: { resolver?: DnsResolver; now?: () => number } = {}): Promise<TestGateway> {
  const { database, dir, drop } = await testDatabase();
  const sink = await startSmtpSink();
  const base: Overrides = {
    gateway: { domain: "example.test", name: "Acme" },
    smtp: { host: "127.0.0.1", port: 0 },
    database,
    outbound: { transport: "smtp", host: "127.0.0.1", port: sink.port, poll_interval: "200ms", retry_schedule: ["1s"] },
  };
  const merged: Overrides = { ...base };
  for (const [section, values] of Object.entries(overrides)) merged[section] = { ...(base[section] ?? {}), ...values };
  const config = buildConfig(merged, "test");
  // Never real DNS: every SPF/DKIM/DMARC query fails ENOTFOUND at once unless a test brings its own fake.
  // `now`: the gateway's clock (pipeline, delivery worker, scheduler), for tests that move time forward.
  const now = options.now ?? Date.now;
  const gateway = await startGateway(config, { logger: silentLogger(), resolver: options.resolver ?? noDns, ...(options.now ? { now: options.now } : {}) });
  const client = nodemailer.createTransport({ host: "127.0.0.1", port: gateway.port, secure: false, ignoreTLS: true });
  return {
    gateway,
    config,
    sink,
    dir,
    send: (mail) => client.sendMail(mail),
    write: (work) => gateway.store.transaction((tx) => work({ tx, config, now: now() })),
    read: (work) => gateway.store.read((tx) => work({ tx, config, now: now() })),
    async dispose() {
      client.close();
      await gateway.stop();
      await sink.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The SMTP error a client got, or undefined when the send succeeded. */
export async function smtpError(promise: Promise<unknown>): Promise<{ responseCode: number; response: string } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error as { responseCode: number; response: string };
  }
}

export function tokenOf(address: string | undefined, kind: string): string {
  const match = new RegExp(`${kind}\\+([a-z2-7]+)@`).exec(address ?? "");
  if (!match?.[1]) throw new Error(`no ${kind}+ token in ${address}`);
  return match[1];
}

/** A header exactly as sent (unfolded), read from the raw message rather than mailparser's view. */
export function rawHeader(raw: Buffer, name: string): string | undefined {
  const head = raw.toString("utf8").split(/\r?\n\r?\n/)[0] ?? "";
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(unfolded);
  return match?.[1]?.trim();
}
