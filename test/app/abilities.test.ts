// SPEC §6: abilities per role decide who may start conversations through which inbox, and who
// brings people in by CC; staged_users.max_per_message caps the staged users one message creates.
// Every refusal says what was refused and why.

import { afterEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { startConversation } from "../../src/domain/conversations.service.js";
import { findGroupByName } from "../../src/domain/groups.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
afterEach(() => t.dispose());

async function withSupportDesk(overrides: Parameters<typeof startTestGateway>[0]): Promise<void> {
  t = await startTestGateway(overrides);
  await t.write(async (ctx) => {
    await addUser(ctx, { email: "mia@team.test", name: "Mia" });
    await addUser(ctx, { email: "max@members.test", name: "Max" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroup(ctx, { name: "sales", inbox: "sales@example.test" });
    await addGroupMember(ctx, "support", "mia@team.test");
    await addGroupMember(ctx, "sales", "mia@team.test");
  });
}

describe("abilities.inboxes: who may start a conversation through which inbox", () => {
  it("refuses a stranger at an inbox open to members only with 550 5.7.1 naming the inbox, and stages nobody", async () => {
    await withSupportDesk({ abilities: { inboxes: { support: ["member", "staff", "admin"] } } });
    const refused = await smtpError(t.send({ from: "stan@outside.test", to: "support@example.test", subject: "Help", text: "Please." }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toBe(
      "550 5.7.1 The inbox support@example.test accepts new conversations only from members, staff or admins; stan@outside.test has no account here, so this message was not posted.",
    );
    expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@outside.test"))).toBeUndefined();

    // A member may; and the inbox not named (sales) stays open to everyone, as by default.
    expect((await t.send({ from: "max@members.test", to: "support@example.test", subject: "Help", text: "Please." })).response).toMatch(/^250 /);
    expect((await t.send({ from: "stan@outside.test", to: "sales@example.test", subject: "Quote", text: "Price?" })).response).toMatch(/^250 /);
  });

  it('"*" covers every inbox not named, and a role left out is refused with its role named', async () => {
    await withSupportDesk({ abilities: { inboxes: { "*": ["staged", "staff", "admin"] } } });
    const refused = await smtpError(t.send({ from: "max@members.test", to: "sales@example.test", subject: "Quote", text: "Price?" }));
    expect(refused?.response).toMatch(/^550 5\.7\.1 The inbox sales@example\.test accepts new conversations only from people without an account, staff or admins; max@members\.test has the role member, so this message was not posted\.$/);
    expect((await t.send({ from: "stan@outside.test", to: "sales@example.test", subject: "Quote", text: "Price?" })).response).toMatch(/^250 /);
  });

  it("an inbox closed to everyone says so; replies in its existing conversations still arrive", async () => {
    await withSupportDesk({ abilities: { inboxes: { support: [] } } });
    const refused = await smtpError(t.send({ from: "mia@team.test", to: "support@example.test", subject: "New", text: "Hi." }));
    expect(refused?.response).toBe("550 5.7.1 The inbox support@example.test does not accept new conversations, so this message was not posted.");

    // A conversation the desk had before the rule changed: the desk still answers in it.
    await t.write(async (ctx) => {
      const group = (await findGroupByName(ctx.tx, "support"))!;
      const max = (await findUserByEmail(ctx.tx, "max@members.test"))!;
      await startConversation(ctx, { kind: "inbox", group, subject: "Earlier", author: max, recipients: [], post: { body: "Earlier question.", rawBody: "Earlier question." } });
    });
    const mia = (await t.read(({ tx }) => findUserByEmail(tx, "mia@team.test")))!;
    const [toMia] = await t.sink.waitFor(1);
    expect(toMia!.envelope.rcptTo).toEqual([mia.email]);
    const answer = await t.send({ from: "mia@team.test", to: toMia!.parsed.replyTo!.value[0]!.address!, subject: "Re: Earlier", text: "Answered." });
    expect(answer.response).toMatch(/^250 .*reply posted/);
  });
});

describe("staged_users.max_per_message on CC", () => {
  it("adds at most that many new staged users from one reply, and logs why the others were not added", async () => {
    await withSupportDesk({ staged_users: { max_per_message: 1 }, consent: { kinds: [] } });
    await t.write((ctx) => createConversation(ctx, { from: "mia@team.test", to: ["max@members.test"], subject: "Plan", body: "The plan." }));
    const [toMax] = await t.sink.waitFor(1);
    const info = await t.send({
      from: "max@members.test",
      to: toMax!.parsed.replyTo!.value[0]!.address!,
      cc: ["one@third.test", "two@third.test", "mia@team.test"],
      subject: "Re: Plan",
      text: "Adding my colleagues.",
    });
    expect(info.response).toMatch(/added one@third\.test; not added: two@third\.test \(more than 1 new staged users in one message, staged_users\.max_per_message\)/);
    const people = (await t.read(({ tx }) => participantsWithUsers(tx, 1))).map((p) => p.user.email);
    expect(people).toEqual(["mia@team.test", "max@members.test", "one@third.test"]);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "two@third.test"))).toBeUndefined();
    const [entry] = await t.read(({ tx }) => listMailLog(tx, { limit: 1 }));
    expect(entry?.reason).toMatch(/staged_users\.max_per_message/);
  });

  it("members without invite_by_cc bring nobody in by CC", async () => {
    await withSupportDesk({ abilities: { invite_by_cc: ["staff", "admin"] }, consent: { kinds: [] } });
    await t.write((ctx) => createConversation(ctx, { from: "mia@team.test", to: ["max@members.test"], subject: "Plan", body: "The plan." }));
    const [toMax] = await t.sink.waitFor(1);
    const info = await t.send({ from: "max@members.test", to: toMax!.parsed.replyTo!.value[0]!.address!, cc: "one@third.test", subject: "Re: Plan", text: "Adding one." });
    expect(info.response).toMatch(/not added: one@third\.test \(the author may not invite by CC\)/);
  });
});
