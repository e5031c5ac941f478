// SPEC §5: participants can be added at any time (CLI, or CC on a reply) and removed by the
// owners; anyone can leave through leave+TOKEN@ (List-Unsubscribe). Someone added later gets one
// catch-up of the history so far, the others one notice of who joined; a departed or removed
// participant's token is refused with a sentence. All over real SMTP, both ways.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addToConversation, createConversation, removeFromConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail, updateUser } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { rawHeader, smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

const replyAddress = (m: SinkMessage | undefined) => m!.parsed.replyTo!.value[0]!.address!;
const leaveAddress = (m: SinkMessage | undefined) => /^<mailto:(leave\+[^>]+)>$/.exec(rawHeader(m!.raw, "List-Unsubscribe") ?? "")![1]!;
const to = (m: SinkMessage) => m.envelope.rcptTo[0];

describe("joining by CC on a reply, leaving, and being removed", () => {
  let t: TestGateway;
  /** Bob's copy of Alice's first post: his reply and leave addresses. */
  let bobsCopy: SinkMessage;
  /** Alice's copy of Bob's answer. */
  let alicesCopy: SinkMessage;

  /** Waits until `count` messages arrived, then a moment more, so a message sent wrongly would show too. */
  async function settle(count: number): Promise<SinkMessage[]> {
    await t.sink.waitFor(count);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(t.sink.messages.map((m) => `${to(m)}: ${m.parsed.subject}`)).toHaveLength(count);
    return [...t.sink.messages];
  }

  beforeEach(async () => {
    // Consent (invitations) is another part's subject: here the conversation opens at once.
    t = await startTestGateway({ consent: { kinds: [] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@home.test", name: "Alice Owner" });
      await addUser(ctx, { email: "bob@home.test", name: "Bob Member" });
      await createConversation(ctx, { from: "alice@home.test", to: ["bob@home.test"], subject: "Plans", body: "First: the plan." });
    });
    bobsCopy = (await t.sink.waitFor(1))[0]!;
    await t.send({ from: "bob@home.test", to: replyAddress(bobsCopy), subject: "Re: Plans", text: "Second: looks good." });
    alicesCopy = (await t.sink.waitFor(2))[1]!;
  });
  afterEach(() => t.dispose());

  it("someone CC'd on a reply gets one catch-up of the earlier posts and no copy of the reply; the others are told", async () => {
    const info = await t.send({
      from: "alice@home.test",
      to: replyAddress(alicesCopy),
      cc: '"Lee Lawyer" <lee@law.test>',
      subject: "Re: Plans",
      text: "Third: looping in Lee.",
    });
    expect(info.response).toMatch(/reply posted to conversation 1; added lee@law\.test/);
    const later = (await settle(5)).slice(2);

    const toLee = later.filter((m) => to(m) === "lee@law.test");
    expect(toLee).toHaveLength(1);
    const catchUp = toLee[0]!;
    expect(catchUp.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(catchUp.parsed.from?.value[0]?.address).toBe("conversations@example.test");
    expect(catchUp.parsed.subject).toBe("Re: Plans");
    expect(catchUp.parsed.text).toMatch(/Alice Owner added you to the conversation "Plans" \(Acme\)\. Here is the conversation so far, 2 messages, oldest first\./);
    expect(catchUp.parsed.text).toContain("First: the plan.");
    expect(catchUp.parsed.text).toContain("Second: looks good.");
    // Lee has the reply itself from Alice directly.
    expect(catchUp.parsed.text).not.toContain("Third: looping in Lee.");
    expect(catchUp.raw.toString()).not.toContain("bob@home.test");

    const toBob = later.filter((m) => to(m) === "bob@home.test");
    expect(toBob.map((m) => m.parsed.text?.includes("Third: looping in Lee.") ?? false).sort()).toEqual([false, true]);
    const joined = toBob.find((m) => !m.parsed.text?.includes("Third"))!;
    expect(joined.parsed.text).toMatch(/Lee Lawyer joined the conversation "Plans", added by Alice Owner, and receives its messages from now on\./);
    expect(joined.raw.toString()).not.toContain("lee@law.test");
    // Alice brought Lee in and wrote the reply: nothing for her.
    expect(later.filter((m) => to(m) === "alice@home.test")).toHaveLength(0);

    // Lee answers through the catch-up: everyone else receives it.
    await t.send({ from: "lee@law.test", to: replyAddress(catchUp), subject: "Re: Plans", text: "Fourth: hello from Lee." });
    const fourth = (await t.sink.waitFor(7)).slice(5);
    expect(fourth.map(to).sort()).toEqual(["alice@home.test", "bob@home.test"]);
  });

  it("people CC'd on the message that starts a conversation get neither a catch-up nor a joined notice", async () => {
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "carol@home.test", name: "Carol", username: "carol" });
      await addUser(ctx, { email: "dave@home.test", name: "Dave" });
    });
    const info = await t.send({ from: "alice@home.test", to: "carol@example.test", cc: "dave@home.test", subject: "Lunch", text: "Lunch at noon?" });
    expect(info.response).toMatch(/new direct conversation with carol@example\.test; added dave@home\.test/);
    const later = (await settle(3)).slice(2);
    expect(later.map(to)).toEqual(["carol@home.test"]);
    expect(later[0]!.parsed.text).toContain("Lunch at noon?");
  });

  it("leave+TOKEN@ confirms in one line; later replies and a second leave are refused with 550", async () => {
    const left = await t.send({ from: "bob@home.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" });
    expect(left.response).toMatch(/^250 .*left conversation 1/);
    const [confirmation] = (await settle(3)).slice(2);
    expect(to(confirmation!)).toBe("bob@home.test");
    expect(confirmation!.parsed.from?.value[0]?.address).toBe("noreply@example.test");
    expect(confirmation!.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(confirmation!.parsed.text?.trim()).toBe('You have left the conversation "Plans" and will receive no more of its messages.');

    const reply = await smtpError(t.send({ from: "bob@home.test", to: replyAddress(bobsCopy), subject: "Re: Plans", text: "Wait, one more thing." }));
    expect(reply?.responseCode).toBe(550);
    expect(reply?.response).toMatch(/^550 5\.1\.1 You are no longer taking part in the conversation "Plans" \(you left it\), so this address no longer accepts mail\./);
    const again = await smtpError(t.send({ from: "bob@home.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" }));
    expect(again?.responseCode).toBe(550);
    expect(again?.response).toMatch(/you left it/);

    // Alice writes on: Bob receives nothing more.
    await t.send({ from: "alice@home.test", to: replyAddress(alicesCopy), subject: "Re: Plans", text: "Anyone there?" });
    await settle(3);
    const rejected = await t.read(({ tx }) => listMailLog(tx, { outcomes: ["rejected"] }));
    expect(rejected.map((entry) => entry.reason)).toEqual([expect.stringMatching(/^participant_gone: /), expect.stringMatching(/^participant_gone: /)]);
  });

  it("a removed participant is told once, and their token is refused with 550 saying they were removed", async () => {
    await t.write((ctx) => removeFromConversation(ctx, 1, "bob@home.test", "alice@home.test"));
    const [notice] = (await settle(3)).slice(2);
    expect(to(notice!)).toBe("bob@home.test");
    expect(notice!.parsed.text).toMatch(/^Alice Owner removed you from the conversation "Plans"; you will receive no more of its messages, and your replies to it are no longer accepted\./);

    const reply = await smtpError(t.send({ from: "bob@home.test", to: replyAddress(bobsCopy), subject: "Re: Plans", text: "Why?" }));
    expect(reply?.responseCode).toBe(550);
    expect(reply?.response).toMatch(/5\.1\.1 You are no longer taking part in the conversation "Plans" \(you were removed from it\)/);
    const leave = await smtpError(t.send({ from: "bob@home.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" }));
    expect(leave?.response).toMatch(/you were removed from it/);
  });

  it("someone who left and is added again gets fresh addresses and a catch-up; the old ones stay refused", async () => {
    await t.send({ from: "bob@home.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" });
    await t.sink.waitFor(3);
    await t.write((ctx) => addToConversation(ctx, 1, "bob@home.test", "alice@home.test", 1));
    const [catchUp] = (await settle(4)).slice(3);
    expect(to(catchUp!)).toBe("bob@home.test");
    expect(catchUp!.parsed.text).toMatch(/the last 1 of its 2 messages/);
    expect(catchUp!.parsed.text).toContain("Second: looks good.");
    expect(catchUp!.parsed.text).not.toContain("First: the plan.");
    expect(replyAddress(catchUp)).not.toBe(replyAddress(bobsCopy));

    const old = await smtpError(t.send({ from: "bob@home.test", to: replyAddress(bobsCopy), subject: "Re: Plans", text: "Old address." }));
    expect(old?.responseCode).toBe(550);
    await t.send({ from: "bob@home.test", to: replyAddress(catchUp), subject: "Re: Plans", text: "Back again." });
    const [toAlice] = (await t.sink.waitFor(5)).slice(4);
    expect(to(toAlice!)).toBe("alice@home.test");
    expect(toAlice!.parsed.text).toContain("Back again.");
  });

  it("a suspended account can no longer post through its reply address", async () => {
    await t.write(async ({ tx }) => updateUser(tx, (await findUserByEmail(tx, "bob@home.test"))!.id, { status: "suspended" }));
    const refused = await smtpError(t.send({ from: "bob@home.test", to: replyAddress(bobsCopy), subject: "Re: Plans", text: "Still me." }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toMatch(/^550 5\.7\.1 The account of bob@home\.test is suspended, so it cannot post to the conversation "Plans"\./);
    // Leaving only means less mail: a suspended account may still do it.
    const left = await t.send({ from: "bob@home.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" });
    expect(left.response).toMatch(/left conversation 1/);
    const bob = await t.read(async ({ tx }) => findParticipant(tx, 1, (await findUserByEmail(tx, "bob@home.test"))!.id));
    expect(bob?.state).toBe("left");
  });

  it("a leave+ address used from another address is refused, and Bob still takes part", async () => {
    const refused = await smtpError(t.send({ from: "eve@else.test", to: leaveAddress(bobsCopy), subject: "unsubscribe", text: "" }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toMatch(/5\.7\.1 .*belongs to another participant/);
    const bob = await t.read(async ({ tx }) => findParticipant(tx, 1, (await findUserByEmail(tx, "bob@home.test"))!.id));
    expect(bob?.state).toBe("active");
  });
});
