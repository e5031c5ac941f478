import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { parseSize } from "../../src/config/units.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { deliveries } from "../../schema/schema.js";
import {
  freePort,
  postfixUnavailableReason,
  postfixVersion,
  RELAY_MESSAGE_SIZE_LIMIT,
  startPostfix,
  stopOnExit,
  type PostfixInstance,
} from "../../scripts/postfix-instance.mjs";
import { rawClient, type RawClient } from "../helpers/raw-smtp.js";
import { ALICE, BOB, SUPPORT, startDesk } from "../helpers/desk.js";
import type { TestGateway } from "../helpers/gateway.js";

/**
 * docs/deploy-postfix.md, proven with Debian's Postfix: a private instance (`postfix -c DIR`,
 * 127.0.0.1 only, scripts/postfix-instance.mjs) is the domain's MX in front of Postern through
 * the before-queue proxy filter, and Postern's smarthost behind it. Mailboxes of team.test are
 * files Postfix's virtual(8) agent writes.
 */
const SWAKS = "/usr/bin/swaks";
const RECIPE = new URL("../../docs/deploy-postfix.md", import.meta.url);
/** Limits of this run, set apart so that each side's refusal can be told from the other's. */
const POSTFIX_LIMIT = 200_000;
const POSTERN_LIMIT = "256KB";
const FORGED_SENDER = "mallory@evil.test";

const unavailable = postfixUnavailableReason() ?? (existsSync(SWAKS) ? undefined : `${SWAKS} is missing (install Debian's swaks package)`);
if (unavailable) console.warn(`Postfix deployment test skipped: ${unavailable}`);

describe.skipIf(Boolean(unavailable))(`Postern behind Postfix ${unavailable ? "" : postfixVersion()} (docs/deploy-postfix.md)`, () => {
  let t: TestGateway;
  let postfix: PostfixInstance;
  let unhook: (() => void) | undefined;

  beforeAll(async () => {
    // Postern must know its smarthost's port before it starts, Postfix Postern's: the relay port first.
    const relayPort = await freePort();
    t = await startDesk({
      smtp: { max_message_size: POSTERN_LIMIT },
      // Postfix passes the real client on with XFORWARD, as the recipe sets up.
      auth: { trusted_hosts: ["127.0.0.1"] },
      outbound: { port: relayPort },
    });
    postfix = await startPostfix({
      posternPort: t.gateway.port,
      posternDomains: ["example.test"],
      mailboxDomain: "team.test",
      mailboxes: ["alice", "bob"],
      messageSizeLimit: POSTFIX_LIMIT,
      relayPort,
      plainMxPort: true,
      unreachableDomain: "gone.test",
    });
    // Postfix's master is a daemon of its own: a test run that dies must not leave it running.
    unhook = stopOnExit(postfix);
  });

  afterAll(async () => {
    unhook?.();
    await postfix?.stop();
    await t?.dispose();
  });

  /** Alice's copy of the inbox conversation, once Postfix delivered it to her mailbox file. */
  let aliceCopy = "";

  it("takes inbox mail in through the proxy and delivers the members' copies through Postfix into their mailboxes", async () => {
    const transcript = await swaks([
      "--server", `127.0.0.1:${postfix.mxPort}`,
      "--ehlo", "mail.customer.test",
      "--from", "carol@customer.test",
      "--to", SUPPORT,
      "--h-From", '"Carol Customer" <carol@customer.test>',
      "--h-Subject", "My order has not arrived",
      "--body", "Hello, order 1234 is late.\n\nCarol",
    ]);
    // Postern's own 250 sentence reaches the client: the proxy answered with Postern's verdict.
    expect(transcript).toMatch(/^<- +250 .*Accepted: new inbox conversation for support$/m);

    aliceCopy = await mailboxContaining(ALICE, "My order has not arrived");
    const bobCopy = await mailboxContaining(BOB, "My order has not arrived");
    for (const copy of [aliceCopy, bobCopy]) {
      expect(copy).toMatch(/^Return-Path: <bounce\+[a-z2-7]{40}@example\.test>$/m);
      expect(copy).toMatch(/^From: "?Carol Customer via support"? <support@example\.test>$/m);
      expect(copy).toMatch(/^Reply-To: <?reply\+[a-z2-7]{40}@example\.test>?$/m);
      expect(copy).toContain("order 1234 is late");
      // The copy went through the relay port of this Postfix: its Received line names it.
      expect(copy).toMatch(/^Received: from .*\n\s+by mx\.example\.test \(Postfix\)/m);
    }
    expect(aliceCopy).toMatch(/^Delivered-To: alice@team\.test$/m);
    expect(await postfix.postqueue()).toMatch(/Mail queue is empty/);
  });

  it("takes Postfix's DSN for a copy it could not deliver back to the copy's bounce address, and marks the delivery bounced", async () => {
    const erin = await t.write(async (ctx) => {
      const user = await addUser(ctx, { email: "erin@gone.test", name: "Erin Agent", role: "staff" });
      await addGroup(ctx, { name: "sales", inbox: "sales@example.test" });
      await addGroupMember(ctx, "sales", user.email);
      return user;
    });
    const client = await greeted(postfix.mxPort);
    await client.command("MAIL FROM:<carol@customer.test>");
    await client.command("RCPT TO:<sales@example.test>");
    await client.command("DATA");
    expect(await client.command(["From: Carol <carol@customer.test>", "To: <sales@example.test>", "Subject: A quote, please", "", "For 40 chairs.", "."].join("\r\n"))).toMatch(/^250 /);
    client.end();

    // Postfix queues Erin's copy, its error transport bounces it, and the DSN (null sender, to
    // bounce+TOKEN@example.test) goes through transport_maps to Postern.
    const deliveryOf = () => t.read(({ tx }) => tx.db.select().from(deliveries).where(eq(deliveries.recipientId, erin.id)));
    const [delivery] = await eventually(deliveryOf, (rows) => rows[0]?.status === "bounced");
    expect(delivery).toMatchObject({ status: "bounced" });
    expect(delivery!.lastError).toMatch(/5\.1\.1/);
    const bounces = await t.read(({ tx }) => listMailLog(tx, { outcomes: ["bounce"] }));
    expect(bounces).toHaveLength(1);
    expect(bounces[0]!.rcptTo[0]).toMatch(/^bounce\+[a-z2-7]{40}@example\.test$/);
    await eventually(() => postfix.postqueue(), (q) => /Mail queue is empty/.test(q));
    await expectNoBackscatter();
  });

  it("refuses an unknown address at RCPT with Postern's own 550, in the client's session", async () => {
    const unknown = `reply+${"a".repeat(32)}@example.test`;
    const direct = await refusalOf(t.gateway.port, unknown);
    const behindPostfix = await refusalOf(postfix.mxPort, unknown);
    expect(direct).toMatch(/^550 5\.1\.1 /);
    expect(behindPostfix).toBe(direct);
    await expectNoBackscatter();
  });

  it("refuses a forged reply after DATA with Postern's sentence, and Postfix queues and bounces nothing", async () => {
    const replyTo = /^Reply-To: <?(reply\+[a-z2-7]{40}@example\.test)>?$/m.exec(aliceCopy)?.[1];
    expect(replyTo, "the inbox test delivered Alice's copy").toBeDefined();
    const client = await greeted(postfix.mxPort);
    expect(await client.command(`MAIL FROM:<${FORGED_SENDER}>`)).toMatch(/^250 /);
    expect(await client.command(`RCPT TO:<${replyTo}>`)).toMatch(/^250 /);
    expect(await client.command("DATA")).toMatch(/^354 /);
    const refusal = await client.command(forgedReply(replyTo!));
    expect(refusal).toMatch(/^550 5\.7\.1 This reply address belongs to another participant/);
    client.end();

    // Postfix passed Postern's verdict on and never made a queue file on the MX port (its log
    // lines there carry no queue ID, only NOQUEUE), so there is nothing it could bounce. smtpd
    // may write its line just after the reply reached the client: the log is read once it is there.
    const log = await eventually(async () => postfix.log(), (text) => /proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 This reply address belongs/.test(text));
    expect(log).toMatch(/postfix\/mx\/smtpd\[\d+\]: proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 This reply address belongs/);
    expect(log).not.toMatch(/postfix\/mx\/smtpd\[\d+\]: [0-9A-F]{6,}: /);
    await expectNoBackscatter();
    const rejected = await t.read(({ tx }) => listMailLog(tx, { outcomes: ["rejected"] }));
    expect(rejected.find((entry) => entry.fromAddress === FORGED_SENDER)).toMatchObject({ smtpCode: 550 });
  });

  it("refuses mail over message_size_limit itself, at MAIL FROM when SIZE is declared and after DATA when not", async () => {
    const declared = await greeted(postfix.mxPort);
    expect(await declared.command(`MAIL FROM:<carol@customer.test> SIZE=${POSTFIX_LIMIT + 1}`)).toMatch(/^552 5\.3\.4 /);
    declared.end();

    const undeclared = await greeted(postfix.mxPort);
    expect(await undeclared.command("MAIL FROM:<carol@customer.test>")).toMatch(/^250 /);
    expect(await undeclared.command(`RCPT TO:<${SUPPORT}>`)).toMatch(/^250 /);
    expect(await undeclared.command("DATA")).toMatch(/^354 /);
    const line = "x".repeat(998);
    const body = Array.from({ length: Math.ceil((POSTFIX_LIMIT + 10_000) / 1000) }, () => line).join("\r\n");
    expect(await undeclared.command(`Subject: too big\r\n\r\n${body}\r\n.`)).toMatch(/^552 5\.3\.4 /);
    undeclared.end();
    await expectNoBackscatter();
  });

  it("keeps the recipe's size limits in line: Postfix's below Postern's default, with room for Postfix's own header lines", () => {
    const recipe = readFileSync(RECIPE, "utf8");
    const postfixLimit = Number(/^ {2}-o message_size_limit=(\d+)$/m.exec(recipe)?.[1]);
    const relayLimit = Number(/^message_size_limit = (\d+)$/m.exec(recipe)?.[1]);
    const posternLimit = parseSize(/^max_message_size = "([^"]+)"/m.exec(recipe)?.[1] ?? "");
    expect(posternLimit).toBe(buildConfig({}, "test").smtp.max_message_size);
    // Postfix adds its Received: line and may count line ends as one byte where Postern counts two.
    expect(postfixLimit).toBeGreaterThan(0);
    expect(postfixLimit).toBeLessThanOrEqual(posternLimit! * 0.96);
    // Outbound, a copy of the largest message Postern accepts carries it as text and as HTML.
    expect(relayLimit).toBeGreaterThanOrEqual(posternLimit! * 3);
    expect(relayLimit).toBe(RELAY_MESSAGE_SIZE_LIMIT);
    // This run's own limits are set the same way round.
    expect(POSTFIX_LIMIT).toBeLessThan(parseSize(POSTERN_LIMIT)!);
  });

  it("shows why: the same refusal behind a plain relay_domains front end becomes a bounce to the forged sender", async () => {
    const replyTo = /^Reply-To: <?(reply\+[a-z2-7]{40}@example\.test)>?$/m.exec(aliceCopy)?.[1]!;
    const client = await greeted(postfix.plainMxPort!);
    await client.command(`MAIL FROM:<${FORGED_SENDER}>`);
    await client.command(`RCPT TO:<${replyTo}>`);
    await client.command("DATA");
    // Postfix says 250 before Postern has seen the message...
    expect(await client.command(forgedReply(replyTo))).toMatch(/^250 2\.0\.0 Ok: queued as /);
    client.end();
    // ...then Postern refuses it, and Postfix mails a bounce to whoever MAIL FROM named.
    const queue = await eventually(() => postfix.postqueue(), (q) => /MAILER-DAEMON/.test(q) && q.includes(FORGED_SENDER));
    expect(queue).toMatch(/MAILER-DAEMON[\s\S]*mallory@evil\.test/);
    expect(postfix.log()).toMatch(/said: 550 5\.7\.1 This reply address belongs/);
  });

  /** Nothing in Postfix's queues, and no bounce or notice in any mailbox. */
  async function expectNoBackscatter(): Promise<void> {
    expect(await postfix.postqueue()).toMatch(/Mail queue is empty/);
    expect(postfix.queuedFiles()).toEqual([]);
    expect(postfix.mailbox("postmaster@team.test")).toBe("");
    for (const address of postfix.mailboxes()) expect(postfix.mailbox(address)).not.toMatch(/MAILER-DAEMON|Undelivered Mail/);
  }

  async function mailboxContaining(address: string, text: string): Promise<string> {
    return eventually(async () => postfix.mailbox(address), (mbox) => mbox.includes(text));
  }
});

function forgedReply(to: string): string {
  return [`From: Mallory <${FORGED_SENDER}>`, `To: <${to}>`, "Subject: Re: My order has not arrived", "", "Send the refund to my account.", "."].join("\r\n");
}

async function greeted(port: number): Promise<RawClient> {
  const client = await rawClient(port);
  expect(await client.reply()).toMatch(/^220 /);
  expect(await client.command("EHLO mail.evil.test")).toMatch(/^250[ -]/);
  return client;
}

/** The reply to RCPT TO:<address> from a server on `port`. */
async function refusalOf(port: number, address: string): Promise<string> {
  const client = await greeted(port);
  expect(await client.command(`MAIL FROM:<${FORGED_SENDER}>`)).toMatch(/^250 /);
  const reply = await client.command(`RCPT TO:<${address}>`);
  client.end();
  return reply;
}

function swaks(args: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(SWAKS, [...args], { encoding: "utf8", timeout: 15_000 }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

/** Polls `read` until `done` holds (mail moves through Postfix's queue manager in its own time). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
