import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveries, notices } from "../../schema/schema.js";
import { startConversation } from "../../src/domain/conversations.service.js";
import { findGroupByName } from "../../src/domain/groups.repo.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import { findUserByEmail, updateUser } from "../../src/domain/users.repo.js";
import { findOrStageUser } from "../../src/domain/users.service.js";
import { draftNoticeDelivery } from "../../src/outbound/render-notice.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;
const DAY = 86_400_000;

interface ConversationView {
  participants: { email: string; role: string; state: string }[];
}

let cli: CliSandbox;
let group: number;

/** The notices of a conversation as "kind about→recipients (history)". */
async function noticesOf(conversationId: number): Promise<string[]> {
  return cli.write(async ({ tx }) => {
    const rows = await tx.db.select().from(notices).where(eq(notices.conversationId, conversationId));
    const lines = [];
    for (const row of rows) {
      const about = (await tx.db.query.users.findFirst({ where: (u, { eq: is }) => is(u.id, row.userId) }))!.email;
      const to = (await tx.db.select().from(deliveries).where(eq(deliveries.noticeId, row.id))).map((d) => d.toAddress).sort();
      lines.push(`${row.kind} ${about}→${to.join(",")}${row.kind === "catch_up" ? ` (${row.history ?? "all"})` : ""}`);
    }
    return lines;
  });
}

const createdId = (stdout: string) => Number(/conversation (\d+)/.exec(stdout)?.[1]);

beforeAll(async () => {
  cli = await createCliSandbox({
    extraToml: [
      "[consent]",
      "kinds = []",
      "[conversations]",
      "max_recipients = 3",
      "[staged_users]",
      "max_per_message = 2",
      "[reachability]",
      "inactive_days = 15",
    ].join("\n"),
  });
  await cli.ok(["users", "add", "sam@example.test", "--role", "staff", "--name", "Sam Staff"]);
  await cli.ok(["users", "add", "mia@example.test", "--name", "Mia"]);
  await cli.ok(["users", "add", "max@example.test", "--name", "Max"]);
  await cli.ok(["users", "add", "ola@example.test", "--name", "Ola"]);
  group = createdId(await cli.ok(["conversations", "create", "--from", "sam@example.test", "--to", "mia@example.test,max@example.test", "--subject", "Team", "--body", "Kick-off."]));
}, TIMEOUT);
afterAll(() => cli?.dispose());

describe("postern conversations add --history", () => {
  it("adds with a catch-up of the last N posts and tells the others; refuses a bad --history", { timeout: TIMEOUT }, async () => {
    const out = await cli.ok(["conversations", "add", String(group), "ola@example.test", "--by", "mia@example.test", "--history", "1"]);
    expect(out).toBe(`ola@example.test added to conversation ${group}\n`);
    expect(await noticesOf(group)).toEqual([
      "catch_up ola@example.test→ola@example.test (1)",
      "joined ola@example.test→max@example.test,sam@example.test",
    ]);
    const [bad, zero] = await cli.runMany([
      ["conversations", "add", String(group), "new@else.test", "--by", "sam@example.test", "--history", "some"],
      ["conversations", "add", String(group), "new@else.test", "--by", "sam@example.test", "--history", "0"],
    ]);
    expectRefused(bad, /--history.*give "all", "none", or a number of posts/);
    expectRefused(zero, /--history/);
  });
});

describe("postern conversations leave and remove", () => {
  it("leaves with one line, refuses leaving twice with a sentence, and removes with one line", { timeout: TIMEOUT }, async () => {
    expect(await cli.ok(["conversations", "leave", String(group), "--as", "Ola@Example.test"])).toBe(`ola@example.test left conversation ${group}\n`);
    expect(await cli.ok(["conversations", "remove", String(group), "max@example.test", "--by", "sam@example.test"])).toBe(
      `max@example.test was removed from conversation ${group}\n`,
    );
    const [twice, removedLeaves, stranger, memberRemoves] = await cli.runMany([
      ["conversations", "leave", String(group), "--as", "ola@example.test"],
      ["conversations", "leave", String(group), "--as", "max@example.test"],
      ["conversations", "leave", String(group), "--as", "nobody@example.test"],
      ["conversations", "remove", String(group), "sam@example.test", "--by", "mia@example.test"],
    ]);
    expectRefused(twice, /^postern: You are not taking part in conversation \d+ \("Team"\) any more: you left it already\.$/);
    expectRefused(removedLeaves, /you were removed from it\.$/);
    expectRefused(stranger, /No user has the address nobody@example\.test/);
    expectRefused(memberRemoves, /mia@example\.test may not remove people from conversation \d+: only its owners and staff may\./);
    const view = await cli.json<ConversationView>(["conversations", "show", String(group), "--json"]);
    expect(view.participants.map((p) => `${p.email} ${p.state}`)).toEqual([
      "sam@example.test active",
      "mia@example.test active",
      "max@example.test removed",
      "ola@example.test left",
    ]);
    // Max was told, Ola (who left from the CLI) was not sent anything.
    expect((await noticesOf(group)).slice(2)).toEqual(["removed max@example.test→max@example.test"]);
  });
});

describe("caps and reachability on the CLI", () => {
  it("refuses beyond conversations.max_recipients and staged_users.max_per_message, naming the key", { timeout: TIMEOUT }, async () => {
    const [tooMany, tooManyStaged] = await cli.runMany([
      ["conversations", "create", "--from", "sam@example.test", "--to", "a@x.test,b@x.test,c@x.test,d@x.test", "--subject", "S", "--body", "B"],
      ["conversations", "create", "--from", "sam@example.test", "--to", "a@x.test,b@x.test,c@x.test", "--subject", "S", "--body", "B"],
    ]);
    expectRefused(tooMany, /4 recipients were given, but a conversation may start with at most 3 \(conversations\.max_recipients\)\./);
    expectRefused(tooManyStaged, /3 of the recipients have no account .* at most 2 \(staged_users\.max_per_message\)\./);
    expect(await cli.json(["users", "list", "--staged", "--json"])).toEqual([]);
  });

  it("refuses adding someone with messages off or inactive too long, and users show says why", { timeout: TIMEOUT }, async () => {
    await cli.ok(["users", "set", "ola@example.test", "--messages", "off"]);
    await cli.write(async ({ tx }) => updateUser(tx, (await findUserByEmail(tx, "max@example.test"))!.id, { lastActiveAt: Date.now() - 20 * DAY }));
    const [off, inactive, maxShown] = await cli.runMany([
      ["conversations", "add", String(group), "ola@example.test", "--by", "sam@example.test"],
      ["conversations", "add", String(group), "max@example.test", "--by", "sam@example.test"],
      ["users", "show", "max@example.test", "--json"],
    ]);
    expectRefused(off, /^postern: ola@example\.test does not accept new conversations\.$/);
    expectRefused(inactive, /^postern: max@example\.test cannot be brought into new conversations: they have not been active for more than 15 days\.$/);
    expect(JSON.parse(maxShown!.stdout)).toMatchObject({ unreachable: "max@example.test cannot be brought into new conversations: they have not been active for more than 15 days." });

    // What Max does from the CLI is his activity: once he starts a conversation, he can be added again.
    await cli.ok(["conversations", "create", "--from", "max@example.test", "--to", "mia@example.test", "--subject", "Back", "--body", "I am back."]);
    expect(JSON.parse(await cli.ok(["users", "show", "max@example.test", "--json"]))).toMatchObject({ unreachable: null });
    expect(await cli.ok(["conversations", "add", String(group), "max@example.test", "--by", "sam@example.test", "--history", "none"])).toMatch(/added/);
  });
});

describe("catch-up of an inbox conversation", () => {
  it("never carries internal notes to someone outside the group, and does carry them to a group member", { timeout: TIMEOUT }, async () => {
    await cli.ok(["groups", "add", "support", "--inbox", "support@example.test"]);
    await cli.ok(["groups", "members", "add", "support", "sam@example.test"]);
    const inbox = await cli.write(async (ctx) => {
      const support = (await findGroupByName(ctx.tx, "support"))!;
      const customer = await findOrStageUser(ctx, { email: "carla@customer.test", name: "Carla" });
      const sam = (await findUserByEmail(ctx.tx, "sam@example.test"))!;
      const { conversation } = await startConversation(ctx, {
        kind: "inbox",
        group: support,
        subject: "Broken order",
        author: customer,
        recipients: [],
        post: { body: "My order arrived broken.", rawBody: "My order arrived broken." },
      });
      const note = await createPost(ctx, conversation, { author: sam, body: "Internal: she is a VIP, refund at once.", rawBody: "x", note: true });
      await publishPost(ctx, conversation, note);
      return conversation.id;
    });
    await cli.ok(["groups", "members", "add", "support", "mia@example.test"]);
    await cli.ok(["conversations", "add", String(inbox), "courier@ship.test", "--by", "sam@example.test"]);
    await cli.ok(["conversations", "add", String(inbox), "mia@example.test", "--by", "sam@example.test"]);

    const catchUps = await cli.write(async ({ tx, config }) => {
      const rows = await tx.db.select().from(deliveries).innerJoin(notices, eq(notices.id, deliveries.noticeId)).where(and(eq(notices.conversationId, inbox), eq(notices.kind, "catch_up")));
      const texts = new Map<string, string>();
      for (const row of rows) texts.set(row.deliveries.toAddress, String((await draftNoticeDelivery(tx, config, row.deliveries)).mail.text));
      return texts;
    });
    expect([...catchUps.keys()].sort()).toEqual(["courier@ship.test", "mia@example.test"]);
    expect(catchUps.get("courier@ship.test")).toContain("My order arrived broken.");
    expect(catchUps.get("courier@ship.test")).not.toContain("VIP");
    expect(catchUps.get("courier@ship.test")).not.toContain("internal note");
    expect(catchUps.get("mia@example.test")).toContain("Internal: she is a VIP, refund at once.");
  });
});
