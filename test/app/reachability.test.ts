// SPEC §6: a user can refuse new conversations (messages off); a user inactive for longer than
// reachability.inactive_days cannot be brought into new conversations; the refusal says why and,
// to someone who wrote to a member's alias, never discloses the member's own address.
// Conversations they already take part in go on as before.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail, updateUser } from "../../src/domain/users.repo.js";
import { addUser, setUserSettings } from "../../src/domain/users.service.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

const DAY = 86_400_000;

describe("reachability over SMTP", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startTestGateway({ reachability: { inactive_days: 15 }, consent: { kinds: [] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@home.test", name: "Alice" });
      await addUser(ctx, { email: "quinn@private.test", name: "Quinn", username: "quinn" });
    });
  });
  afterEach(() => t.dispose());

  const quinn = () => t.read(async ({ tx }) => (await findUserByEmail(tx, "quinn@private.test"))!);
  const goQuiet = (days: number) => t.write(async ({ tx }) => updateUser(tx, (await findUserByEmail(tx, "quinn@private.test"))!.id, { lastActiveAt: Date.now() - days * DAY }));

  it("refuses mail to the alias of an inactive member with 550 5.2.1, naming the alias and not the address", async () => {
    await goQuiet(20);
    const refused = await smtpError(t.send({ from: '"Stan" <stan@outside.test>', to: "Quinn@example.test", subject: "Hello", text: "Are you there?" }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toBe(
      "550 5.2.1 quinn@example.test cannot be brought into new conversations: they have not been active for more than 15 days.",
    );
    expect(refused?.response).not.toContain("private.test");
    const [entry] = await t.read(({ tx }) => listMailLog(tx, { outcomes: ["rejected"] }));
    expect(entry?.reason).toMatch(/^user_unreachable: quinn@example\.test cannot be brought/);
    // Nothing was created for the stranger's message, and nobody was written to.
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@outside.test"))).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(t.sink.messages).toHaveLength(0);
  });

  it("accepts the same mail from a member active within the limit", async () => {
    await goQuiet(14);
    const info = await t.send({ from: "stan@outside.test", to: "quinn@example.test", subject: "Hello", text: "Are you there?" });
    expect(info.response).toMatch(/^250 .*new direct conversation with quinn@example\.test/);
  });

  it("does not apply to a conversation they already take part in: copies reach them, their reply makes them reachable again", async () => {
    await t.write((ctx) => createConversation(ctx, { from: "alice@home.test", to: ["quinn@private.test"], subject: "Old topic", body: "Before you went quiet." }));
    const [toQuinn] = await t.sink.waitFor(1);
    const quinnsAddress = toQuinn!.parsed.replyTo!.value[0]!.address!;
    await t.send({ from: "quinn@private.test", to: quinnsAddress, subject: "Re: Old topic", text: "Noted." });
    const [, toAlice] = await t.sink.waitFor(2);
    await goQuiet(30);

    // Alice writes on in the old conversation: the copy reaches Quinn all the same.
    await t.send({ from: "alice@home.test", to: toAlice!.parsed.replyTo!.value[0]!.address!, subject: "Re: Old topic", text: "Still there?" });
    const [, , third] = await t.sink.waitFor(3);
    expect(third!.envelope.rcptTo).toEqual(["quinn@private.test"]);
    const quinnId = (await quinn()).id;
    expect((await t.read(({ tx }) => findParticipant(tx, 1, quinnId)))?.state).toBe("active");

    // Quinn answers: a reply is never refused for inactivity, and it counts as activity.
    await t.send({ from: "quinn@private.test", to: quinnsAddress, subject: "Re: Old topic", text: "Back now." });
    expect((await quinn()).lastActiveAt).toBeGreaterThan(Date.now() - DAY);
    const info = await t.send({ from: "stan@outside.test", to: "quinn@example.test", subject: "Hello", text: "Are you there?" });
    expect(info.response).toMatch(/^250 /);
  });

  it("someone who turned messages off, or went quiet, is skipped when CC'd on a reply, with the reason in the mail log", async () => {
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "mute@home.test", name: "Mute" });
      await setUserSettings(ctx.tx, "mute@home.test", { messagesEnabled: false });
      await createConversation(ctx, { from: "alice@home.test", to: ["quinn@private.test"], subject: "Topic", body: "Hello." });
    });
    const [copy] = await t.sink.waitFor(1);
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "gone@home.test", name: "Gone" });
      await updateUser(ctx.tx, (await findUserByEmail(ctx.tx, "gone@home.test"))!.id, { lastActiveAt: Date.now() - 40 * DAY });
    });
    const info = await t.send({
      from: "quinn@private.test",
      to: copy!.parsed.replyTo!.value[0]!.address!,
      cc: ["mute@home.test", "gone@home.test"],
      subject: "Re: Topic",
      text: "Copying two colleagues.",
    });
    expect(info.response).toMatch(/not added: mute@home\.test \(does not accept messages\); gone@home\.test \(inactive for more than 15 days \(reachability\.inactive_days\)\)/);
    const [, toAlice] = await t.sink.waitFor(2);
    expect(toAlice!.envelope.rcptTo).toEqual(["alice@home.test"]);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(t.sink.messages).toHaveLength(2);
  });
});
