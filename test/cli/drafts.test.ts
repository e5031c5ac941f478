import { existsSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;

interface ListRow {
  id: number;
  subject: string;
  state: string;
  unread?: number;
  role?: string;
  participantState?: string;
}

interface View {
  id: number;
  subject: string;
  state: string;
  posts: { id: number; author: string; state: string; note: boolean; body?: string }[];
}

let cli: CliSandbox;
let id: string;

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.runMany([
    ["users", "add", "alice@example.test", "--role", "staff", "--name", "Alice Author"],
    ["users", "add", "bob@example.test"],
  ]);
  const created = await cli.ok([
    "conversations", "create", "--from", "alice@example.test", "--to", "bob@example.test,carol@else.test",
    "--subject", "Quarterly plans", "--body", "First words of the draft.", "--draft",
  ]);
  expect(created).toMatch(/^created draft conversation \d+ \(group\) with post \d+; nothing is sent until "postern conversations send \d+"\n$/);
  id = /conversation (\d+)/.exec(created)?.[1] ?? "";
}, TIMEOUT);
afterAll(() => cli?.dispose());

const outboxFiles = () => (existsSync(cli.outboxDir) ? readdirSync(cli.outboxDir) : []);

describe("postern conversations create --draft", () => {
  it("queues nothing and shows the draft to its author only", { timeout: TIMEOUT }, async () => {
    const [queue, adminList, authorList, bobList, aliceOwn, bobOwn] = await Promise.all([
      cli.json(["queue", "list", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--as", "alice@example.test", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--as", "bob@example.test", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--user", "alice@example.test", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--user", "bob@example.test", "--json"]),
    ]);
    expect(queue).toEqual([]);
    expect(outboxFiles()).toEqual([]);
    expect(adminList).toEqual([]);
    expect(bobList).toEqual([]);
    expect(bobOwn).toEqual([]);
    expect(authorList).toMatchObject([{ id: Number(id), state: "draft", subject: "Quarterly plans" }]);
    const [alice, bob] = await Promise.all(
      ["alice@example.test", "bob@example.test"].map((email) =>
        cli.json<{ conversations: number[]; createdAt: string; lastActiveAt: string }>(["users", "show", email, "--json"]),
      ),
    );
    expect(alice?.conversations).toEqual([Number(id)]);
    // Writing a draft from the CLI is Alice's doing (SPEC §6 reachability), though nothing was sent.
    expect(Date.parse(alice?.lastActiveAt ?? "")).toBeGreaterThan(Date.parse(alice?.createdAt ?? ""));
    expect(bob?.conversations).toEqual([]);
    expect(aliceOwn).toMatchObject([{ id: Number(id), state: "draft", unread: 0, role: "owner", participantState: "active" }]);
  });

  it("answers not found to everyone but its author", { timeout: TIMEOUT }, async () => {
    const [admin, asBob, asAlice, asAliceBodies] = await cli.runMany([
      ["conversations", "show", id],
      ["conversations", "show", id, "--as", "bob@example.test", "--bodies"],
      ["conversations", "show", id, "--as", "alice@example.test", "--json"],
      ["conversations", "show", id, "--as", "alice@example.test", "--bodies"],
    ]);
    expectRefused(admin, new RegExp(`^postern: No conversation has the id ${id}\\.$`));
    expectRefused(asBob, new RegExp(`^postern: No conversation has the id ${id}\\.$`));
    const view = JSON.parse(asAlice?.stdout ?? "") as View;
    expect(view).toMatchObject({ id: Number(id), state: "draft", posts: [{ author: "alice@example.test", state: "draft", note: false }] });
    expect(view.posts[0]).not.toHaveProperty("body");
    expect(asAliceBodies?.stdout).toMatch(/alice@example\.test \(draft\)\n {4}First words of the draft\.\n/);
  });
});

describe("postern conversations edit", () => {
  it("lets the author (or an admin) change subject and text, and nobody else", { timeout: TIMEOUT }, async () => {
    const [byBob, nothing, empty] = await cli.runMany([
      ["conversations", "edit", id, "--as", "bob@example.test", "--body", "Bob was here."],
      ["conversations", "edit", id, "--as", "alice@example.test"],
      ["conversations", "edit", id, "--body", "   "],
    ]);
    expectRefused(byBob, new RegExp(`No conversation has the id ${id}\\.`));
    expectRefused(nothing, /Give a new --subject or --body/);
    expectRefused(empty, /--body cannot be empty/);

    const activeAt = async () => (await cli.json<{ lastActiveAt: string }>(["users", "show", "alice@example.test", "--json"])).lastActiveAt;
    const before = await activeAt();
    expect(await cli.ok(["conversations", "edit", id, "--as", "alice@example.test", "--subject", "Plans for Q3", "--body", "Second words."])).toBe(
      `draft ${id} updated: Plans for Q3\n`,
    );
    await cli.ok(["conversations", "edit", id, "--body", "Final words."]);
    const view = await cli.json<View>(["conversations", "show", id, "--as", "alice@example.test", "--bodies", "--json"]);
    expect(view).toMatchObject({ subject: "Plans for Q3", state: "draft", posts: [{ state: "draft", body: "Final words." }] });
    expect(await cli.json(["queue", "list", "--json"])).toEqual([]);
    // Editing as Alice was Alice's doing: her last activity moved (SPEC §6 reachability).
    expect(Date.parse(await activeAt())).toBeGreaterThan(Date.parse(before));
  });
});

describe("postern conversations send", () => {
  it("refuses anyone but the author, then sends it once; afterwards nothing changes", { timeout: TIMEOUT }, async () => {
    expectRefused(await cli.run(["conversations", "send", id, "--as", "bob@example.test"]), new RegExp(`No conversation has the id ${id}\\.`));
    expect(await cli.json(["queue", "list", "--json"])).toEqual([]);

    expect(await cli.ok(["conversations", "send", id])).toBe(`sent conversation ${id}; it is now open\n`);
    const queue = await cli.json<{ to: string; status: string }[]>(["queue", "list", "--json"]);
    expect(queue.map((row) => row.to).sort()).toEqual(["bob@example.test", "carol@else.test"]);

    const [again, edit, editAsAuthor] = await cli.runMany([
      ["conversations", "send", id],
      ["conversations", "edit", id, "--body", "Too late."],
      ["conversations", "edit", id, "--as", "alice@example.test", "--subject", "Too late"],
    ]);
    expectRefused(again, new RegExp(`Conversation ${id} is not a draft \\(it is open\\): only a draft can be sent, and this one was sent already\\.`));
    expectRefused(edit, new RegExp(`Conversation ${id} is not a draft \\(it is open\\): it was sent, and a sent post never changes\\.`));
    expectRefused(editAsAuthor, /a sent post never changes/);

    const [view, list] = await Promise.all([
      cli.json<View>(["conversations", "show", id, "--bodies", "--json"]),
      cli.json<ListRow[]>(["conversations", "list", "--json"]),
    ]);
    expect(view).toMatchObject({ subject: "Plans for Q3", state: "open", posts: [{ state: "sent", body: "Final words." }] });
    expect(list).toMatchObject([{ id: Number(id), state: "open" }]);
    expect(await cli.json<{ conversations: number[] }>(["users", "show", "bob@example.test", "--json"])).toMatchObject({ conversations: [Number(id)] });
    expect(await cli.json(["queue", "list", "--json"])).toHaveLength(2);
  });

  it("refuses an unknown id and a malformed one", { timeout: TIMEOUT }, async () => {
    const [unknown, malformed] = await cli.runMany([
      ["conversations", "send", "999"],
      ["conversations", "edit", "abc", "--body", "x"],
    ]);
    expectRefused(unknown, /No conversation has the id 999\./);
    expectRefused(malformed, /conversation id is a whole number/);
  });
});
