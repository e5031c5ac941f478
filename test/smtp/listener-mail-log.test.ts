// Every refusal the SMTP listener answers itself reaches the mail log (issue 10 item 7, SPEC §3):
// a real smtp-server listener on port 0, a raw SMTP client, and the mail log read back through
// the repository, as `postern mail log --rejected` reads it.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ProcessingLanes, type LaneLimits } from "../../src/concurrency/processing-lanes.js";
import { buildConfig } from "../../src/config/config.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import type { MailLogEntry } from "../../src/domain/records.js";
import { addUser } from "../../src/domain/users.service.js";
import type { DnsResolver } from "../../src/inbound/authenticate.js";
import { InboundPipeline } from "../../src/inbound/pipeline.js";
import { silentLogger } from "../../src/log.js";
import { createSmtpListener, type SmtpListener } from "../../src/smtp/listener.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { noDns } from "../helpers/dns.js";
import { ENGINE } from "../helpers/postgres.js";
import { rawClient, type RawClient } from "../helpers/raw-smtp.js";

interface Harness {
  readonly port: number;
  readonly store: TestStore;
  open(localAddress?: string): Promise<RawClient>;
  rejected(): Promise<Omit<MailLogEntry, "raw">[]>;
}

let cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** A listener with its own pipeline and database; support@example.test routes to one member's inbox. */
async function startListener(
  smtp: Record<string, unknown>,
  options: { limits?: Record<string, unknown>; resolver?: DnsResolver; largeWork?: ProcessingLanes; laneLimits?: LaneLimits; laneWaitLimit?: number } = {},
): Promise<Harness> {
  const config = buildConfig(
    { gateway: { domain: "example.test", name: "Acme" }, smtp: { host: "127.0.0.1", port: 0, greeting_delay: 0, ...smtp }, limits: options.limits ?? {} },
    "test",
  );
  const store = await createTestStore(config);
  cleanups.push(() => store.dispose());
  await store.write(async (ctx) => {
    await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroupMember(ctx, "support", "alice@team.test");
  });
  const logger = silentLogger();
  const pipeline = new InboundPipeline({ store: store.store, config: store.config, logger, resolver: options.resolver ?? noDns });
  const listener: SmtpListener = createSmtpListener({
    config: store.config,
    logger,
    pipeline,
    ...(options.largeWork ? { largeWork: options.largeWork } : {}),
    ...(options.laneLimits ? { laneLimits: options.laneLimits } : {}),
    ...(options.laneWaitLimit !== undefined ? { laneWaitLimit: options.laneWaitLimit } : {}),
  });
  const port = await listener.listen();
  const clients: RawClient[] = [];
  cleanups.push(async () => {
    for (const client of clients) client.end();
    await listener.close();
  });
  return {
    port,
    store,
    async open(localAddress = "127.0.0.1") {
      const client = await rawClient(port, localAddress);
      clients.push(client);
      return client;
    },
    rejected: () => store.read(({ tx }) => listMailLog(tx, { outcomes: ["rejected"] })),
  };
}

/** Greeting and EHLO; returns the EHLO reply. */
async function greet(client: RawClient): Promise<string> {
  expect(await client.reply()).toMatch(/^220 /);
  return client.command("EHLO client.test");
}

/** A message with about `bodyBytes` of body, CRLF line ends, ready to be followed by the lone dot. */
const message = (bodyBytes: number) =>
  `From: carol@customer.test\r\nTo: support@example.test\r\nSubject: Hello\r\nMessage-ID: <m-${bodyBytes}@customer.test>\r\n\r\n` +
  `${"y".repeat(76)}\r\n`.repeat(Math.ceil(bodyBytes / 78));

describe("MAIL FROM with a SIZE over smtp.max_message_size", () => {
  it("keeps advertising SIZE, answers 552 5.3.4 itself and logs the sender, the address and the size declared", async () => {
    const h = await startListener({ max_message_size: "64KB" });
    const client = await h.open();
    expect(await greet(client)).toMatch(/^250[- ]SIZE 65536$/m);
    expect(await client.command("MAIL FROM:<big@isp.test> SIZE=70000")).toBe("552 5.3.4 The message is larger than the 65536 bytes this gateway accepts.");

    const [entry, ...others] = await h.rejected();
    expect(others).toHaveLength(0);
    expect(entry).toMatchObject({ outcome: "rejected", smtpCode: 552, mailFrom: "big@isp.test", rcptTo: [], remoteAddress: "127.0.0.1", size: 70_000, fromAddress: null });
    expect(entry!.reason).toBe("message_too_large: The message is larger than the 65536 bytes this gateway accepts. (SIZE=70000 declared at MAIL FROM)");
    expect(entry!.sessionId).toEqual(expect.any(String));
  });

  it("shares one entry per session among repeated refusals, and still accepts a SIZE within the limit", async () => {
    const h = await startListener({ max_message_size: "64KB" });
    const client = await h.open();
    await greet(client);
    expect(await client.command("MAIL FROM:<big@isp.test> SIZE=70000")).toMatch(/^552 5\.3\.4 /);
    expect(await client.command("MAIL FROM:<big@isp.test> SIZE=90000")).toMatch(/^552 5\.3\.4 /);
    // SIZE's syntax is still smtp-server's to check.
    expect(await client.command("MAIL FROM:<big@isp.test> SIZE=lots")).toMatch(/^501 /);
    expect(await client.command("MAIL FROM:<carol@customer.test> SIZE=2000")).toMatch(/^250 /);
    expect(await client.command("RCPT TO:<support@example.test>")).toMatch(/^250 /);
    expect(await client.command("DATA")).toMatch(/^354 /);
    expect(await client.command(`${message(500)}.`, 10_000)).toMatch(/^250 /);

    const rejected = await h.rejected();
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBe(
      "2 senders refused in this session; last: message_too_large: The message is larger than the 65536 bytes this gateway accepts. (SIZE=90000 declared at MAIL FROM)",
    );
  });

  it("still refuses DATA past the limit when no SIZE was declared, as before", async () => {
    const h = await startListener({ max_message_size: "64KB" });
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<big@isp.test>");
    await client.command("RCPT TO:<support@example.test>");
    expect(await client.command("DATA")).toMatch(/^354 /);
    expect(await client.command(`${message(80_000)}.`, 10_000)).toMatch(/^552 5\.3\.4 The message is larger than the 65536 bytes/);
    const [entry] = await h.rejected();
    expect(entry).toMatchObject({ smtpCode: 552, mailFrom: "big@isp.test", rcptTo: ["support@example.test"] });
    expect(entry!.reason).toMatch(/\(\d+ bytes arrived\)$/);
  });
});

describe("the listener's other refusals", () => {
  it("logs a non-ASCII mailbox refused at MAIL FROM (553 5.6.7)", async () => {
    const h = await startListener({});
    const client = await h.open();
    await greet(client);
    expect(await client.command("MAIL FROM:<用户@example.cn> SMTPUTF8")).toMatch(/^553 5\.6\.7 /);
    const [entry] = await h.rejected();
    expect(entry).toMatchObject({ smtpCode: 553, mailFrom: "用户@example.cn", rcptTo: [] });
    expect(entry!.reason).toMatch(/^invalid_input: Postern does not accept internationalised \(non-ASCII\) addresses/);
  });

  it("logs 451 4.3.2 for a message that found no turn to be processed, as a temporary refusal with its envelope", async () => {
    // The large lane is taken whole by other work until the test ends.
    const largeWork = new ProcessingLanes({ smallMessage: 1024, smallConcurrency: 1, largeBudget: 10_000 });
    let release!: () => void;
    const taken = largeWork.run(10_000, () => new Promise<void>((resolve) => (release = resolve)));
    cleanups.push(async () => {
      release();
      await taken;
    });
    const h = await startListener({}, { largeWork, laneLimits: { smallMessage: 1024, smallConcurrency: 1, largeBudget: 10_000 }, laneWaitLimit: 300 });
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<carol@customer.test>");
    await client.command("RCPT TO:<support@example.test>");
    expect(await client.command("DATA")).toMatch(/^354 /);
    expect(await client.command(`${message(4000)}.`, 10_000)).toBe("451 4.3.2 Postern is busy with other large messages; please try again later.");

    const entry = await vi.waitFor(async () => {
      const [found] = await h.rejected();
      expect(found).toBeDefined();
      return found!;
    });
    expect(entry).toMatchObject({ outcome: "rejected", smtpCode: 451, mailFrom: "carol@customer.test", rcptTo: ["support@example.test"], messageId: null });
    expect(entry.size).toBeGreaterThan(4000);
    expect(entry.reason).toBe("temporary_failure: Postern is busy with other large messages; please try again later. (no turn to be processed within 0.3 s)");
  });

  it("logs 451 4.3.0 for a verdict past smtp.processing_timeout, then the message's own entry once its processing ends", async () => {
    let release!: () => void;
    const dnsHeld = new Promise<void>((resolve) => (release = resolve));
    const slowDns: DnsResolver = async (name, rrtype) => {
      await dnsHeld;
      return noDns(name, rrtype);
    };
    cleanups.push(() => release());
    const h = await startListener({ processing_timeout: "300ms" }, { resolver: slowDns });
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<carol@customer.test>");
    await client.command("RCPT TO:<support@example.test>");
    expect(await client.command("DATA")).toMatch(/^354 /);
    expect(await client.command(`${message(200)}.`, 10_000)).toBe("451 4.3.0 Processing this message took too long; please try again later.");

    const timedOut = await vi.waitFor(async () => {
      const [found] = await h.rejected();
      expect(found).toBeDefined();
      return found!;
    });
    expect(timedOut).toMatchObject({ smtpCode: 451, mailFrom: "carol@customer.test", rcptTo: ["support@example.test"], messageId: null });
    expect(timedOut.reason).toBe(
      "temporary_failure: Processing this message took too long; please try again later. (no verdict within smtp.processing_timeout = 0.3 s; the message's own entry follows once its processing ends)",
    );

    release();
    const all = await vi.waitFor(async () => {
      const entries = await h.store.read(({ tx }) => listMailLog(tx));
      expect(entries.map((e) => e.outcome)).toEqual(["accepted", "rejected"]);
      return entries;
    });
    expect(all[0]).toMatchObject({ smtpCode: 250, messageId: "<m-200@customer.test>" });
  });

  // The spool is beside the SQLite file; on PostgreSQL it is the system's temporary directory, not one to break.
  it.skipIf(ENGINE === "postgres")("logs a message whose spool file could not be written (451 4.3.0)", async () => {
    const h = await startListener({});
    const spool = join(h.store.dir, "spool");
    rmSync(spool, { recursive: true, force: true });
    writeFileSync(spool, "not a folder");
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<carol@customer.test>");
    await client.command("RCPT TO:<support@example.test>");
    expect(await client.command("DATA")).toMatch(/^354 /);
    // Past the 256 KiB a message may hold in memory: it goes to a spool file.
    expect(await client.command(`${message(400_000)}.`, 10_000)).toMatch(/^451 4\.3\.0 /);
    const [entry, ...others] = await h.rejected();
    expect(others).toHaveLength(0);
    expect(entry).toMatchObject({ smtpCode: 451, mailFrom: "carol@customer.test", rcptTo: ["support@example.test"], messageId: null });
    expect(entry!.reason).toBe("temporary_failure: Postern could not process this message right now; please try again later. (while DATA arrived)");
  });

  it("logs a client cut off below smtp.min_data_rate (421 4.4.2) with the bytes that arrived", async () => {
    const h = await startListener({ min_data_rate: "1KB", min_data_rate_grace: "500ms" });
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<slow@isp.test>");
    await client.command("RCPT TO:<support@example.test>");
    expect(await client.command("DATA")).toMatch(/^354 /);
    client.write("Subject: slow\r\n\r\n");
    const trickle = setInterval(() => client.write("x"), 100);
    try {
      expect(await client.reply(10_000)).toMatch(/^421 4\.4\.2 The message is arriving too slowly/);
    } finally {
      clearInterval(trickle);
    }
    const entry = await vi.waitFor(async () => {
      const [found] = await h.rejected();
      expect(found).toBeDefined();
      return found!;
    });
    expect(entry).toMatchObject({ smtpCode: 421, mailFrom: "slow@isp.test", rcptTo: ["support@example.test"] });
    expect(entry.reason).toMatch(/^temporary_failure: The message is arriving too slowly \(limit smtp\.min_data_rate = 1024 bytes per second\); closing the connection\. \(cut off after \d+ bytes of DATA\)$/);
    expect(await h.rejected()).toHaveLength(1);
  });

  it("logs a session past smtp.session_timeout during a transaction, and not an idle one", async () => {
    const h = await startListener({ session_timeout: "700ms" });
    const idle = await h.open();
    await greet(idle);
    const busy = await h.open();
    await greet(busy);
    await busy.command("MAIL FROM:<carol@customer.test>");
    await busy.command("RCPT TO:<support@example.test>");
    expect(await busy.reply(5000)).toMatch(/^421 4\.4\.2 This session has lasted too long/);
    expect(await idle.reply(5000)).toMatch(/^421 4\.4\.2 /);
    const entry = await vi.waitFor(async () => {
      const [found] = await h.rejected();
      expect(found).toBeDefined();
      return found!;
    });
    expect(entry).toMatchObject({ smtpCode: 421, mailFrom: "carol@customer.test", rcptTo: ["support@example.test"] });
    expect(entry.reason).toMatch(/^temporary_failure: This session has lasted too long .*\(cut off before the message was complete\)$/);
    expect(await h.rejected()).toHaveLength(1);
  });

  it("logs connections refused over smtp.max_connections_per_ip in one entry per address, counting them", async () => {
    const h = await startListener({ max_connections_per_ip: 1 });
    const held = await h.open("127.0.0.7");
    expect(await held.reply()).toMatch(/^220 /);
    for (let i = 0; i < 3; i++) {
      const refused = await h.open("127.0.0.7");
      expect(await refused.reply()).toMatch(/^421 4\.7\.0 Too many connections from your address/);
      await refused.closed;
    }
    const entry = await vi.waitFor(
      async () => {
        const [found] = await h.rejected();
        expect(found?.reason).toMatch(/\(3 connections refused since /);
        return found!;
      },
      { timeout: 5000 },
    );
    expect(entry).toMatchObject({ smtpCode: 421, remoteAddress: "127.0.0.7", mailFrom: "", rcptTo: [], sessionId: null });
    expect(entry.reason).toMatch(
      /^temporary_failure: Too many connections from your address \(limit smtp\.max_connections_per_ip = 1\); try again later\. \(3 connections refused since \d{4}-\d\d-\d\dT[\d:.]+Z\)$/,
    );
    expect(await h.rejected()).toHaveLength(1);
  });

  it("logs RCPTs answered 450 and then 421 under limits.unknown_recipients_per_minute in the session's refused-recipients entry", async () => {
    const h = await startListener({}, { limits: { unknown_recipients_per_minute: 2 } });
    const client = await h.open();
    await greet(client);
    await client.command("MAIL FROM:<guesser@isp.test>");
    for (let i = 0; i < 2; i++) expect(await client.command(`RCPT TO:<reply+guess${i}@example.test>`)).toMatch(/^550 /);
    expect(await client.command("RCPT TO:<support@example.test>")).toMatch(/^450 4\.7\.1 /);
    expect(await client.command("RCPT TO:<reply+guess2@example.test>")).toMatch(/^450 4\.7\.1 /);
    expect(await client.command("RCPT TO:<reply+guess3@example.test>")).toMatch(/^421 4\.7\.0 /);

    const rejected = await h.rejected();
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.rcptTo).toEqual([
      "reply+guess0@example.test",
      "reply+guess1@example.test",
      "support@example.test",
      "reply+guess2@example.test",
      "reply+guess3@example.test",
    ]);
    expect(rejected[0]!.reason).toMatch(
      /^5 recipients refused in this session; last: too_many_unknown_recipients: Too many unknown recipients from your address, and more during the cool-down; closing the connection/,
    );
  });
});
