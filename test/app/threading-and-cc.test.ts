import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { participantsWithUsers } from "../../src/domain/conversations.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { deliveries } from "../../schema/schema.js";
import { dmarcPassDns } from "../helpers/dns.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

// Mail without a token threads only when its From domain passes DMARC (SPEC §3): these domains do,
// through a fake DNS that authorizes the test client's address.
const PASSING_DNS = dmarcPassDns(["client.test", "staff.test"]);

describe("threading without a token, and people CC'd on a reply", () => {
  let t: TestGateway;

  beforeEach(async () => {
    // Dana is staged (a stranger Sam wrote to); these tests are about CC itself, so staged users may invite by CC here.
    t = await startTestGateway({ staged_users: { invite_by_cc: true } }, { resolver: PASSING_DNS });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", name: "Sam Staff", role: "staff" });
      await createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test"], subject: "Contract", body: "Here is the draft contract." });
    });
  });
  afterEach(() => t.dispose());

  const user = (email: string) => t.read(({ tx }) => findUserByEmail(tx, email));
  const people = async () => (await t.read(({ tx }) => participantsWithUsers(tx, 1))).map((p) => p.user.email);
  const lastLogReason = async () => (await t.read(({ tx }) => listMailLog(tx, { limit: 1 })))[0]!.reason;

  it("starts a CLI conversation whose unknown recipient is staged and invited by the author", async () => {
    const [copy] = await t.sink.waitFor(1);
    expect(copy!.envelope.rcptTo).toEqual(["dana@client.test"]);
    expect(copy!.parsed.from?.value[0]).toEqual({ address: "conversations@example.test", name: "Sam Staff via Acme" });
    const dana = (await user("dana@client.test"))!;
    expect(dana.status).toBe("staged");
    expect(dana.invitedById).toBe((await user("sam@staff.test"))!.id);
  });

  it("joins a reply sent to the From address through In-Reply-To, only from a participant", async () => {
    const [copy] = await t.sink.waitFor(1);
    const messageId = copy!.parsed.messageId!;
    // A client that ignores Reply-To answers the From address, keeping the threading headers.
    const accepted = await t.send({ from: "dana@client.test", to: "conversations@example.test", subject: "Re: Contract", text: "Signed.", inReplyTo: messageId, references: messageId });
    expect(accepted.response).toMatch(/reply posted to conversation 1/);
    const [, toSam] = await t.sink.waitFor(2);
    expect(toSam!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(toSam!.parsed.text).toContain("Signed.");

    const outsider = await smtpError(
      t.send({ from: "eve@other.test", to: "conversations@example.test", subject: "Re: Contract", text: "Me too", inReplyTo: messageId }),
    );
    expect(outsider?.responseCode).toBe(550);
    expect(outsider?.response).toMatch(/5\.7\.1 eve@other\.test is not taking part/);

    const unthreaded = await smtpError(t.send({ from: "dana@client.test", to: "conversations@example.test", subject: "Hello", text: "New topic" }));
    expect(unthreaded?.responseCode).toBe(550);
    expect(unthreaded?.response).toMatch(/only receives replies to conversations/);
  });

  it("adds people CC'd on a reply, staged if unknown, without sending them that message again", async () => {
    const [copy] = await t.sink.waitFor(1);
    await t.send({
      from: "dana@client.test",
      to: copy!.parsed.replyTo!.value[0]!.address!,
      cc: ['"Lee Lawyer" <lee@law.test>', "sam@staff.test"],
      subject: "Re: Contract",
      text: "Looping in our lawyer.",
    });
    // Sam and Lee were written to directly, so Postern queues no copy of this post for anyone.
    const queued = await t.read(({ tx }) => tx.db.select().from(deliveries).where(eq(deliveries.postId, 2)));
    expect(queued).toHaveLength(0);
    expect(await people()).toEqual(["sam@staff.test", "dana@client.test", "lee@law.test"]);
    expect(await user("lee@law.test")).toMatchObject({ status: "staged", name: "Lee Lawyer" });
    expect(await lastLogReason()).toMatch(/added lee@law\.test/);

    await t.send({ from: "sam@staff.test", to: "conversations@example.test", subject: "Re: Contract", text: "Welcome, Lee.", inReplyTo: copy!.parsed.messageId! });
    // Besides: Lee's catch-up of the posts before Dana's reply, and Sam told that Lee joined.
    const later = (await t.sink.waitFor(5)).filter((m) => m.parsed.text?.includes("Welcome, Lee."));
    expect(later.map((m) => m.envelope.rcptTo[0]).sort()).toEqual(["dana@client.test", "lee@law.test"]);
  });

  it("a Cc with an IDN domain, a folded entry parsing as d@ and a trailing-dot domain is accepted, normalised, and the unusable entry named", async () => {
    const [copy] = await t.sink.waitFor(1);
    const replyTo = copy!.parsed.replyTo!.value[0]!.address!;
    const raw = [
      "From: dana@client.test",
      `To: ${replyTo}`,
      "Cc: bob@bücher.example,",
      " d@",
      " , foo@bar.com.",
      "Subject: Re: Contract",
      "Message-ID: <odd-cc@client.test>",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "Adding two colleagues.",
      "",
    ].join("\r\n");
    const info = await t.send({ envelope: { from: "dana@client.test", to: [replyTo] }, raw: Buffer.from(raw, "utf8") });
    expect(info.response).toMatch(/^250 .*reply posted to conversation 1/);

    expect(await people()).toEqual(["sam@staff.test", "dana@client.test", "bob@xn--bcher-kva.example", "foo@bar.com"]);
    expect(await user("bob@xn--bcher-kva.example")).toMatchObject({ status: "staged" });
    expect(await user("foo@bar.com")).toMatchObject({ status: "staged" });
    const reason = await lastLogReason();
    expect(reason).toMatch(/added bob@xn--bcher-kva\.example, foo@bar\.com/);
    expect(reason).toMatch(/not added: "d@" \("d@" has no domain\)/);
  });
});

describe("the cap on people joining by CC", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway({ conversations: { max_cc_participants: 2 }, staged_users: { invite_by_cc: true } }, { resolver: PASSING_DNS });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", role: "staff" });
      await createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test"], subject: "Plan", body: "Plan attached." });
    });
  });
  afterEach(() => t.dispose());

  it("adds at most the configured number of CC'd addresses and says who was left out", async () => {
    const [copy] = await t.sink.waitFor(1);
    await t.send({
      from: "dana@client.test",
      to: copy!.parsed.replyTo!.value[0]!.address!,
      cc: ["one@c.test", "two@c.test", "three@c.test"],
      subject: "Re: Plan",
      text: "Adding my team.",
    });
    const people = (await t.read(({ tx }) => participantsWithUsers(tx, 1))).map((p) => p.user.email);
    expect(people).toEqual(["sam@staff.test", "dana@client.test", "one@c.test", "two@c.test"]);
    expect((await t.read(({ tx }) => listMailLog(tx)))[0]!.reason).toMatch(/not added: three@c\.test \(more than 2 CC'd addresses\)/);
  });
});
