import type { QueueEntry as QueueRow } from "../../src/domain/deliveries.repo.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;
const STATES = ["draft", "pending", "open", "declined", "closed"];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

interface ConversationRow {
  id: number;
  subject: string;
  kind: string;
  state: string;
  participants: number;
  posts: number;
}

interface ConversationView {
  id: number;
  subject: string;
  kind: string;
  state: string;
  replies: string;
  participants: { email: string; role: string; state: string }[];
  posts: { id: number; author: string; createdAt: string; body?: string }[];
}


interface UserView {
  email: string;
  status: string;
  invitedBy: string | null;
  conversations: number[];
}

/** The id `conversations create` reports: "created conversation N (...)". */
function createdId(stdout: string): number {
  const match = /conversation (\d+)/.exec(stdout);
  expect(match, stdout).not.toBeNull();
  return Number(match?.[1]);
}

let cli: CliSandbox;
let direct: number;

beforeAll(async () => {
  cli = await createCliSandbox();
  await cli.ok(["users", "add", "staff@example.test", "--role", "staff", "--name", "Sam Staff"]);
  await cli.ok(["users", "add", "member@example.test", "--name", "Mia Member"]);
  await cli.ok(["users", "add", "other@example.test"]);
}, TIMEOUT);
afterAll(() => cli?.dispose());

describe("a fresh gateway", () => {
  it("has an empty mail log, queue and conversation list", { timeout: TIMEOUT }, async () => {
    const [log, rejected, queue, conversations] = await Promise.all([
      cli.json(["mail", "log", "--json"]),
      cli.json(["mail", "log", "--rejected", "--json"]),
      cli.json(["queue", "list", "--json"]),
      cli.json(["conversations", "list", "--json"]),
    ]);
    expect(log).toEqual([]);
    expect(rejected).toEqual([]);
    expect(queue).toEqual([]);
    expect(conversations).toEqual([]);
  });
});

describe("postern conversations create", () => {
  it("writes to a new address: a staged user, a direct conversation and one queued delivery", { timeout: TIMEOUT }, async () => {
    const stdout = await cli.ok([
      "conversations", "create", "--from", "staff@example.test", "--to", "New@Else.test", "--subject", "S", "--body", "B",
    ]);
    direct = createdId(stdout);

    const newcomer = await cli.json<UserView>(["users", "show", "new@else.test", "--json"]);
    expect(newcomer).toMatchObject({ email: "new@else.test", status: "staged", invitedBy: "staff@example.test", conversations: [direct] });

    const list = await cli.json<ConversationRow[]>(["conversations", "list", "--json"]);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: direct, subject: "S", kind: "direct", participants: 2, posts: 1 });
    expect(STATES).toContain(list[0]?.state);

    const queue = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(queue).toHaveLength(1);
    expect(queue[0]).toMatchObject({ to: "new@else.test", status: "queued", attempts: 0, lastError: null, category: null });
    expect(Object.keys(queue[0] ?? {}).sort()).toEqual(["attempts", "category", "id", "lastError", "nextAttemptAt", "status", "to"]);
    expect(queue[0]?.id).toEqual(expect.any(Number));
    expect(queue[0]?.nextAttemptAt).toMatch(ISO);
    // Writing from the CLI sends nothing by itself: the delivery worker of `serve` does.
    expect(await cli.json(["mail", "log", "--json"])).toEqual([]);
  });

  it("shows a conversation's metadata, and bodies only with --bodies", { timeout: TIMEOUT }, async () => {
    const [view, withBodies, text] = await Promise.all([
      cli.json<ConversationView>(["conversations", "show", String(direct), "--json"]),
      cli.json<ConversationView>(["conversations", "show", String(direct), "--bodies", "--json"]),
      cli.ok(["conversations", "show", String(direct)]),
    ]);
    expect(view).toMatchObject({ id: direct, subject: "S", kind: "direct", replies: "all" });
    expect(STATES).toContain(view.state);
    expect(view.participants).toEqual([
      { email: "staff@example.test", role: "owner", state: "active" },
      // A direct conversation waits for its recipient's consent (SPEC §5).
      { email: "new@else.test", role: "member", state: "invited" },
    ]);
    expect(view.posts).toHaveLength(1);
    expect(view.posts[0]).toMatchObject({ author: "staff@example.test" });
    expect(view.posts[0]?.id).toEqual(expect.any(Number));
    expect(view.posts[0]?.createdAt).toMatch(ISO);
    expect(view.posts[0]).not.toHaveProperty("body");
    expect(JSON.stringify(view)).not.toContain('"B"');

    expect(withBodies.posts[0]?.body).toBe("B");
    expect(text).toContain("staff@example.test");
    expect(text).not.toMatch(/^\s+B$/m);
  });

  it("answers to the alias threads", { timeout: TIMEOUT }, async () => {
    const [viaAlias, viaName] = await Promise.all([
      cli.json(["threads", "list", "--json"]),
      cli.json(["conversations", "list", "--json"]),
    ]);
    expect(viaAlias).toEqual(viaName);
  });

  it("starts a group conversation with several recipients, one delivery each", { timeout: TIMEOUT }, async () => {
    const id = createdId(
      await cli.ok([
        "conversations", "create", "--from", "staff@example.test", "--to", "a@else.test,b@else.test", "--to", "member@example.test",
        "--subject", "  Planning   day ", "--body", "Agenda attached.", "--replies", "owners",
      ]),
    );
    const view = await cli.json<ConversationView>(["conversations", "show", String(id), "--json"]);
    expect(view).toMatchObject({ kind: "group", replies: "owners", subject: "Planning day" });
    expect(view.participants.map((p) => p.email)).toEqual(["staff@example.test", "a@else.test", "b@else.test", "member@example.test"]);
    const queue = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(queue.map((row) => row.to).sort()).toEqual(["a@else.test", "b@else.test", "member@example.test", "new@else.test"]);
    expect(queue.every((row) => row.status === "queued")).toBe(true);

    const mine = await cli.json<ConversationRow[]>(["conversations", "list", "--user", "new@else.test", "--json"]);
    expect(mine.map((c) => c.id)).toEqual([direct]);
    const all = await cli.json<ConversationRow[]>(["conversations", "list", "--json"]);
    expect(all.map((c) => c.id).sort()).toEqual([direct, id].sort());
    expect(all.find((c) => c.id === id)).toMatchObject({ participants: 4, posts: 1 });
  });

  it("lets a member write to a member, but not to an address without an account", { timeout: TIMEOUT }, async () => {
    const refused = await cli.run([
      "conversations", "create", "--from", "member@example.test", "--to", "stranger@else.test", "--subject", "Hi", "--body", "Hello",
    ]);
    expectRefused(refused, /stranger@else\.test.*may not write to email addresses/);
    expectRefused(await cli.run(["users", "show", "stranger@else.test"]), /stranger@else\.test/);

    const id = createdId(
      await cli.ok(["conversations", "create", "--from", "member@example.test", "--to", "other@example.test", "--subject", "Lunch", "--body", "Noon?"]),
    );
    expect(await cli.json<ConversationView>(["conversations", "show", String(id), "--json"])).toMatchObject({ kind: "direct" });
  });

  it("refuses bad requests, one line each, and creates nothing", { timeout: TIMEOUT }, async () => {
    const before = await cli.json<ConversationRow[]>(["conversations", "list", "--json"]);
    const [unknownAuthor, toSelf, badAddress, emptyBody, staged] = await cli.runMany([
      ["conversations", "create", "--from", "ghost@example.test", "--to", "a@else.test", "--subject", "S", "--body", "B"],
      ["conversations", "create", "--from", "staff@example.test", "--to", "STAFF@example.test", "--subject", "S", "--body", "B"],
      ["conversations", "create", "--from", "staff@example.test", "--to", "not an address", "--subject", "S", "--body", "B"],
      ["conversations", "create", "--from", "staff@example.test", "--to", "a@else.test", "--subject", "S", "--body", "  "],
      ["conversations", "create", "--from", "new@else.test", "--to", "staff@example.test", "--subject", "S", "--body", "B"],
    ]);
    expectRefused(unknownAuthor, /ghost@example\.test/);
    expectRefused(toSelf, /recipient/);
    expectRefused(badAddress, /not an email address/);
    expectRefused(emptyBody, /body/);
    expectRefused(staged, /staged/);
    expect(await cli.json(["conversations", "list", "--json"])).toEqual(before);
  });
});

describe("postern conversations add and remove", () => {
  it("adds a participant, lets owners and staff remove them, and anyone leave", { timeout: TIMEOUT }, async () => {
    const id = String(direct);
    const participants = async () =>
      (await cli.json<ConversationView>(["conversations", "show", id, "--json"])).participants.map((p) => `${p.email} ${p.role} ${p.state}`);
    await cli.ok(["conversations", "accept", id, "--as", "new@else.test"]);

    await cli.ok(["conversations", "add", id, "member@example.test", "--by", "staff@example.test"]);
    expect(await participants()).toContain("member@example.test member active");

    const [again, byOutsider, unknownByMember, removeByMember] = await cli.runMany([
      ["conversations", "add", id, "member@example.test", "--by", "staff@example.test"],
      ["conversations", "add", id, "other@example.test", "--by", "a@else.test"],
      ["conversations", "add", id, "stranger@else.test", "--by", "member@example.test"],
      ["conversations", "remove", id, "new@else.test", "--by", "member@example.test"],
    ]);
    expectRefused(again, /already takes part/);
    expectRefused(byOutsider, /does not take part/);
    expectRefused(unknownByMember, /may not write to email addresses/);
    expectRefused(removeByMember, /only its owners and staff/);

    await cli.ok(["conversations", "remove", id, "member@example.test", "--by", "staff@example.test"]);
    await cli.ok(["conversations", "remove", id, "new@else.test", "--by", "new@else.test"]);
    expect(await participants()).toEqual([
      "staff@example.test owner active",
      "new@else.test member left",
      "member@example.test member removed",
    ]);

    // Someone removed can be brought back.
    await cli.ok(["conversations", "add", id, "member@example.test", "--by", "staff@example.test"]);
    expect(await participants()).toContain("member@example.test member active");
    expectRefused(await cli.run(["conversations", "remove", id, "new@else.test", "--by", "staff@example.test"]), /not taking part/);
  });

  it("refuses a conversation that does not exist", { timeout: TIMEOUT }, async () => {
    const [show, add, remove] = await cli.runMany([
      ["conversations", "show", "999", "--json"],
      ["conversations", "add", "999", "member@example.test", "--by", "staff@example.test"],
      ["conversations", "remove", "999", "member@example.test", "--by", "staff@example.test"],
    ]);
    expectRefused(show, /999/);
    expectRefused(add, /999/);
    expectRefused(remove, /999/);
  });
});

describe("postern queue retry", () => {
  it("refuses a delivery that does not exist, and makes a waiting one due now", { timeout: TIMEOUT }, async () => {
    expectRefused(await cli.run(["queue", "retry", "999999"]), /999999/);
    const [row] = await cli.json<QueueRow[]>(["queue", "list", "--limit", "1", "--json"]);
    expect(row).toBeDefined();
    expect(await cli.ok(["queue", "retry", String(row?.id)])).toContain(String(row?.id));
    const after = await cli.json<QueueRow[]>(["queue", "list", "--json"]);
    expect(after.find((r) => r.id === row?.id)).toMatchObject({ status: "queued", attempts: 0 });
  });
});
