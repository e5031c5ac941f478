// SPEC §3: Postern must not become a way to mail third parties. The attack: a stranger writes to a
// group inbox with ten foreign addresses in Cc, then replies into the conversation, hoping Postern
// copies every message to all of them "From: Spammer via support". Over real SMTP, nothing of it
// reaches the ten; the team sees who was copied in the mail log and may bring people in itself.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { dmarcPassDns } from "../helpers/dns.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const STRANGER = "spammer@spam.test";
const VICTIMS = Array.from({ length: 10 }, (_, i) => `victim${i + 1}@third.test`);
const STAGED_REASON = "the author is not a member, and staged users may not invite by CC (staged_users.invite_by_cc)";

describe("a stranger cannot relay mail to third parties through Cc", () => {
  let t: TestGateway;

  beforeEach(async () => {
    // The follow-ups thread without a token, which needs a DMARC pass (SPEC §3): a fake DNS gives one.
    t = await startTestGateway({}, { resolver: dmarcPassDns(["spam.test", "team.test"]) });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "mia@team.test", name: "Mia Member", role: "member" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "mia@team.test");
    });
  });
  afterEach(() => t.dispose());

  const people = async () => (await t.read(({ tx }) => participantsWithUsers(tx, 1))).filter((p) => p.participant.state === "active").map((p) => p.user.email);
  const logReason = async (messageId: string) =>
    (await t.read(({ tx }) => listMailLog(tx, { limit: 50 }))).find((entry) => entry.messageId === messageId)?.reason ?? "";
  const recipientsSoFar = () => t.sink.messages.flatMap((m) => m.envelope.rcptTo);

  it("copies neither the first message nor a threaded follow-up to the addresses a stranger CC'd; a member may bring them in", async () => {
    // 1. The stranger's first message, with ten foreign addresses in Cc.
    const first = await t.send({
      from: '"Spammer" <spammer@spam.test>',
      to: "support@example.test",
      cc: VICTIMS,
      subject: "Great offer",
      text: "Buy now.",
      messageId: "<first@spam.test>",
    });
    expect(first.response).toMatch(/^250 /);
    expect(await people()).toEqual([STRANGER, "mia@team.test"]);
    for (const victim of VICTIMS) expect(await t.read(({ tx }) => findUserByEmail(tx, victim))).toBeUndefined();
    // The team sees who was copied, each with the reason it was not added.
    const firstReason = await logReason("<first@spam.test>");
    expect(firstReason).toMatch(/^new inbox conversation for support; not added: /);
    for (const victim of VICTIMS) expect(firstReason).toContain(`${victim} (${STAGED_REASON})`);

    const [toMia] = await t.sink.waitFor(1);
    expect(toMia!.envelope.rcptTo).toEqual(["mia@team.test"]);

    // 2. A follow-up threaded on the first message, again with the ten in Cc.
    const second = await t.send({
      from: '"Spammer" <spammer@spam.test>',
      to: "support@example.test",
      cc: VICTIMS,
      subject: "Re: Great offer",
      text: "Last chance.",
      messageId: "<second@spam.test>",
      inReplyTo: "<first@spam.test>",
      references: "<first@spam.test>",
    });
    expect(second.response).toMatch(/^250 /);
    expect(await logReason("<second@spam.test>")).toMatch(/reply posted to conversation 1/);
    for (const victim of VICTIMS) expect(await logReason("<second@spam.test>")).toContain(`${victim} (${STAGED_REASON})`);
    const [, followUp] = await t.sink.waitFor(2);
    expect(followUp!.envelope.rcptTo).toEqual(["mia@team.test"]);
    expect(followUp!.parsed.text).toContain("Last chance.");
    expect(await people()).toEqual([STRANGER, "mia@team.test"]);

    // 3. Mia answers from her copy with two of them in Cc: a member's CC brings them in.
    const miaReplyTo = toMia!.parsed.replyTo!.value[0]!.address!;
    await t.send({
      from: "mia@team.test",
      to: miaReplyTo,
      cc: [VICTIMS[0]!, VICTIMS[1]!],
      subject: "Re: Great offer",
      text: "Looping in the two of you.",
    });
    expect(await people()).toEqual([STRANGER, "mia@team.test", VICTIMS[0], VICTIMS[1]]);
    // Only the stranger gets a copy of Mia's reply from Postern: the two were written to by Mia directly.
    // Added later by a member, the two get one catch-up each (the posts before Mia's reply), and the
    // stranger is told who joined, once per person.
    const later = (await t.sink.waitFor(7)).slice(2);
    const toStranger = later.filter((m) => m.envelope.rcptTo[0] === STRANGER);
    expect(toStranger.filter((m) => m.parsed.text?.includes("Looping in the two of you."))).toHaveLength(1);
    expect(toStranger.filter((m) => /joined the conversation/.test(m.parsed.text ?? ""))).toHaveLength(2);
    for (const victim of [VICTIMS[0]!, VICTIMS[1]!]) {
      const [catchUp, ...more] = later.filter((m) => m.envelope.rcptTo[0] === victim);
      expect(more).toHaveLength(0);
      expect(catchUp!.parsed.text).toContain("Buy now.");
      expect(catchUp!.parsed.text).not.toContain("Looping in the two of you.");
    }

    // Give the outbound worker time to send anything else it (wrongly) queued.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const delivered = recipientsSoFar();
    expect(delivered.sort()).toEqual(["mia@team.test", "mia@team.test", STRANGER, STRANGER, STRANGER, VICTIMS[0], VICTIMS[1]].sort());
    for (const victim of VICTIMS.slice(2)) expect(delivered).not.toContain(victim);
  });
});
