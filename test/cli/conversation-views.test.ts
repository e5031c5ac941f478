import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConversation } from "../../src/domain/conversations.service.js";
import type { DomainContext } from "../../src/domain/context.js";
import { requireGroup } from "../../src/domain/groups.service.js";
import { insertMailLogEntry } from "../../src/domain/mail-log.repo.js";
import { createPost, publishPost } from "../../src/domain/posts.service.js";
import type { Conversation } from "../../src/domain/records.js";
import { requireUser } from "../../src/domain/users.service.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;

/** Texts that must never leave the database unless someone asks for bodies. */
const BODY = "The parcel with serial QX-7391-ZEBRA never arrived.";
const NOTE = "Internal: refund approved by KESTREL-42.";
const REPLY = "We are sending another one, ref PELICAN-88.";

interface ListRow {
  id: number;
  subject: string;
  kind: string;
  state: string;
  participants: number;
  posts: number;
  assignee: string | null;
  unread?: number;
  role?: string;
  participantState?: string;
}

interface View {
  id: number;
  posts: { id: number; author: string; note: boolean; state: string; body?: string }[];
}

let cli: CliSandbox;
let help: Conversation;
let other: Conversation;
let plans: Conversation;

/** A post as mail would make it: written, then published (copies queued, read marks moved). */
async function post(ctx: DomainContext, conversation: Conversation, email: string, body: string, note = false): Promise<void> {
  const author = await requireUser(ctx.tx, email);
  await publishPost(ctx, conversation, await createPost(ctx, conversation, { author, body, rawBody: body, note }));
}

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.runMany([
    ["users", "add", "agent@example.test", "--role", "staff", "--name", "Agent One"],
    ["users", "add", "desk@example.test", "--role", "staff", "--name", "Desk Two"],
    ["users", "add", "alice@example.test", "--role", "staff"],
    ["users", "add", "bob@example.test"],
    ["users", "add", "carol@example.test"],
  ]);
  await cli.runMany([
    ["groups", "add", "support", "--inbox", "support@example.test"],
    ["users", "set", "desk@example.test", "--delivery", "digest"],
    ["users", "set", "bob@example.test", "--delivery", "digest"],
    ["users", "set", "carol@example.test", "--delivery", "digest"],
  ]);
  await cli.runMany([
    ["groups", "members", "add", "support", "agent@example.test"],
    ["groups", "members", "add", "support", "desk@example.test"],
  ]);
  ({ help, other, plans } = await cli.write(async (ctx) => {
    const group = await requireGroup(ctx.tx, "support");
    const user = (email: string) => requireUser(ctx.tx, email);
    const inbox = async (email: string, subject: string, body: string) =>
      (await startConversation(ctx, { kind: "inbox", group, subject, author: await user(email), recipients: [], post: { body, rawBody: body } })).conversation;
    const help = await inbox("carol@example.test", "Missing parcel", BODY);
    await post(ctx, help, "agent@example.test", NOTE, true);
    const other = await inbox("bob@example.test", "Invoice question", "Where is my invoice?");
    const { conversation: plans } = await startConversation(ctx, {
      kind: "group",
      subject: "Team plans",
      author: await user("alice@example.test"),
      recipients: [{ candidate: await user("bob@example.test") }, { candidate: await user("carol@example.test") }],
      post: { body: "Plans.", rawBody: "Plans." },
    });
    await post(ctx, plans, "carol@example.test", "Count me in.");
    // A refused message in the mail log, its raw bytes holding the body: the log shows metadata only.
    await insertMailLogEntry(ctx.tx, {
      receivedAt: ctx.now,
      sessionId: null,
      remoteAddress: "192.0.2.1",
      mailFrom: "carol@example.test",
      rcptTo: ["support@example.test"],
      fromAddress: "carol@example.test",
      messageId: "<m1@example.test>",
      subject: "Missing parcel",
      outcome: "rejected",
      reason: "example refusal",
      smtpCode: 550,
      size: 100,
      raw: Buffer.from(`Subject: Missing parcel\r\n\r\n${BODY}\r\n`),
    });
    return { help, other, plans };
  }));
  await cli.ok(["conversations", "assign", String(help.id), "agent@example.test"]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

const mine = async (email: string) => new Map((await cli.json<ListRow[]>(["conversations", "list", "--user", email, "--json"])).map((r) => [r.id, r]));

describe("postern conversations list --user (my conversations)", () => {
  it("lists a person's conversations with their role, state and unread count; notes count for the desk only", { timeout: TIMEOUT }, async () => {
    const [desk, carol, bob] = await Promise.all([mine("desk@example.test"), mine("carol@example.test"), mine("bob@example.test")]);
    expect([...desk.keys()]).toEqual([help.id, other.id]);
    expect(desk.get(help.id)).toMatchObject({ kind: "inbox", role: "owner", participantState: "active", posts: 2, unread: 2, assignee: "agent@example.test" });
    expect(desk.get(other.id)).toMatchObject({ posts: 1, unread: 1, assignee: null });
    // Carol wrote the first post herself and may not see the note: nothing unread, one post.
    expect([...carol.keys()]).toEqual([help.id, plans.id]);
    expect(carol.get(help.id)).toMatchObject({ role: "member", posts: 1, unread: 0 });
    expect(carol.get(plans.id)).toMatchObject({ posts: 2, unread: 0 });
    expect(bob.get(plans.id)).toMatchObject({ posts: 2, unread: 2, role: "member" });
    // The SPEC's shape, with fields added.
    expect(Object.keys(desk.get(help.id) ?? {})).toEqual(
      expect.arrayContaining(["id", "subject", "kind", "state", "participants", "posts", "unread", "role", "participantState", "assignee"]),
    );
    const text = await cli.ok(["conversations", "list", "--user", "desk@example.test"]);
    expect(text).toMatch(/^ID\s+KIND\s+STATE\s+YOU\s+UNREAD\s+POSTS\s+SUBJECT$/m);
    expect(text).toMatch(new RegExp(`^${help.id}\\s+inbox\\s+open\\s+owner, active\\s+2\\s+2\\s+Missing parcel$`, "m"));
  });

  it("refuses an unknown user", { timeout: TIMEOUT }, async () => {
    expectRefused(await cli.run(["conversations", "list", "--user", "ghost@example.test"]), /No user has the address ghost@example\.test/);
  });
});

describe("postern conversations list --assigned / --unassigned", () => {
  it("lists inbox conversations by assignee, or those assigned to nobody", { timeout: TIMEOUT }, async () => {
    const [assigned, unassigned, nobody, both] = await cli.runMany([
      ["conversations", "list", "--assigned", "agent@example.test", "--json"],
      ["conversations", "list", "--unassigned", "--json"],
      ["conversations", "list", "--assigned", "desk@example.test", "--json"],
      ["conversations", "list", "--assigned", "agent@example.test", "--unassigned"],
    ]);
    expect((JSON.parse(assigned?.stdout ?? "") as ListRow[]).map((r) => [r.id, r.assignee])).toEqual([[help.id, "agent@example.test"]]);
    expect((JSON.parse(unassigned?.stdout ?? "") as ListRow[]).map((r) => r.id)).toEqual([other.id]);
    expect(JSON.parse(nobody?.stdout ?? "")).toEqual([]);
    expectRefused(both, /cannot be used with/);
  });
});

describe("postern conversations read", () => {
  it("marks a conversation read for one participant", { timeout: TIMEOUT }, async () => {
    expect(await cli.ok(["conversations", "read", String(help.id), "--as", "desk@example.test"])).toBe(
      `conversation ${help.id} is read for desk@example.test (2 unread posts marked read)\n`,
    );
    const desk = await mine("desk@example.test");
    expect(desk.get(help.id)?.unread).toBe(0);
    expect(desk.get(other.id)?.unread).toBe(1);
    const [outsider, missingAs] = await cli.runMany([
      ["conversations", "read", String(help.id), "--as", "alice@example.test"],
      ["conversations", "read", String(help.id)],
    ]);
    expectRefused(outsider, new RegExp(`alice@example\\.test does not take part in conversation ${help.id}\\.`));
    expectRefused(missingAs, /--as/);
  });
});

describe("postern conversations show", () => {
  it("marks internal notes, and shows a participant only what they could see", { timeout: TIMEOUT }, async () => {
    const [admin, asCarol, text] = await Promise.all([
      cli.json<View>(["conversations", "show", String(help.id), "--json"]),
      cli.json<View>(["conversations", "show", String(help.id), "--as", "carol@example.test", "--json"]),
      cli.ok(["conversations", "show", String(help.id)]),
    ]);
    expect(admin.posts.map((p) => [p.author, p.note])).toEqual([
      ["carol@example.test", false],
      ["agent@example.test", true],
    ]);
    expect(asCarol.posts.map((p) => p.author)).toEqual(["carol@example.test"]);
    expect(text).toMatch(/#\d+ \S+ agent@example\.test \(internal note\)$/m);
    expect(text).not.toMatch(/carol@example\.test \(internal note\)/);
  });
});

describe("privacy (SPEC §6): bodies only with --bodies", () => {
  it("no command prints a message body unless asked", { timeout: TIMEOUT }, async () => {
    const ids = [help.id, other.id, plans.id].map(String);
    const commands: string[][] = [
      ["users", "list"], ["users", "list", "--json"],
      ...["carol@example.test", "agent@example.test", "bob@example.test"].flatMap((e) => [["users", "show", e], ["users", "show", e, "--json"]]),
      ["groups", "list"], ["groups", "list", "--json"],
      ["conversations", "list"], ["conversations", "list", "--json"],
      ["conversations", "list", "--user", "desk@example.test", "--json"], ["conversations", "list", "--user", "carol@example.test"],
      ["conversations", "list", "--unassigned"], ["conversations", "list", "--assigned", "agent@example.test", "--json"],
      ...ids.flatMap((id) => [["conversations", "show", id], ["conversations", "show", id, "--json"]]),
      ["conversations", "show", String(help.id), "--as", "agent@example.test", "--json"],
      ["mail", "log"], ["mail", "log", "--json"], ["mail", "log", "--rejected", "--json"],
      ["queue", "list"], ["queue", "list", "--json"],
      ["config", "check"],
    ];
    const results = await cli.runMany(commands);
    results.forEach((result, i) => {
      const where = commands[i]?.join(" ");
      expect(result.code, `${where}: ${result.stderr}`).toBe(0);
      for (const secret of [BODY, NOTE, "QX-7391", "KESTREL-42", "Where is my invoice", "Count me in"]) {
        expect(result.stdout, `${where} printed a body`).not.toContain(secret);
        expect(result.stderr, `${where} printed a body`).not.toContain(secret);
      }
    });
    // And with --bodies, the text is there (so the check above looks at the right thing).
    const withBodies = await cli.ok(["conversations", "show", String(help.id), "--bodies"]);
    expect(withBodies).toContain(BODY);
    expect(withBodies).toContain(NOTE);
    const asCarol = await cli.ok(["conversations", "show", String(help.id), "--bodies", "--as", "carol@example.test"]);
    expect(asCarol).toContain(BODY);
    expect(asCarol).not.toContain(NOTE);
  });

  it("a reply seen by the outside person is counted unread for them, and its body stays private", { timeout: TIMEOUT }, async () => {
    await cli.write((ctx) => post(ctx, help, "agent@example.test", REPLY));
    const carol = await mine("carol@example.test");
    expect(carol.get(help.id)).toMatchObject({ posts: 2, unread: 1 });
    expect(JSON.stringify(await cli.json(["conversations", "show", String(help.id), "--json"]))).not.toContain("PELICAN-88");
  });
});
