// Bounce scoring end to end (SPEC §3): bounce reports arrive over SMTP at the VERP address of
// each copy; once the recipient's score reaches the threshold, nothing more is sent to them.
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation } from "../../src/domain/records.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser, setUserSettings } from "../../src/domain/users.service.js";
import { deliveries } from "../../schema/schema.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

describe("bounce scoring", () => {
  let t: TestGateway;
  let conversation: Conversation;

  beforeEach(async () => {
    // No invitation first: the copies are posts from the start.
    t = await startTestGateway({ consent: { kinds: [] } });
    conversation = await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", name: "Sam Staff", role: "admin" });
      await addUser(ctx, { email: "dana@client.test", name: "Dana Client" });
      const created = await createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test", "erin@client.test"], subject: "Contract", body: "Draft attached." });
      return (await findConversation(ctx.tx, created.conversation.id))!;
    });
    await t.sink.waitFor(2);
  });
  afterEach(() => t.dispose());

  const postBySam = (body: string) =>
    t.write(async (ctx) => {
      const sam = (await findUserByEmail(ctx.tx, "sam@staff.test"))!;
      const current = (await findConversation(ctx.tx, conversation.id))!;
      const post = await createPost(ctx, current, { author: sam, body, rawBody: body });
      await publishPost(ctx, current, post);
      return post;
    });
  const copiesTo = (address: string) => t.sink.messages.filter((m) => m.envelope.rcptTo.includes(address));
  const bounceLast = async (eml = "bounce_dsn_hard.eml") => {
    const copy = copiesTo("dana@client.test").at(-1)!;
    const address = copy.envelope.mailFrom;
    // Each report is a message of its own: a repeated Message-ID would be a duplicate.
    const raw = fixture(eml).replace("BOUNCE_ADDRESS", address).replace(/^(Message-I[Dd]: <)/m, `$1${t.sink.messages.length}.`);
    return t.send({ envelope: { from: "", to: [address] }, raw });
  };
  const dana = () => t.read(async ({ tx }) => (await findUserByEmail(tx, "dana@client.test"))!);
  const danaDeliveries = async () => (await t.read(({ tx }) => tx.db.select().from(deliveries))).filter((d) => d.toAddress === "dana@client.test");

  it("stops mail to an address after two hard bounces, and resumes it after --reset-bounces", async () => {
    expect((await bounceLast()).response).toMatch(/^250 /);
    expect(await dana()).toMatchObject({ bounceScore: 2, bouncingSince: null });

    await postBySam("Second try.");
    await t.sink.waitFor(4);
    const second = await bounceLast();
    expect(second.response).toMatch(/^250 /);
    expect((await t.read(({ tx }) => listMailLog(tx)))[0]!.reason).toMatch(/mail to dana@client.test stopped \(bounce score 4\)/);
    const stopped = await dana();
    expect(stopped.bounceScore).toBe(4);
    expect(stopped.bouncingSince).not.toBeNull();

    // The third post queues nothing for her: no copy, no retry for days. Erin's copy says so, once.
    const third = await postBySam("Third try.");
    expect((await danaDeliveries()).filter((d) => d.postId === third.id)).toEqual([]);
    await t.sink.waitFor(5);
    const toErin = () => copiesTo("erin@client.test").map((m) => m.parsed.text ?? "");
    expect(toErin()[2]).toContain("Dana Client is not receiving mail from this conversation any more: mail to their address kept bouncing.");
    expect(toErin()[1]).not.toContain("not receiving mail");
    await postBySam("Fourth try.");
    await t.sink.waitFor(6);
    expect(toErin()[3]).toContain("Fourth try.");
    expect(toErin()[3]).not.toContain("not receiving mail");
    expect(copiesTo("dana@client.test")).toHaveLength(2);

    await t.write(({ tx }) => setUserSettings(tx, "dana@client.test", { resetBounces: true }));
    await postBySam("Fifth try.");
    await t.sink.waitFor(8);
    expect(copiesTo("dana@client.test").at(-1)!.parsed.text).toContain("Fifth try.");
  });

  it("does not count a delayed-delivery report", async () => {
    expect((await bounceLast("bounce_postfix_delayed.eml")).response).toMatch(/^250 /);
    expect(await dana()).toMatchObject({ bounceScore: 0 });
  });
});
