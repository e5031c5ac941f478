import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimDue, markDeferred, markFailed, markSent, type QueueEntry as QueueRow } from "../../src/domain/deliveries.repo.js";
import type { DomainContext } from "../../src/domain/context.js";
import type { Delivery } from "../../src/domain/records.js";
import { insertMailLogEntry, listMailLog } from "../../src/domain/mail-log.repo.js";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, REPO_ROOT, runPostern, type CliSandbox } from "../helpers/cli.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const TIMEOUT = 8 * CLI_TIMEOUT_MS;

interface MailLogRow {
  id: number;
  receivedAt: string;
  from: string | null;
  to: string[];
  messageId: string | null;
  outcome: string;
  reason: string;
  auth: string | null;
}

let cli: CliSandbox;

const WORKER = "test-worker";

/** Leases the one due delivery, as the delivery worker of `serve` does before it sends. */
async function claimOne(ctx: DomainContext, id: number): Promise<Delivery> {
  const claimed = await claimDue(ctx.tx, { now: ctx.now, owner: WORKER, leaseMs: 60_000, limit: 10 });
  const row = claimed.find((d) => d.id === id);
  if (!row) throw new Error(`delivery ${id} was not due`);
  return row;
}

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.ok(["users", "add", "staff@example.test", "--role", "staff"]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

describe("postern mail log", () => {
  it("is an empty array on a fresh database", { timeout: TIMEOUT }, async () => {
    expect(await cli.json(["mail", "log", "--json"])).toEqual([]);
  });

  it("lists what the gateway logged, newest first, with the JSON shape of SPEC §7; --rejected filters", { timeout: TIMEOUT }, async () => {
    const receivedAt = Date.parse("2026-11-22T03:00:00.000Z");
    await cli.write(async ({ tx }) => {
      await insertMailLogEntry(tx, {
        receivedAt,
        sessionId: "s1",
        remoteAddress: "192.0.2.1",
        mailFrom: "dana@client.test",
        rcptTo: ["support@example.test"],
        fromAddress: "dana@client.test",
        messageId: "<ok-1@client.test>",
        subject: "Hello",
        outcome: "accepted",
        reason: "new inbox conversation",
        smtpCode: 250,
        size: 120,
        raw: Buffer.from("Subject: Hello\r\n\r\nprivate words\r\n"),
        authResults: "spf=pass dkim=pass dmarc=pass (client.test)",
      });
      await insertMailLogEntry(tx, {
        receivedAt: receivedAt + 1000,
        sessionId: "s2",
        remoteAddress: "192.0.2.2",
        mailFrom: "eve@client.test",
        rcptTo: ["nobody@example.test", "ghost@example.test"],
        fromAddress: "eve@client.test",
        messageId: "<no-1@client.test>",
        subject: "Spam",
        outcome: "rejected",
        reason: "no such address",
        smtpCode: 550,
        size: 99,
        raw: null,
      });
    });

    const rows = await cli.json<MailLogRow[]>(["mail", "log", "--json"]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      receivedAt: "2026-11-22T03:00:01.000Z",
      from: "eve@client.test",
      to: ["nobody@example.test", "ghost@example.test"],
      messageId: "<no-1@client.test>",
      outcome: "rejected",
      reason: "no such address",
    });
    expect(rows[1]).toMatchObject({ from: "dana@client.test", to: ["support@example.test"], outcome: "accepted" });
    // SPEC §3: the sender-authentication summary; null when it was not computed.
    expect(rows.map((r) => r.auth)).toEqual([null, "spf=pass dkim=pass dmarc=pass (client.test)"]);
    for (const row of rows) expect(row.id).toEqual(expect.any(Number));
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        ["auth", "code", "conversationId", "from", "id", "messageId", "outcome", "postId", "reason", "receivedAt", "subject", "to"],
      );
    }
    // The raw message is private: never part of the log.
    expect(JSON.stringify(rows)).not.toMatch(/"raw"|private words/);

    const [rejected, limited] = await Promise.all([
      cli.json<MailLogRow[]>(["mail", "log", "--rejected", "--json"]),
      cli.json<MailLogRow[]>(["mail", "log", "--limit", "1", "--json"]),
    ]);
    expect(rejected.map((r) => r.messageId)).toEqual(["<no-1@client.test>"]);
    expect(limited.map((r) => r.messageId)).toEqual(["<no-1@client.test>"]);

    // The table view has the auth column too, "-" where there is none.
    const [header, ...lines] = (await cli.ok(["mail", "log"])).trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+RECEIVEDAT\s+OUTCOME\s+CODE\s+FROM\s+TO\s+AUTH\s+REASON$/);
    expect(lines[1]).toContain("spf=pass dkim=pass dmarc=pass (client.test)");
  });
});

describe("postern queue", () => {
  it("shows a failed delivery's error and retries it; refuses ids that are not waiting", { timeout: TIMEOUT }, async () => {
    await cli.ok(["conversations", "create", "--from", "staff@example.test", "--to", "dana@client.test", "--subject", "S", "--body", "B"]);
    const [queued] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(queued).toMatchObject({ to: "dana@client.test", status: "queued", attempts: 0, lastError: null });
    const id = queued!.id;

    // Two temporary failures, then a permanent one, recorded as the delivery worker records them.
    await cli.write(async (ctx) => {
      for (let attempt = 1; attempt <= 2; attempt++) {
        await claimOne(ctx, id);
        expect(await markDeferred(ctx.tx, id, WORKER, ctx.now, "421 4.7.0 try again later", "policy")).toBe(true);
      }
      await claimOne(ctx, id);
      expect(await markFailed(ctx.tx, id, WORKER, "550 5.1.1 user unknown", "recipient")).toBe(true);
    });
    const [failed] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(failed).toEqual({
      id,
      to: "dana@client.test",
      status: "failed",
      attempts: 3,
      nextAttemptAt: null,
      lastError: "550 5.1.1 user unknown",
      category: "recipient",
    });

    expect(await cli.ok(["queue", "retry", String(id)])).toContain(String(id));
    const [retried] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(retried).toMatchObject({ id, status: "queued" });
    expect(Date.parse(retried!.nextAttemptAt ?? "")).toBeLessThanOrEqual(Date.now());

    await cli.write(async (ctx) => {
      await claimOne(ctx, id);
      expect(await markSent(ctx.tx, id, WORKER, ctx.now)).toBe(true);
    });
    const [sentRow] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(sentRow).toMatchObject({ id, status: "sent", attempts: 4, nextAttemptAt: null, lastError: null, category: null });
    const [sent, missing] = await cli.runMany([
      ["queue", "retry", String(id)],
      ["queue", "retry", "424242"],
    ]);
    expectRefused(sent, new RegExp(`${id}`));
    expectRefused(missing, /424242/);
  });
});

describe("postern mail log --id N --raw", () => {
  let t: TestGateway;
  let configPath: string;

  beforeAll(async () => {
    // No admin: mail to postmaster@ stays in the mail log, which is where an admin-to-be reads it.
    t = await startTestGateway();
    const { database } = t.config;
    configPath = join(t.dir, "cli.toml");
    writeFileSync(
      configPath,
      [
        "[gateway]",
        'domain = "example.test"',
        "[database]",
        `engine = ${JSON.stringify(database.engine)}`,
        ...(database.engine === "postgres" ? [`url = ${JSON.stringify(database.url)}`] : [`path = ${JSON.stringify(database.path)}`]),
      ].join("\n"),
    );
  }, TIMEOUT);
  afterAll(() => t?.dispose());

  const postern = (...args: string[]) => runPostern(["--config", configPath, "mail", "log", ...args]);

  it("prints a postmaster message kept for lack of an admin byte for byte, as it arrived over SMTP", { timeout: TIMEOUT }, async () => {
    // Raw 8-bit and ISO-2022-JP must come out unchanged: --raw writes bytes, not text.
    const raw = Buffer.concat([
      Buffer.from("From: someone@isp.test\r\nTo: postmaster@example.test\r\nSubject: =?ISO-2022-JP?B?GyRCMnFAJRsoQg==?=\r\nMessage-ID: <kept-1@isp.test>\r\n"),
      Buffer.from("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nYour server sends odd mail. Grüße, 田中\r\n", "utf8"),
    ]);
    const info = await t.send({ envelope: { from: "someone@isp.test", to: ["postmaster@example.test"] }, raw });
    expect(info.response).toMatch(/kept in the mail log: there is no admin/);
    const [entry] = await t.read(({ tx }) => listMailLog(tx));

    const shown = await runPosternBytes(["--config", configPath, "mail", "log", "--id", String(entry!.id), "--raw"]);
    expect(shown.code).toBe(0);
    // What smtp-server hands over: the message as sent, possibly with a trailing line end added.
    expect(shown.stdout.subarray(0, raw.length).equals(raw)).toBe(true);

    const one = JSON.parse((await postern("--id", String(entry!.id), "--json")).stdout) as Record<string, unknown>;
    expect(one).toMatchObject({ id: entry!.id, outcome: "accepted", to: ["postmaster@example.test"], messageId: "<kept-1@isp.test>" });
    expect(one.reason).toMatch(/no admin to forward it to/);
  });

  it("says so when an entry kept no bytes, and refuses --raw without --id or for an unknown id", { timeout: TIMEOUT }, async () => {
    await expect(t.send({ from: "someone@isp.test", to: "nobody@example.test", text: "hello" })).rejects.toThrow();
    const refusedRcpt = (await t.read(({ tx }) => listMailLog(tx)))[0]!;
    expectRefused(await postern("--id", String(refusedRcpt.id), "--raw"), /kept no message bytes/);
    expectRefused(await postern("--raw"), /--raw shows one message: name it with --id N/);
    expectRefused(await postern("--id", "999999", "--raw"), /no mail log entry 999999/);
  });
});

/** Like runPostern, with stdout as bytes: --raw output is not text. */
function runPosternBytes(args: readonly string[]): Promise<{ code: number; stdout: Buffer }> {
  const { POSTERN_CONFIG: _ignored, ...env } = process.env;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(REPO_ROOT, "bin", "postern.js"), ...args], { cwd: REPO_ROOT, env, encoding: "buffer", timeout: CLI_TIMEOUT_MS }, (error, stdout) => {
      if (error && typeof error.code !== "number") return reject(error);
      resolve({ code: error ? (error.code as number) : 0, stdout });
    });
  });
}
