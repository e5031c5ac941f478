import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireConversation, startConversation } from "../../src/domain/conversations.service.js";
import { requireGroup } from "../../src/domain/groups.service.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import { requireUser } from "../../src/domain/users.service.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;

interface GroupRow {
  name: string;
  inbox: string;
  members: string[];
  notify: string;
}

let cli: CliSandbox;

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.runMany([
    ["users", "add", "agent@example.test", "--role", "staff"],
    ["users", "add", "desk@example.test", "--role", "staff"],
    ["users", "add", "carol@else.test"],
    ["groups", "add", "support", "--inbox", "support@example.test"],
    // One at a time: members are listed in the order they were added as users.
  ], 1);
  await cli.runMany([
    ["groups", "members", "add", "support", "agent@example.test"],
    ["groups", "members", "add", "support", "desk@example.test"],
  ]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

/** Carol writes to the support inbox; answers the conversation. */
const carolWrites = () =>
  cli.write(async (ctx) => {
    const carol = await requireUser(ctx.tx, "carol@else.test");
    return (
      await startConversation(ctx, {
        kind: "inbox",
        group: await requireGroup(ctx.tx, "support"),
        subject: "Help",
        author: carol,
        recipients: [],
        post: { body: "Help me.", rawBody: "Help me." },
      })
    ).conversation;
  });
/** Carol writes again in that conversation: who gets a copy? */
const carolFollowsUp = (id: number) =>
  cli.write(async (ctx) => {
    const author = await requireUser(ctx.tx, "carol@else.test");
    const conversation = await requireConversation(ctx.tx, id);
    const post = await publishPost(ctx, conversation, await createPost(ctx, conversation, { author, body: "Any news?", rawBody: "Any news?" }));
    return post.id;
  });
const copiesOf = async (postId: number) =>
  (await cli.write(({ tx }) => tx.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.postId, postId) }))).map((d) => d.toAddress).sort();

describe("postern groups set --notify", () => {
  it("starts at all, switches to assignee and back, as groups list shows", { timeout: TIMEOUT }, async () => {
    const list = () => cli.json<GroupRow[]>(["groups", "list", "--json"]);
    expect(await list()).toEqual([{ name: "support", inbox: "support@example.test", members: ["agent@example.test", "desk@example.test"], notify: "all" }]);
    expect(await cli.ok(["groups", "set", "support", "--notify", "assignee"])).toBe(
      "support: once a conversation is assigned, only its assignee keeps receiving copies\n",
    );
    expect((await list())[0]?.notify).toBe("assignee");
    expect(await cli.ok(["groups", "list"])).toMatch(/^support\s+support@example\.test\s+assignee\s+agent@example\.test,desk@example\.test$/m);
    expect(await cli.ok(["groups", "set", "support", "--notify", "all"])).toBe("support: every member receives every post, assigned or not\n");
    expect((await list())[0]?.notify).toBe("all");
  });

  it("refuses an unknown group, an unknown choice and a missing --notify", { timeout: TIMEOUT }, async () => {
    const [unknown, badChoice, missing] = await cli.runMany([
      ["groups", "set", "sales", "--notify", "all"],
      ["groups", "set", "support", "--notify", "everyone"],
      ["groups", "set", "support"],
    ]);
    expectRefused(unknown, /No group is named "sales"/);
    expectRefused(badChoice, /Allowed choices are all, assignee/);
    expectRefused(missing, /--notify/);
  });

  it("with assignee, an assigned conversation's posts reach the assignee only among the members", { timeout: TIMEOUT }, async () => {
    await cli.ok(["groups", "set", "support", "--notify", "assignee"]);
    const conversation = await carolWrites();
    expect(await copiesOf(await carolFollowsUp(conversation.id))).toEqual(["agent@example.test", "desk@example.test"]);
    await cli.ok(["conversations", "assign", String(conversation.id), "desk@example.test"]);
    expect(await copiesOf(await carolFollowsUp(conversation.id))).toEqual(["desk@example.test"]);
    await cli.ok(["groups", "set", "support", "--notify", "all"]);
    expect(await copiesOf(await carolFollowsUp(conversation.id))).toEqual(["agent@example.test", "desk@example.test"]);
  });
});
