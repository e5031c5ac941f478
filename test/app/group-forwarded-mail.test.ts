// Issue 12: a support inbox fed through a Google Group (or a forwarder) once staged the inbox
// itself as a user, so answers went back into Postern and the customer never heard back, and
// Google Groups' `Precedence: list` made every such mail silently ignored. A group-forwarded
// message to an inbox is the customer's: the author is X-Original-From, else Reply-To. Its
// author claim is unauthenticated, so it may start a conversation or reply through a token as
// any stranger may, never thread by Message-ID nor post as a member. All over real SMTP.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listConversationSummaries, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { startDesk } from "../helpers/desk.js";
import { smtpError, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");
const to = (m: SinkMessage) => m.envelope.rcptTo[0];
const GROUP_BOUNCES = "support+bncBDV5JYGWQ4DBBQ@example.test";

describe("mail a group or forwarder passes on to an inbox", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startDesk();
    await t.write((ctx) => addUser(ctx, { email: "molly@team.test", name: "Molly Member", username: "molly" }));
  });
  afterEach(() => t.dispose());

  const send = (raw: string, envelopeFrom = GROUP_BOUNCES, rcpt = "support@example.test") => t.send({ envelope: { from: envelopeFrom, to: [rcpt] }, raw });
  const conversations = () => t.read(({ tx }) => listConversationSummaries(tx));
  async function settle(count: number): Promise<SinkMessage[]> {
    if (count > 0) await t.sink.waitFor(count);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(t.sink.messages).toHaveLength(count);
    return [...t.sink.messages];
  }

  it("a Google Group at the inbox's address: the customer in X-Original-From is the author, and hears back", async () => {
    const info = await send(fixture("group_forward_google_x_original_from.eml"));
    expect(info.response).toMatch(
      /^250 2\.0\.0 Accepted: new inbox conversation for support; passed on by support@example\.test; author carla\.reyes@customer\.test from X-Original-From/,
    );
    expect(await t.read(({ tx }) => findUserByEmail(tx, "support@example.test"))).toBeUndefined();
    expect(await t.read(({ tx }) => findUserByEmail(tx, "carla.reyes@customer.test"))).toMatchObject({ status: "staged", name: "Carla Reyes" });
    const participants = await t.read(({ tx }) => participantsWithUsers(tx, 1));
    expect(participants.map((p) => p.user.email)).toEqual(["carla.reyes@customer.test", "alice@team.test", "bob@team.test"]);
    const [post] = await t.read(({ tx }) => listPosts(tx, 1));
    expect(post!.body).toContain("I asked for a login link three times this morning and none arrived.");

    const copies = await t.sink.waitFor(2);
    const alices = copies.find((m) => to(m) === "alice@team.test")!;
    expect(alices.parsed.from?.value[0]).toEqual({ address: "support@example.test", name: "Carla Reyes via support" });
    // The team's answer reaches the customer herself, not the group.
    await t.send({ from: "alice@team.test", to: alices.parsed.replyTo!.value[0]!.address!, subject: "Re: Login link does not arrive", text: "Sent a new link just now." });
    const answer = (await t.sink.waitFor(4)).slice(2);
    expect(answer.map(to).sort()).toEqual(["bob@team.test", "carla.reyes@customer.test"]);
  });

  it("a forwarder that only sets Reply-To: the Reply-To address is the author", async () => {
    const info = await send(fixture("group_forward_reply_to_only.eml"), "srs0=ab12=vz=customer.test=ivo.petrov@forwarder.example.test");
    expect(info.response).toMatch(/new inbox conversation for support; passed on by support@example\.test; author ivo\.petrov@customer\.test from Reply-To/);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "ivo.petrov@customer.test"))).toMatchObject({ status: "staged", name: "Ivo Petrov" });
    expect(await t.read(({ tx }) => findUserByEmail(tx, "support@example.test"))).toBeUndefined();
  });

  it("a Google Group that kept the customer's From: Precedence: list no longer hides the mail", async () => {
    const raw = fixture("group_forward_google_x_original_from.eml")
      .replace(`From: "'Carla Reyes' via Support" <support@example.test>`, "From: Carla Reyes <carla.reyes@customer.test>")
      .replace("Mailing-list: list support@example.test", "Mailing-list: list helpdesk@googlegroups.com")
      .replace(/^List-Post: .*$/m, "List-Post: <mailto:helpdesk@googlegroups.com>");
    const info = await send(raw);
    expect(info.response).toMatch(/new inbox conversation for support; passed on by helpdesk@googlegroups\.com; author carla\.reyes@customer\.test from From/);
    expect(await conversations()).toHaveLength(1);
  });

  it("a real mailing list stays automatic: Mailman to the inbox, and list mail to a member's alias", async () => {
    const mailman = fixture("precedence_list_mailman.eml");
    const toInbox = await send(mailman, "facilities-bounces@lists.customer.test");
    expect(toInbox.response).toMatch(/Received and not posted \(automatic: Precedence: list\)/);
    // Even a Google Group's mail to a member's alias is list mail: only an inbox takes it as a person's.
    const google = fixture("group_forward_google_x_original_from.eml")
      .replace(`From: "'Carla Reyes' via Support" <support@example.test>`, "From: Carla Reyes <carla.reyes@customer.test>")
      .replace("Message-ID: <CAGx4w9r2H7pLq3Vt8Ys1Kd6Fm0Nb5Jc2We9Uo4Ti7Qa=Zp1@mail.customer.test>", "Message-ID: <to-molly@mail.customer.test>");
    const toAlias = await send(google, GROUP_BOUNCES, "molly@example.test");
    expect(toAlias.response).toMatch(/Received and not posted \(automatic: Precedence: list\)/);
    expect(await conversations()).toHaveLength(0);
    await settle(0);
  });

  it("Postern's own copy coming back through the group is dropped by the loop guard", async () => {
    const info = await send(fixture("group_forward_loop_own_copy.eml"));
    expect(info.response).toMatch(/Received and not posted \(loop: this message was sent by Postern itself\)/);
    // A group that rewrote the Message-ID: the author it names is the inbox itself.
    const rewritten = fixture("group_forward_loop_own_copy.eml").replace(/^Message-ID: .*$/m, "Message-ID: <rewritten-by-group@example.test>");
    const again = await send(rewritten);
    expect(again.response).toMatch(/Received and not posted \(loop: From is the inbox support@example\.test itself and its X-Original-From support@example\.test is Postern's own address\)/);
    // Nor the reply address it carries in Reply-To, when X-Original-From is gone.
    const replyTo = rewritten.replace(/^X-Original-From: .*\r?\n/m, "").replace("<rewritten-by-group@example.test>", "<rewritten-2@example.test>");
    expect((await send(replyTo)).response).toMatch(/loop: From is the inbox support@example\.test itself and its Reply-To reply\+a+@example\.test is Postern's own address/);
    // From the inbox and naming nobody: nobody to answer, nothing staged.
    const nobody = fixture("group_forward_reply_to_only.eml").replace(/^Reply-To: .*\r?\n/m, "");
    expect((await send(nobody)).response).toMatch(/loop: From is the inbox support@example\.test itself and no original author is named/);
    expect(await conversations()).toHaveLength(0);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "support@example.test"))).toBeUndefined();
    const log = await t.read(({ tx }) => listMailLog(tx, {}));
    expect(log.filter((e) => e.outcome === "ignored")).toHaveLength(4);
    await settle(0);
  });

  it("never posts as a member by naming them: X-Original-From of a staff member is refused 550 5.7.1", async () => {
    const raw = fixture("group_forward_google_x_original_from.eml")
      .replace("X-Original-From: Carla Reyes <carla.reyes@customer.test>", "X-Original-From: Alice Agent <alice@team.test>");
    const error = await smtpError(send(raw));
    expect(error?.response).toMatch(/^550 5\.7\.1 This message was passed on by support@example\.test, which names alice@team\.test as its author/);
    expect(await conversations()).toHaveLength(0);
  });

  it("never threads by Message-ID: naming a participant and answering their conversation is refused, not posted", async () => {
    await send(fixture("group_forward_google_x_original_from.eml"));
    const [copy] = await t.sink.waitFor(2);
    const followUp = fixture("group_forward_google_x_original_from.eml")
      .replace(/^Message-ID: .*$/m, `Message-ID: <follow-up@mail.customer.test>\r\nIn-Reply-To: ${copy!.parsed.messageId}`)
      .replace("Subject: Login link does not arrive", "Subject: Re: Login link does not arrive");
    const error = await smtpError(send(followUp));
    expect(error?.response).toMatch(/^550 5\.7\.1 This message answers the conversation "Login link does not arrive", but the domain of carla\.reyes@customer\.test could not be authenticated/);
    expect(await t.read(({ tx }) => listPosts(tx, 1))).toHaveLength(1);
  });

  it("mail From an address of the gateway that is no inbox never becomes a staged user", async () => {
    const error = await smtpError(t.send({ from: "random@example.test", to: "support@example.test", subject: "Hi", text: "Who am I?" }));
    expect(error?.response).toMatch(/^550 .*random@example\.test is an address of this gateway/);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "random@example.test"))).toBeUndefined();
  });
});
