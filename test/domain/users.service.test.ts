import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { Refusal } from "../../src/errors/refusal.js";
import type { User } from "../../src/domain/records.js";
import { findUserByEmail, listUsers } from "../../src/domain/users.repo.js";
import { activateUser, findOrStageUser, learnName, validEmail } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedUser, T0 } from "../helpers/seed.js";

function refusalOf(work: () => unknown): Refusal {
  try {
    work();
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("validEmail", () => {
  it.each([
    ["Alice@Example.COM", "alice@example.com"],
    ["  bob@example.test  ", "bob@example.test"],
    ["<carol@example.test>", "carol@example.test"],
    ["dave@example.test.", "dave@example.test"],
    ["erin@Bücher.example", "erin@xn--bcher-kva.example"],
    ["frank@例子.测试", "frank@xn--fsqu00a.xn--0zwm56d"],
    ["gina@xn--bcher-kva.example", "gina@xn--bcher-kva.example"],
  ])("normalises %j to %j", (raw, expected) => {
    expect(validEmail(raw)).toBe(expected);
  });

  it.each([
    ["not-an-address", 'has no "@"'],
    ["a@b@example.test", 'has more than one "@"'],
    ["@example.test", 'has nothing before the "@"'],
    ["someone@localhost", "has no dot in its domain"],
    ["someone@[127.0.0.1]", "has an IP address instead of a domain name"],
    ["jöse@example.test", "non-ASCII"],
    ["", "the address is empty"],
  ])("refuses %j with invalid_input, naming the address and the reason", (raw, reason) => {
    const refusal = refusalOf(() => validEmail(raw));
    expect(refusal.reason).toBe("invalid_input");
    expect(refusal.sentence).toContain(`"${raw}" is not an email address`);
    expect(refusal.sentence).toContain(reason);
  });
});

describe("users in the store", () => {
  let t: TestStore;
  let alice: User;
  beforeEach(async () => {
    t = await createTestStore();
    alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  });
  afterEach(() => t.dispose());

  describe("findOrStageUser", () => {
    it("answers an existing user as they are", async () => {
      const found = await t.write((ctx) => findOrStageUser(ctx, { email: alice.email, name: "Someone Else", invitedBy: alice }), T0 + 10);
      expect(found).toEqual(alice);
      expect(await t.read(({ tx }) => findUserByEmail(tx, alice.email))).toEqual(alice);
    });

    it("stages a new user with their name and who invited them", async () => {
      const staged = await t.write((ctx) => findOrStageUser(ctx, { email: "stan@elsewhere.test", name: "  Stan Ger ", invitedBy: alice }), T0 + 10);
      expect(staged).toMatchObject({
        email: "stan@elsewhere.test",
        name: "Stan Ger",
        username: null,
        status: "staged",
        role: "member",
        invitedById: alice.id,
        delivery: "every",
        messagesEnabled: true,
        lastActiveAt: null,
        createdAt: T0 + 10,
      });
      expect(await t.read(({ tx }) => findUserByEmail(tx, "stan@elsewhere.test"))).toEqual(staged);
    });

    it("stages without a name or an inviter", async () => {
      const staged = await t.write((ctx) => findOrStageUser(ctx, { email: "anon@elsewhere.test", name: "   " }));
      expect(staged).toMatchObject({ status: "staged", name: null, invitedById: null });
    });

    it("gives one user for two requests for the same address in one transaction", async () => {
      const [first, second] = await t.write(async (ctx) => [
        await findOrStageUser(ctx, { email: "twice@elsewhere.test", name: "First", invitedBy: alice }),
        await findOrStageUser(ctx, { email: "twice@elsewhere.test", name: "Second" }),
      ]);
      expect(second).toEqual(first);
      expect(first).toMatchObject({ name: "First", invitedById: alice.id });
      const users = await t.read(({ tx }) => listUsers(tx, { stagedOnly: true }));
      expect(users.map((u) => u.email)).toEqual(["twice@elsewhere.test"]);
    });

    it("gives one user for requests in transactions committed together", async () => {
      const [first, second] = await Promise.all([
        t.write((ctx) => findOrStageUser(ctx, { email: "race@elsewhere.test", name: "One" })),
        t.write((ctx) => findOrStageUser(ctx, { email: "race@elsewhere.test", name: "Two" })),
      ]);
      expect(second.id).toBe(first.id);
      expect(await t.read(({ tx }) => listUsers(tx, { stagedOnly: true }))).toHaveLength(1);
    });

    it("refuses with staged_users_disabled when staged users are off, and still finds known users", async () => {
      const closed = await createTestStore(buildConfig({ gateway: { domain: "example.test" }, staged_users: { enabled: false } }, "test"));
      try {
        const known = await seedUser(closed, "known@elsewhere.test");
        expect(await closed.write((ctx) => findOrStageUser(ctx, { email: known.email }))).toEqual(known);
        await expect(closed.write((ctx) => findOrStageUser(ctx, { email: "new@elsewhere.test" }))).rejects.toMatchObject({
          reason: "staged_users_disabled",
          sentence: expect.stringContaining("new@elsewhere.test has no account here"),
        });
        expect(await closed.read(({ tx }) => findUserByEmail(tx, "new@elsewhere.test"))).toBeUndefined();
      } finally {
        await closed.dispose();
      }
    });
  });

  describe("learnName", () => {
    const stage = (email: string, name: string | null = null) => t.write((ctx) => findOrStageUser(ctx, { email, name }));
    const learn = (user: User, name: string) => t.write(({ tx }) => learnName(tx, user, name));
    const stored = (email: string) => t.read(({ tx }) => findUserByEmail(tx, email));

    it("fills a staged user's empty name, trimmed", async () => {
      const staged = await stage("nameless@elsewhere.test");
      const learned = await learn(staged, "  Nora Name  ");
      expect(learned).toEqual({ ...staged, name: "Nora Name" });
      expect(await stored(staged.email)).toEqual(learned);
    });

    it("keeps a staged user's name once known", async () => {
      const staged = await stage("named@elsewhere.test", "Original");
      expect(await learn(staged, "Other")).toEqual(staged);
      expect((await stored(staged.email))?.name).toBe("Original");
    });

    it("leaves active members alone, even without a name", async () => {
      const member = await seedUser(t, "member@elsewhere.test");
      expect(member.name).toBeNull();
      expect(await learn(member, "Chosen For Them")).toEqual(member);
      expect((await stored(member.email))?.name).toBeNull();
    });

    it("ignores a blank name", async () => {
      const staged = await stage("blank@elsewhere.test");
      expect(await learn(staged, "   ")).toEqual(staged);
      expect((await stored(staged.email))?.name).toBeNull();
    });
  });

  describe("activateUser", () => {
    it("turns a staged user into an active member, keeping who invited them", async () => {
      const staged = await t.write((ctx) => findOrStageUser(ctx, { email: "new@elsewhere.test", invitedBy: alice }), T0);
      const active = await t.write((ctx) => activateUser(ctx, "New@Elsewhere.test", "newbie"), T0 + 100);
      expect(active).toMatchObject({ id: staged.id, status: "active", username: "newbie", invitedById: alice.id, lastActiveAt: T0 + 100 });
    });

    it("refuses an already active member", async () => {
      await expect(t.write((ctx) => activateUser(ctx, alice.email, undefined))).rejects.toMatchObject({ reason: "already_exists" });
    });
  });
});
