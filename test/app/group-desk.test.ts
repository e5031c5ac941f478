import { afterEach, describe, expect, it } from "vitest";
import { assignConversation } from "../../src/domain/conversations.commands.js";
import { addGroupMember, setGroupNotify } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import type { TestGateway } from "../helpers/gateway.js";
import { ALICE, BOB, CAROL, SUPPORT, carolWrites, copyFor, nextMessages, replyToOf, settle, startDesk } from "../helpers/desk.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";

/** Every address in the To header of a copy. */
function toAddresses(message: SinkMessage): string[] {
  const to = message.parsed.to;
  return (Array.isArray(to) ? to : to ? [to] : []).flatMap((a) => a.value.map((v) => v.address ?? ""));
}

/** Whether any form of the address (as typed, lowercased, its local part with its domain) appears in the raw copy. */
function mentions(message: SinkMessage, address: string): boolean {
  const raw = message.raw.toString("utf8").toLowerCase();
  const decoded = `${message.parsed.text ?? ""}\n${message.parsed.html || ""}`.toLowerCase();
  return raw.includes(address) || decoded.includes(address);
}

describe("the group desk: members answer under the group's name (SPEC §5)", () => {
  let t: TestGateway;
  afterEach(() => t.dispose());

  for (const disclose of [false, true]) {
    it(`never shows a member's address to the outside person (disclose_participants = ${disclose})`, async () => {
      t = await startDesk({ gateway: { disclose_participants: disclose } });
      const { alice } = await carolWrites(t);
      await t.send({ from: ALICE, to: replyToOf(alice), subject: "Re: My order has not arrived", text: "It left the warehouse today.", html: "<p>It left the warehouse today.</p>" });
      const [first, second] = await nextMessages(t, 2, 2);
      const toCarol = copyFor([first!, second!], CAROL);
      const toBob = copyFor([first!, second!], BOB);

      expect(toCarol.parsed.from?.value).toEqual([{ address: SUPPORT, name: "Alice Agent via support" }]);
      expect(toCarol.parsed.text).toContain("It left the warehouse today.");
      expect(toCarol.parsed.html).toContain("It left the warehouse today.");
      expect(toAddresses(toCarol)).toEqual([CAROL]);
      for (const member of [ALICE, BOB]) expect(mentions(toCarol, member)).toBe(false);
      expect(toCarol.raw.toString()).not.toContain("team.test");
      // Members see each other, and the outside person, when participants are disclosed.
      expect(toAddresses(toBob).sort()).toEqual(disclose ? [ALICE, BOB, CAROL].sort() : [BOB]);
    });
  }

  it("shows a member without a name as a team member, not by the local part of their address", async () => {
    t = await startDesk({ gateway: { disclose_participants: true } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "dora.smith@team.test", role: "staff" });
      await addGroupMember(ctx, "support", "dora.smith@team.test");
    });
    await t.send({ from: CAROL, to: SUPPORT, subject: "Help", text: "Please help." });
    const copies = await t.sink.waitFor(3);
    await t.send({ from: "dora.smith@team.test", to: replyToOf(copyFor(copies, "dora.smith@team.test")), subject: "Re: Help", text: "On it." });
    const toCarol = copyFor(await nextMessages(t, 3, 3), CAROL);
    expect(toCarol.parsed.from?.value).toEqual([{ address: SUPPORT, name: "Team member via support" }]);
    expect(toCarol.parsed.text).toContain("Team member wrote this in the conversation");
    expect(toCarol.raw.toString().toLowerCase()).not.toContain("dora");
  });

  it("notify = assignee: once assigned, only the assignee among the members keeps receiving copies", async () => {
    t = await startDesk();
    await t.write((ctx) => setGroupNotify(ctx.tx, "support", "assignee"));
    const { bob } = await carolWrites(t);
    // Not assigned yet: both members got the first message.
    await t.write((ctx) => assignConversation(ctx, 1, ALICE));

    // Bob, not the assignee, still answers: Carol and the assignee get it, and Bob is not copied later.
    await t.send({ from: BOB, to: replyToOf(bob), subject: "Re: My order has not arrived", text: "Looking into it." });
    const afterBob = await nextMessages(t, 2, 2);
    expect(afterBob.map((m) => m.envelope.rcptTo[0]).sort()).toEqual([ALICE, CAROL].sort());
    const carolCopy = copyFor(afterBob, CAROL);
    await t.send({ from: CAROL, to: replyToOf(carolCopy), subject: "Re: My order has not arrived", text: "Thanks!" });
    const afterCarol = await nextMessages(t, 4, 1);
    expect(afterCarol.map((m) => m.envelope.rcptTo[0])).toEqual([ALICE]);
    const all = await settle(t, 5);
    expect(all).toHaveLength(5);

    // Back to notify = all: Bob receives the conversation again.
    await t.write((ctx) => setGroupNotify(ctx.tx, "support", "all"));
    await t.send({ from: CAROL, to: replyToOf(carolCopy), subject: "Re: My order has not arrived", text: "One more thing." });
    expect((await nextMessages(t, 5, 2)).map((m) => m.envelope.rcptTo[0]).sort()).toEqual([ALICE, BOB].sort());
  });
});
