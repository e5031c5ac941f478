import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countBounce } from "../../src/domain/bounces.service.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { CLI_TIMEOUT_MS, createCliSandbox, expectRefused, type CliSandbox } from "../helpers/cli.js";

const TIMEOUT = 12 * CLI_TIMEOUT_MS;
const T_BOUNCE = Date.parse("2026-11-01T10:00:00Z");

interface UserRow {
  email: string;
  name: string | null;
  status: string;
  role: string;
  username: string | null;
}

interface UserView extends UserRow {
  invitedBy: string | null;
  delivery: string;
  conversations: number[];
  messages?: string;
}

interface GroupRow {
  name: string;
  inbox: string;
  members: string[];
  notify: "all" | "assignee";
}

let cli: CliSandbox;
beforeAll(async () => {
  cli = await createCliSandbox();
});
afterAll(() => cli.dispose());

describe("postern users", () => {
  it("adds members and lists them with the JSON shape of SPEC §7", { timeout: TIMEOUT }, async () => {
    expect(await cli.json(["users", "list", "--json"])).toEqual([]);
    await cli.ok(["users", "add", "Admin@Example.test", "--role", "admin", "--name", "Ada Admin"]);
    await cli.ok(["users", "add", "staff@example.test", "--role", "staff", "--name", "Sam Staff"]);
    await cli.ok(["users", "add", "alice@example.test", "--username", "Alice"]);

    const rows = await cli.json<UserRow[]>(["users", "list", "--json"]);
    expect(rows).toEqual([
      { email: "admin@example.test", name: "Ada Admin", status: "active", role: "admin", username: null },
      { email: "staff@example.test", name: "Sam Staff", status: "active", role: "staff", username: null },
      { email: "alice@example.test", name: null, status: "active", role: "member", username: "alice" },
    ]);
    expect(await cli.json(["users", "list", "--staged", "--json"])).toEqual([]);
    // Without --json: a table for people.
    expect(await cli.ok(["users", "list"])).toMatch(/EMAIL\s+NAME\s+STATUS\s+ROLE\s+USERNAME[\s\S]*alice@example\.test/);
  });

  it("shows one user with the JSON shape of SPEC §7", { timeout: TIMEOUT }, async () => {
    const view = await cli.json<UserView>(["users", "show", "ALICE@example.test", "--json"]);
    expect(view).toMatchObject({
      email: "alice@example.test",
      name: null,
      status: "active",
      role: "member",
      invitedBy: null,
      delivery: "every",
      conversations: [],
    });
    for (const key of ["email", "name", "status", "role", "invitedBy", "delivery", "conversations"]) expect(view).toHaveProperty(key);
  });

  it("changes settings with users set", { timeout: TIMEOUT }, async () => {
    await cli.ok(["users", "set", "alice@example.test", "--delivery", "digest", "--messages", "off", "--role", "staff"]);
    expect(await cli.json<UserView>(["users", "show", "alice@example.test", "--json"])).toMatchObject({
      delivery: "digest",
      role: "staff",
      messages: "off",
    });
    await cli.ok(["users", "set", "alice@example.test", "--delivery", "every", "--messages", "on", "--role", "member", "--reset-bounces"]);
    expect(await cli.json<UserView>(["users", "show", "alice@example.test", "--json"])).toMatchObject({
      delivery: "every",
      role: "member",
      messages: "on",
    });
  });

  it("shows since when mail to a bouncing address is stopped, and --reset-bounces resumes it", { timeout: TIMEOUT }, async () => {
    await cli.write(async (ctx) => {
      const alice = await findUserByEmail(ctx.tx, "alice@example.test");
      for (const at of [T_BOUNCE, T_BOUNCE + 60_000]) await countBounce(ctx.tx, ctx.config, alice!.id, "hard", at);
    });
    const stopped = await cli.json<UserView & { bounceScore: number; bouncingSince: string | null; unreachable: string | null }>(["users", "show", "alice@example.test", "--json"]);
    expect(stopped).toMatchObject({ bounceScore: 4, bouncingSince: new Date(T_BOUNCE + 60_000).toISOString() });
    expect(stopped.unreachable).toMatch(/keeps bouncing/);
    expect(await cli.ok(["users", "show", "alice@example.test"])).toMatch(/bouncingSince\s+2026-/);

    await cli.ok(["users", "set", "alice@example.test", "--reset-bounces"]);
    expect(await cli.json(["users", "show", "alice@example.test", "--json"])).toMatchObject({ bounceScore: 0, bouncingSince: null, unreachable: null });
  });

  it("refuses what it cannot do, changing nothing", { timeout: TIMEOUT }, async () => {
    const [duplicate, reservedUsername, takenUsername, badEmail, unknownShow, unknownSet, nothingToSet, activateActive] = await cli.runMany([
      ["users", "add", "ALICE@example.test"],
      ["users", "add", "a@b.test", "--username", "reply"],
      ["users", "add", "other@b.test", "--username", "alice"],
      ["users", "add", "not-an-address"],
      ["users", "show", "nobody@example.test", "--json"],
      ["users", "set", "nobody@example.test", "--delivery", "none"],
      ["users", "set", "alice@example.test"],
      ["users", "activate", "alice@example.test"],
    ]);
    expectRefused(duplicate, /already exists/);
    expectRefused(reservedUsername, /reserved/);
    expectRefused(takenUsername, /taken/);
    expectRefused(badEmail, /not an email address/);
    expectRefused(unknownShow, /nobody@example\.test/);
    expectRefused(unknownSet, /nobody@example\.test/);
    expectRefused(nothingToSet, /Nothing to change/);
    expectRefused(activateActive, /already an active member/);
    const emails = (await cli.json<UserRow[]>(["users", "list", "--json"])).map((u) => u.email);
    expect(emails).toEqual(["admin@example.test", "staff@example.test", "alice@example.test"]);
  });

  it("lists staged users with --staged, and activates one keeping who invited them", { timeout: TIMEOUT }, async () => {
    await cli.ok(["conversations", "create", "--from", "staff@example.test", "--to", "Dana@Client.test", "--subject", "Contract", "--body", "Hello Dana."]);
    expect(await cli.json<UserRow[]>(["users", "list", "--staged", "--json"])).toEqual([
      { email: "dana@client.test", name: null, status: "staged", role: "member", username: null },
    ]);
    const staged = await cli.json<UserView>(["users", "show", "dana@client.test", "--json"]);
    expect(staged).toMatchObject({ status: "staged", invitedBy: "staff@example.test", delivery: "every" });
    expect(staged.conversations).toHaveLength(1);

    // An admin may change a staged user's delivery preference (SPEC §6).
    await cli.ok(["users", "set", "dana@client.test", "--delivery", "digest"]);

    await cli.ok(["users", "activate", "dana@client.test", "--username", "dana"]);
    const active = await cli.json<UserView>(["users", "show", "dana@client.test", "--json"]);
    expect(active).toMatchObject({
      status: "active",
      username: "dana",
      invitedBy: "staff@example.test",
      delivery: "digest",
      conversations: staged.conversations,
    });
    expect(await cli.json(["users", "list", "--staged", "--json"])).toEqual([]);
  });
});

describe("postern groups", () => {
  it("adds a group with an inbox and lists it", { timeout: TIMEOUT }, async () => {
    expect(await cli.json(["groups", "list", "--json"])).toEqual([]);
    expect(await cli.ok(["groups", "add", "support", "--inbox", "Support@Example.test"])).toMatch(/support@example\.test/);
    expect(await cli.json<GroupRow[]>(["groups", "list", "--json"])).toEqual([{ name: "support", inbox: "support@example.test", members: [], notify: "all" }]);
  });

  it("adds and removes members", { timeout: TIMEOUT }, async () => {
    await cli.ok(["groups", "members", "add", "support", "staff@example.test"]);
    await cli.ok(["groups", "members", "add", "support", "alice@example.test"]);
    expect(await cli.json<GroupRow[]>(["groups", "list", "--json"])).toEqual([
      { name: "support", inbox: "support@example.test", members: ["staff@example.test", "alice@example.test"], notify: "all" },
    ]);
    await cli.ok(["groups", "members", "remove", "support", "alice@example.test"]);
    expect((await cli.json<GroupRow[]>(["groups", "list", "--json"]))[0]?.members).toEqual(["staff@example.test"]);
  });

  it("refuses reserved names, foreign domains and clashes, changing nothing", { timeout: TIMEOUT }, async () => {
    await cli.ok(["conversations", "create", "--from", "staff@example.test", "--to", "erin@client.test", "--subject", "S", "--body", "B"]);
    const results = await cli.runMany([
      ["groups", "add", "x", "--inbox", "postmaster@example.test"],
      ["groups", "add", "x", "--inbox", "abuse@example.test"],
      ["groups", "add", "x", "--inbox", "conversations@example.test"],
      ["groups", "add", "x", "--inbox", "reply@example.test"],
      ["groups", "add", "x", "--inbox", "help+desk@example.test"],
      ["groups", "add", "sales", "--inbox", "sales@else.test"],
      ["groups", "add", "support", "--inbox", "help@example.test"],
      ["groups", "add", "help", "--inbox", "support@example.test"],
      ["groups", "add", "dana", "--inbox", "dana@example.test"],
      ["groups", "add", "bad name!", "--inbox", "bad@example.test"],
      ["users", "add", "sam@client.test", "--username", "support"],
      ["groups", "members", "add", "support", "erin@client.test"],
      ["groups", "members", "add", "nosuchgroup", "staff@example.test"],
      ["groups", "members", "add", "support", "nobody@example.test"],
      ["groups", "members", "remove", "support", "admin@example.test"],
    ]);
    const [postmaster, abuse, fromAddress, reply, plus, foreign, sameName, sameInbox, memberAlias, badName, usernameIsInbox, staged, noGroup, noUser, notMember] =
      results;
    expectRefused(postmaster, /reserved/);
    expectRefused(abuse, /reserved/);
    expectRefused(fromAddress, /reserved/);
    expectRefused(reply, /reserved/);
    expectRefused(plus, /reserved/);
    expectRefused(foreign, /sales@else\.test.*example\.test/);
    expectRefused(sameName, /already exists/);
    expectRefused(sameInbox, /already the inbox/);
    expectRefused(memberAlias, /member/);
    expectRefused(badName, /not a valid group name/);
    expectRefused(usernameIsInbox, /group inbox/);
    expectRefused(staged, /staged/);
    expectRefused(noGroup, /nosuchgroup/);
    expectRefused(noUser, /nobody@example\.test/);
    expectRefused(notMember, /not a member/);
    expect(await cli.json<GroupRow[]>(["groups", "list", "--json"])).toEqual([
      { name: "support", inbox: "support@example.test", members: ["staff@example.test"], notify: "all" },
    ]);
  });
});
