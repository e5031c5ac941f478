import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { addGroupMember, removeGroupMember } from "../../src/domain/groups.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation, Delivery, Group, Post, User } from "../../src/domain/records.js";
import { compose, draftDelivery, RenderError } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, DOMAIN, seedDeskConversation, seedParticipant, seedUser, T0 } from "../helpers/seed.js";

/** The group desk as copies show it: notes, threading and addresses per reader (SPEC §2, §5). */
let t: TestStore;
let config: Config;
let alice: User;
let bob: User;
let carol: User;
let group: Group;
let conversation: Conversation;
let first: Post;

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
  ({ alice, bob, carol, group, conversation, first } = await seedDeskConversation(t));
});
afterEach(() => t.dispose());

function write(author: User, options: { note?: boolean; parentId?: number; body?: string } = {}): Promise<Post> {
  const body = options.body ?? "Text.";
  return t.write(async (ctx) => {
    const post = await createPost(ctx, conversation, { author, body, rawBody: body, note: options.note ?? false, ...(options.parentId ? { parentId: options.parentId } : {}) });
    return publishPost(ctx, conversation, post);
  }, T0 + 1000);
}

const copyOf = (post: Post, user: User): Promise<Delivery> => t.read((ctx) => deliveryOf(ctx, post.id, user.id));

async function render(delivery: Delivery, cfg = config) {
  const rendered = await compose(await t.read(({ tx }) => draftDelivery(tx, cfg, delivery)));
  return { ...rendered, mail: await simpleParser(rendered.raw) };
}

describe("draftPostDelivery: the desk", () => {
  it("sends a note to a member marked as one, answering as a note", async () => {
    const note = await write(alice, { note: true, body: "Refund approved." });
    const delivery = await copyOf(note, bob);
    const { mail, raw } = await render(delivery);
    const bobParticipant = await t.read(({ tx }) => findParticipant(tx, conversation.id, bob.id));
    expect(mail.from?.value).toEqual([{ name: "Alice Agent via support (internal note)", address: `support@${DOMAIN}` }]);
    expect(mail.replyTo?.value[0]?.address).toBe(`note+${bobParticipant!.replyToken}@${DOMAIN}`);
    expect(raw.toString()).toContain(`List-Post: <mailto:note+${bobParticipant!.replyToken}@${DOMAIN}>`);
    expect(mail.text).toMatch(/^\[Internal note\]/);
    expect(mail.text).toContain(`send an email to reply+${bobParticipant!.replyToken}@${DOMAIN}.`);
    expect(mail.text).toContain(`private+${delivery.bounceToken}@${DOMAIN}`);
    expect(mail.subject).toBe("Re: Broken widget");
  });

  it("skips a note's copy to someone who left the group before it went out", async () => {
    const note = await write(alice, { note: true });
    const delivery = await copyOf(note, bob);
    await t.write(({ tx }) => removeGroupMember(tx, "support", bob.email));
    const error = await t.read(({ tx }) => draftDelivery(tx, config, delivery)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RenderError);
    expect((error as RenderError).outcome).toBe("skipped");
  });

  it("threads the outside person's copy past a note, even one a post names as its parent", async () => {
    const note = await write(alice, { note: true });
    // A public post whose parent is a note (createPost never picks one, but a parent may be given).
    const reply = await write(bob, { parentId: note.id, body: "Fixed." });
    const toCarol = (await render(await copyOf(reply, carol))).mail;
    expect(toCarol.inReplyTo).toBe(first.messageId);
    expect(toCarol.references).toBe(first.messageId);
    expect(toCarol.subject).toBe("Re: Broken widget");
    const toAlice = (await render(await copyOf(reply, alice))).mail;
    expect(toAlice.inReplyTo).toBe(note.messageId);
    expect(toAlice.references).toEqual([first.messageId, note.messageId]);
  });

  it("gives members note and private addresses, and the outside person neither", async () => {
    const reply = await write(alice, { body: "On it." });
    const toBob = await copyOf(reply, bob);
    const bobText = (await render(toBob)).mail.text ?? "";
    expect(bobText).toMatch(/send it to note\+[a-z2-7]+@example\.test\./);
    expect(bobText).toContain(`send it to private+${toBob.bounceToken}@${DOMAIN}.`);
    const carolRaw = (await render(await copyOf(reply, carol))).raw.toString();
    expect(carolRaw).not.toMatch(/note\+|private\+/);
    // The outside person's own post: members get a note address but no private one.
    const fromCarol = await write(carol, { body: "Thanks." });
    const aliceText = (await render(await copyOf(fromCarol, alice))).mail.text ?? "";
    expect(aliceText).toMatch(/note\+/);
    expect(aliceText).not.toMatch(/private\+/);
  });

  it("with disclose_participants, shows the outside person the other outside people only", async () => {
    const disclosing = buildConfig({ gateway: { domain: DOMAIN, name: "Postern", disclose_participants: true } });
    const dave = await seedUser(t, "dave@customer.test", "Dave");
    await seedParticipant(t, conversation, dave);
    const reply = await write(alice, { body: "Hello both." });
    const to = async (user: User) => {
      const parsed = (await render(await copyOf(reply, user), disclosing)).mail.to;
      return (Array.isArray(parsed) ? parsed : parsed ? [parsed] : []).flatMap((a) => a.value.map((v) => v.address)).sort();
    };
    expect(await to(carol)).toEqual(["carol@customer.test", "dave@customer.test"]);
    expect(await to(bob)).toEqual(["alice@team.test", "bob@team.test", "carol@customer.test", "dave@customer.test"]);
  });

  it("names a member without a usable name as a team member to the outside person, by name to the others", async () => {
    const nameless = await seedUser(t, "eve.smith@team.test", null, "staff");
    const named = await seedUser(t, "frank@team.test", "frank@team.test", "staff");
    for (const user of [nameless, named]) {
      await t.write((ctx) => addGroupMember(ctx, "support", user.email));
      await seedParticipant(t, conversation, user);
    }
    for (const author of [nameless, named]) {
      const post = await write(author);
      const toCarol = (await render(await copyOf(post, carol))).mail;
      expect(toCarol.from?.value[0]?.name).toBe("Team member via support");
      expect(toCarol.text).not.toContain("team.test");
      expect(toCarol.text).not.toMatch(/eve\.smith|frank/);
    }
    const toAlice = (await render(await copyOf(await write(nameless), alice))).mail;
    expect(toAlice.from?.value[0]?.name).toBe("eve.smith via support");
  });
});
