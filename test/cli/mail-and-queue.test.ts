import type { QueueEntry as QueueRow } from "../../src/domain/deliveries.repo.js";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveries } from "../../schema/schema.js";
import { openDatabase } from "../../src/db/database.js";
import { insertInboundMessage } from "../../src/domain/mail-log.repo.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 8 * CLI_TIMEOUT_MS;

interface MailLogRow {
  id: number;
  receivedAt: string;
  from: string | null;
  to: string[];
  messageId: string | null;
  outcome: string;
  reason: string;
}


let cli: CliSandbox;

/** Works on the sandbox's database directly, as the gateway would between two CLI commands. */
function withDatabase<T>(work: (db: ReturnType<typeof openDatabase>["db"]) => T): T {
  const database = openDatabase({ path: cli.dbPath, synchronous: "NORMAL" });
  try {
    return work(database.db);
  } finally {
    database.close();
  }
}

beforeAll(async () => {
  cli = createCliSandbox();
  await cli.ok(["users", "add", "staff@example.test", "--role", "staff"]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

describe("postern mail log", () => {
  it("is an empty array on a fresh database", { timeout: TIMEOUT }, async () => {
    expect(await cli.json(["mail", "log", "--json"])).toEqual([]);
  });

  it("lists what the gateway logged, newest first, with the JSON shape of SPEC §7; --rejected filters", { timeout: TIMEOUT }, async () => {
    const receivedAt = Date.parse("2026-11-22T03:00:00.000Z");
    withDatabase((db) => {
      insertInboundMessage(db, {
        receivedAt,
        mailFrom: "dana@client.test",
        rcptTo: ["support@example.test"],
        fromAddress: "dana@client.test",
        messageId: "<ok-1@client.test>",
        subject: "Hello",
        outcome: "accepted",
        reason: "new inbox conversation",
        smtpCode: 250,
        size: 120,
      });
      insertInboundMessage(db, {
        receivedAt: receivedAt + 1000,
        mailFrom: "eve@client.test",
        rcptTo: ["nobody@example.test", "ghost@example.test"],
        fromAddress: "eve@client.test",
        messageId: "<no-1@client.test>",
        subject: "Spam",
        outcome: "rejected",
        reason: "no such address",
        smtpCode: 550,
        size: 99,
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
    for (const row of rows) expect(row.id).toEqual(expect.any(Number));
    // The raw message is private: never part of the log.
    expect(JSON.stringify(rows)).not.toMatch(/"raw"/);

    const [rejected, limited] = await Promise.all([
      cli.json<MailLogRow[]>(["mail", "log", "--rejected", "--json"]),
      cli.json<MailLogRow[]>(["mail", "log", "--limit", "1", "--json"]),
    ]);
    expect(rejected.map((r) => r.messageId)).toEqual(["<no-1@client.test>"]);
    expect(limited.map((r) => r.messageId)).toEqual(["<no-1@client.test>"]);
  });
});

describe("postern queue", () => {
  it("shows a failed delivery's error and retries it; refuses ids that are not waiting", { timeout: TIMEOUT }, async () => {
    await cli.ok(["conversations", "create", "--from", "staff@example.test", "--to", "dana@client.test", "--subject", "S", "--body", "B"]);
    const [queued] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(queued).toMatchObject({ to: "dana@client.test", status: "queued", attempts: 0, lastError: null });
    const id = queued!.id;

    withDatabase((db) =>
      db.update(deliveries).set({ status: "failed", attempts: 3, lastError: "550 5.1.1 user unknown" }).where(eq(deliveries.id, id)).run(),
    );
    const [failed] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(failed).toEqual({ id, to: "dana@client.test", status: "failed", attempts: 3, nextAttemptAt: null, lastError: "550 5.1.1 user unknown" });

    expect(await cli.ok(["queue", "retry", String(id)])).toContain(String(id));
    const [retried] = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(retried).toMatchObject({ id, status: "queued" });
    expect(Date.parse(retried!.nextAttemptAt ?? "")).toBeLessThanOrEqual(Date.now());

    withDatabase((db) => db.update(deliveries).set({ status: "sent" }).where(eq(deliveries.id, id)).run());
    const [sent, missing] = await cli.runMany([
      ["queue", "retry", String(id)],
      ["queue", "retry", "424242"],
    ]);
    expectRefused(sent, new RegExp(`${id}`));
    expectRefused(missing, /424242/);
  });
});
