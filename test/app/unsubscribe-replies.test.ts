// Issue 12: a reply whose whole text is "unsubscribe", "remove me", "stop" (or the same in other
// languages) once went to every participant. It is the author asking to leave: Postern does what
// leave+TOKEN@ does, says so in the 250 reply and the mail log, and nobody else receives anything.
// All over real SMTP.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

const replyAddress = (m: SinkMessage | undefined) => m!.parsed.replyTo!.value[0]!.address!;
const to = (m: SinkMessage) => m.envelope.rcptTo[0];
const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

describe("a reply that only says unsubscribe, remove me or stop", () => {
  let t: TestGateway;
  /** Dana's copy of Alice's first post. */
  let danasCopy: SinkMessage;

  /** Waits until `count` messages arrived, then a moment more, so a message sent wrongly would show too. */
  async function settle(count: number): Promise<SinkMessage[]> {
    await t.sink.waitFor(count);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(t.sink.messages.map((m) => `${to(m)}: ${m.parsed.subject}`)).toHaveLength(count);
    return [...t.sink.messages];
  }

  async function danaState(): Promise<string | undefined> {
    return t.read(async ({ tx }) => {
      const dana = await findUserByEmail(tx, "dana@client.test");
      return (await findParticipant(tx, 1, dana!.id))?.state;
    });
  }

  beforeEach(async () => {
    t = await startTestGateway({ consent: { kinds: [] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", name: "Alice Agent", role: "staff" });
      await addUser(ctx, { email: "bob@team.test", name: "Bob Builder" });
      await createConversation(ctx, {
        from: "alice@team.test",
        to: ["bob@team.test", "dana@client.test"],
        subject: "Quarterly newsletter plans",
        body: "Here are the plans for the quarterly newsletter. Comments welcome.",
      });
    });
    const copies = await t.sink.waitFor(2);
    danasCopy = copies.find((m) => to(m) === "dana@client.test")!;
  });
  afterEach(() => t.dispose());

  it("a Gmail reply saying only \"Unsubscribe\" above the quote leaves the conversation; nobody else gets anything", async () => {
    const raw = fixture("reply_unsubscribe_only.eml").replace("REPLY_ADDRESS", replyAddress(danasCopy));
    const info = await t.send({ envelope: { from: "dana@client.test", to: [replyAddress(danasCopy)] }, raw });
    expect(info.response).toMatch(/^250 2\.0\.0 Accepted: not posted: the reply said only "Unsubscribe", taken as leaving conversation 1 \(as leave\+ does\)/);

    const after = (await settle(3)).slice(2);
    expect(after.map(to)).toEqual(["dana@client.test"]);
    expect(after[0]!.parsed.text?.trim()).toBe('You have left the conversation "Quarterly newsletter plans" and will receive no more of its messages.');
    expect(await danaState()).toBe("left");
    const entry = (await t.read(({ tx }) => listMailLog(tx, {}))).find((e) => e.messageId === "<CAH8unsub0nly7Q2w@mail.client.test>");
    expect(entry).toMatchObject({ outcome: "accepted", reason: expect.stringMatching(/not posted: the reply said only "Unsubscribe"/) });
    expect(entry?.postId ?? null).toBeNull();

    // As after leave+: the reply address is dead.
    const later = await smtpError(t.send({ from: "dana@client.test", to: replyAddress(danasCopy), subject: "Re: Quarterly newsletter plans", text: "One more thing" }));
    expect(later?.response).toMatch(/^550 5\.1\.1 .*you left it/);
  });

  for (const text of ["please remove me", "STOP", "Désabonner", "Abmelden bitte!", "unsubscribe me, thanks"]) {
    it(`"${text}" as the whole text leaves too`, async () => {
      const info = await t.send({ from: "dana@client.test", to: replyAddress(danasCopy), subject: "Re: Quarterly newsletter plans", text: `${text}\n\nSent from my iPhone\n` });
      expect(info.response).toMatch(/taken as leaving conversation 1/);
      expect((await settle(3)).slice(2).map(to)).toEqual(["dana@client.test"]);
      expect(await danaState()).toBe("left");
    });
  }

  it("an empty body with \"unsubscribe\" as the subject leaves", async () => {
    const info = await t.send({ from: "dana@client.test", to: replyAddress(danasCopy), subject: "unsubscribe", text: "" });
    expect(info.response).toMatch(/said only "unsubscribe", taken as leaving conversation 1/);
    expect((await settle(3)).slice(2).map(to)).toEqual(["dana@client.test"]);
  });

  it("\"stop\" inside a longer message is an ordinary post", async () => {
    const info = await t.send({
      from: "dana@client.test",
      to: replyAddress(danasCopy),
      subject: "Re: Quarterly newsletter plans",
      text: "Stop the press: the March issue needs the new logo.\n\nDana",
    });
    expect(info.response).toMatch(/reply posted to conversation 1/);
    const after = (await settle(4)).slice(2);
    expect(after.map(to).sort()).toEqual(["alice@team.test", "bob@team.test"]);
    expect(after[0]!.parsed.text).toContain("Stop the press");
    expect(await danaState()).toBe("active");
  });

  it("someone else's \"unsubscribe\" through Dana's reply address is refused and Dana stays", async () => {
    const error = await smtpError(t.send({ from: "mallory@evil.test", to: replyAddress(danasCopy), subject: "Re: x", text: "unsubscribe" }));
    expect(error?.response).toMatch(/^550 5\.7\.1 This reply address belongs to another participant/);
    await settle(2);
    expect(await danaState()).toBe("active");
  });
});

describe("an invitee who answers the invitation with only \"stop\"", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", name: "Alice Agent", role: "staff" });
      await createConversation(ctx, { from: "alice@team.test", to: ["erin@friend.test"], subject: "Coffee?", body: "Shall we meet?" });
    });
  });
  afterEach(() => t.dispose());

  it("declines it instead of accepting: the conversation is declined and the text goes nowhere", async () => {
    const [invitation] = await t.sink.waitFor(1);
    const info = await t.send({ from: "erin@friend.test", to: replyAddress(invitation), subject: "Re: Coffee?", text: "STOP" });
    expect(info.response).toMatch(/said only "STOP", taken as declining the invitation to conversation 1; the conversation is declined/);
    const notices = (await t.sink.waitFor(2)).slice(1);
    expect(notices.map(to)).toEqual(["alice@team.test"]);
    expect(notices[0]!.parsed.text).not.toContain("STOP");
  });
});
