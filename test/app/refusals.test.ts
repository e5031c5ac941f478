import { eq, sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import type { MailLogOutcome } from "../../src/domain/records.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { ENGINE } from "../helpers/postgres.js";

describe("mail Postern refuses inside the SMTP transaction", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startTestGateway({ smtp: { max_message_size: "64KB" } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });
  });
  afterEach(() => t.dispose());

  const mailLog = (outcomes?: MailLogOutcome[]) => t.read(({ tx }) => listMailLog(tx, outcomes ? { outcomes } : {}));
  /** Makes the gateway's inbound connection refuse every write, as a full or read-only disk would. */
  const queryOnly = (on: boolean) => t.read(async ({ tx }) => void tx.db.run(sql.raw(`PRAGMA query_only = ${on ? "ON" : "OFF"}`)));

  /** Opens a conversation and returns Alice's reply address. */
  async function conversationReplyAddress(): Promise<string> {
    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Help", text: "Please help." });
    const [copy] = await t.sink.waitFor(1);
    return copy!.parsed.replyTo!.value[0]!.address!;
  }

  it("answers 550 5.1.1 for an unknown local address and 550 for any other domain", async () => {
    const unknown = await smtpError(t.send({ from: "x@outside.test", to: "nobody@example.test", subject: "s", text: "t" }));
    expect(unknown?.responseCode).toBe(550);
    expect(unknown?.response).toMatch(/5\.1\.1 There is no mailbox nobody@example\.test here/);
    const relay = await smtpError(t.send({ from: "x@outside.test", to: "victim@elsewhere.test", subject: "s", text: "t" }));
    expect(relay?.responseCode).toBe(550);
    expect(relay?.response).toMatch(/does not relay/);
    const reserved = await smtpError(t.send({ from: "x@outside.test", to: "noreply@example.test", subject: "s", text: "t" }));
    expect(reserved?.responseCode).toBe(550);
    const forged = await smtpError(t.send({ from: "x@outside.test", to: "reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test", subject: "s", text: "t" }));
    expect(forged?.response).toMatch(/5\.1\.1/);
    const log = await mailLog(["rejected"]);
    expect(log.map((m) => [m.rcptTo, m.smtpCode])).toEqual([
      [["reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test"], 550],
      [["noreply@example.test"], 550],
      [["victim@elsewhere.test"], 550],
      [["nobody@example.test"], 550],
    ]);
    expect(log[3]).toMatchObject({ fromAddress: null, mailFrom: "x@outside.test" });
  });

  it("advertises SIZE and answers 552 5.3.4 to oversized mail", async () => {
    const error = await smtpError(
      t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Big", text: "x".repeat(100 * 1024) }),
    );
    expect(error?.responseCode).toBe(552);
    expect(error?.response).toMatch(/5\.3\.4/);
  });

  it("refuses a reply whose From is not the token's participant with 550 5.7.1 and a sentence", async () => {
    const address = await conversationReplyAddress();
    const error = await smtpError(t.send({ from: "mallory@evil.test", to: address, subject: "Re: Help", text: "Hijack" }));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/5\.7\.1 This reply address belongs to another participant/);
    const log = await mailLog(["rejected"]);
    expect(log[0]).toMatchObject({ outcome: "rejected", fromAddress: "mallory@evil.test", smtpCode: 550 });
    expect(log[0]!.reason).toMatch(/^sender_mismatch/);
  });

  it("refuses a reply that is empty once quotes are trimmed", async () => {
    const address = await conversationReplyAddress();
    const error = await smtpError(
      t.send({ from: "alice@team.test", to: address, subject: "Re: Help", text: "On Mon, 2 Nov 2026 at 10:00, Carol <carol@customer.test> wrote:\n> Please help.\n" }),
    );
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/empty once the quoted/);
  });

  it("refuses the token of a participant who left, and of a closed conversation", async () => {
    const address = await conversationReplyAddress();
    const [copy] = t.sink.messages;
    const leave = /<mailto:(leave\+[^>]+)>/.exec(copy!.raw.toString())![1]!;
    const left = await t.send({ from: "alice@team.test", to: leave, subject: "unsubscribe", text: "leave" });
    expect(left.response).toMatch(/^250 .*left conversation 1/);
    const gone = await smtpError(t.send({ from: "alice@team.test", to: address, subject: "Re: Help", text: "Back again" }));
    expect(gone?.responseCode).toBe(550);
    expect(gone?.response).toMatch(/no longer taking part/);

    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Second", text: "Another." });
    // Alice's one-line confirmation that she left came in between.
    const second = (await t.sink.waitFor(3)).find((m) => m.parsed.subject === "Second");
    await t.write(({ tx }) => tx.rows((db, tt) => db.update(tt.conversations).set({ state: "closed" }).where(eq(tt.conversations.id, 2))));
    const closed = await smtpError(
      t.send({ from: "alice@team.test", to: second!.parsed.replyTo!.value[0]!.address!, subject: "Re: Second", text: "Late" }),
    );
    expect(closed?.response).toMatch(/5\.1\.1 The conversation "Second" is closed/);
  });

  it("posts a message once however often it arrives, answering 250 each time", async () => {
    const mail = { from: "carol@customer.test", to: "support@example.test", subject: "Once", text: "Only once.", messageId: "<same@customer.test>" };
    await t.send(mail);
    const again = await t.send(mail);
    expect(again.response).toMatch(/^250 .*Already received/);
    const address = await (async () => (await t.sink.waitFor(1))[0]!.parsed.replyTo!.value[0]!.address!)();
    // One message to two gateway addresses (a token and the From address): still one post.
    await t.send({ from: "alice@team.test", to: [address, "conversations@example.test"], subject: "Re: Once", text: "Reply once.", messageId: "<r1@team.test>" });
    expect(await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.posts)))).toHaveLength(2);
    const outcomes = (await mailLog()).map((m) => m.outcome);
    expect(outcomes).toEqual(["accepted", "duplicate", "accepted"]);
  });

  // SQLite only: the test makes the connection refuse writes with a SQLite pragma (the mapping to 451 is the same on both engines).
  it.skipIf(ENGINE === "postgres")("answers 451 4.3.0, never 5xx, when the database cannot take the message", async () => {
    await queryOnly(true);
    const error = await smtpError(t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Later", text: "Try later." }));
    expect(error?.responseCode).toBe(451);
    expect(error?.response).toMatch(/4\.3\.0/);
    await queryOnly(false);
    const retried = await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Later", text: "Try later." });
    expect(retried.response).toMatch(/^250 /);
  });

  it("refuses mail without a From header as malformed, and logs it", async () => {
    const error = await smtpError(
      t.send({ envelope: { from: "carol@customer.test", to: ["support@example.test"] }, raw: "To: support@example.test\r\nSubject: no from\r\n\r\nbody\r\n" }),
    );
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/no From address/);
    expect((await mailLog())[0]).toMatchObject({ outcome: "rejected" });
  });
});
