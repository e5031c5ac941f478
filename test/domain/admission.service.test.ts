import { afterEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { Refusal } from "../../src/errors/refusal.js";
import { admit, admitOrRefuse, unreachableBecause, type Admission, type AdmissionWay } from "../../src/domain/admission.service.js";
import { removeFromConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { findUserByEmail, updateUser } from "../../src/domain/users.repo.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { TOKEN_PATTERN } from "../../src/domain/tokens.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedLeave, seedUser, T0 } from "../helpers/seed.js";

/** The test configuration with some sections replaced. */
function configWith(overrides: Record<string, unknown> = {}): Config {
  return buildConfig({ gateway: { domain: "example.test", name: "Acme" }, ...overrides }, "test");
}

interface World {
  readonly t: TestStore;
  /** Alice (member) started the conversation with Bob (member): she owns it, he is a member. */
  readonly conversation: Conversation;
  readonly alice: User;
  readonly bob: User;
  /** A member who does not take part. */
  readonly carol: User;
  /** Staff, not taking part: has add_participants, remove_participants and write_to_email by default. */
  readonly sam: User;
  readonly suspended: User;
  readonly quiet: User;
}

const stores: TestStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((t) => t.dispose()));
});

async function world(config: Config = configWith()): Promise<World> {
  const t = await createTestStore(config);
  stores.push(t);
  const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  const carol = await seedUser(t, "carol@elsewhere.test", "Carol Outsider");
  const sam = await seedUser(t, "sam@elsewhere.test", "Sam Staff", "staff");
  const susUser = await seedUser(t, "sus@elsewhere.test", "Sue Spended");
  const suspended = await t.write(({ tx }) => updateUser(tx, susUser.id, { status: "suspended" }));
  const quietUser = await seedUser(t, "quiet@elsewhere.test", "Quiet Person");
  const quiet = await t.write(({ tx }) => setUserSettings(tx, quietUser.email, { messagesEnabled: false }));
  const { conversation } = await seedConversation(t, alice, [bob]);
  return { t, conversation, alice, bob, carol, sam, suspended, quiet };
}

type Who = "alice" | "bob" | "carol" | "sam" | "suspended" | "quiet";
type Candidate = Who | "stranger";
const STRANGER = "stranger@elsewhere.test";

interface Case {
  readonly name: string;
  readonly way: AdmissionWay;
  readonly by: Who;
  readonly candidate: Candidate;
  readonly config?: Record<string, unknown>;
  readonly shownAs?: string;
  readonly expected:
    | { readonly kind: "admitted"; readonly staged?: boolean }
    | { readonly kind: "skipped"; readonly reason: string; readonly withUser?: boolean }
    | { readonly kind: "refused"; readonly reason: Refusal["reason"]; readonly sentence?: RegExp; readonly notInSentence?: string };
}

const MEMBERS_CANNOT_CC = { abilities: { invite_by_cc: ["staff", "admin"] } };
const NO_STAGED = { staged_users: { enabled: false } };

const cases: Case[] = [
  // Already taking part.
  { name: "cc of a participant is skipped, naming the user (they already have the message)", way: "cc", by: "alice", candidate: "bob", expected: { kind: "skipped", reason: "already takes part", withUser: true } },
  { name: "add of a participant is refused as already_exists", way: "add", by: "alice", candidate: "bob", expected: { kind: "refused", reason: "already_exists", sentence: /bob@elsewhere\.test already takes part/ } },
  { name: "start naming a participant skips them", way: "start", by: "alice", candidate: "bob", expected: { kind: "skipped", reason: "already takes part", withUser: true } },
  // invite_by_cc.
  { name: "cc by a role without invite_by_cc is skipped", way: "cc", by: "alice", candidate: "carol", config: MEMBERS_CANNOT_CC, expected: { kind: "skipped", reason: "the author may not invite by CC" } },
  { name: "cc by a role with invite_by_cc admits", way: "cc", by: "sam", candidate: "carol", config: MEMBERS_CANNOT_CC, expected: { kind: "admitted" } },
  // add_participants.
  { name: "add by a non-participant without add_participants is refused", way: "add", by: "carol", candidate: "quiet", expected: { kind: "refused", reason: "not_allowed", sentence: /carol@elsewhere\.test does not take part/ } },
  { name: "add by staff (add_participants) who does not take part admits", way: "add", by: "sam", candidate: "carol", expected: { kind: "admitted" } },
  { name: "add by a participant without add_participants admits", way: "add", by: "bob", candidate: "carol", expected: { kind: "admitted" } },
  // write_to_email: an unknown address.
  { name: "start to an unknown address by a role without write_to_email is refused", way: "start", by: "alice", candidate: "stranger", expected: { kind: "refused", reason: "not_allowed", sentence: /stranger@elsewhere\.test has no account.*may not write to email addresses/ } },
  { name: "add of an unknown address by a role without write_to_email is refused", way: "add", by: "alice", candidate: "stranger", expected: { kind: "refused", reason: "not_allowed", sentence: /may not write to email addresses/ } },
  { name: "cc of an unknown address by a role without write_to_email admits a staged user", way: "cc", by: "alice", candidate: "stranger", expected: { kind: "admitted", staged: true } },
  { name: "start to an unknown address by staff (write_to_email) admits a staged user", way: "start", by: "sam", candidate: "stranger", expected: { kind: "admitted", staged: true } },
  { name: "add of an unknown address by staff (write_to_email) admits a staged user", way: "add", by: "sam", candidate: "stranger", expected: { kind: "admitted", staged: true } },
  // staged_users disabled.
  { name: "start to an unknown address with staged users disabled is refused", way: "start", by: "sam", candidate: "stranger", config: NO_STAGED, expected: { kind: "refused", reason: "staged_users_disabled", sentence: /stranger@elsewhere\.test has no account here/ } },
  { name: "add of an unknown address with staged users disabled is refused", way: "add", by: "sam", candidate: "stranger", config: NO_STAGED, expected: { kind: "refused", reason: "staged_users_disabled" } },
  { name: "cc of an unknown address with staged users disabled is skipped", way: "cc", by: "alice", candidate: "stranger", config: NO_STAGED, expected: { kind: "skipped", reason: "unknown, and staged users are disabled" } },
  { name: "known users still come in with staged users disabled", way: "start", by: "alice", candidate: "carol", config: NO_STAGED, expected: { kind: "admitted" } },
  // Unreachable users.
  { name: "start to a suspended user is refused, naming them as shown", way: "start", by: "alice", candidate: "suspended", shownAs: "Sue (the support desk)", expected: { kind: "refused", reason: "user_unreachable", sentence: /^Sue \(the support desk\) cannot receive messages: the account is suspended\.$/, notInSentence: "sus@elsewhere.test" } },
  { name: "add of a suspended user is refused", way: "add", by: "alice", candidate: "suspended", expected: { kind: "refused", reason: "user_unreachable", sentence: /^sus@elsewhere\.test cannot receive messages/ } },
  { name: "cc of a suspended user is skipped", way: "cc", by: "alice", candidate: "suspended", expected: { kind: "skipped", reason: "does not accept messages" } },
  { name: "start to a user with messages off is refused, naming them as shown", way: "start", by: "alice", candidate: "quiet", shownAs: "the sales team", expected: { kind: "refused", reason: "user_unreachable", sentence: /^the sales team does not accept new conversations\.$/, notInSentence: "quiet@elsewhere.test" } },
  { name: "add of a user with messages off is refused", way: "add", by: "sam", candidate: "quiet", shownAs: "Q.", expected: { kind: "refused", reason: "user_unreachable", sentence: /^Q\. does not accept/, notInSentence: "quiet@" } },
  { name: "cc of a user with messages off is skipped", way: "cc", by: "alice", candidate: "quiet", expected: { kind: "skipped", reason: "does not accept messages" } },
];

describe("admit: the one rule, for every way in", () => {
  it.each(cases)("$name", async (c) => {
    const w = await world(configWith(c.config));
    const by = w[c.by];
    const candidate = c.candidate === "stranger" ? { address: STRANGER, name: "Stan Ger" } : w[c.candidate];
    const expectedAddress = c.candidate === "stranger" ? STRANGER : w[c.candidate].email;

    const admission: Admission = await w.t.write(
      (ctx) => admit(ctx, { conversation: w.conversation, candidate, by, way: c.way, ...(c.shownAs ? { shownAs: c.shownAs } : {}) }),
      T0 + 1000,
    );

    expect(admission.kind).toBe(c.expected.kind);
    if (admission.kind !== "admitted") expect(admission.address).toBe(expectedAddress);
    const stored = await w.t.read(async ({ tx }) => {
      const user = await findUserByEmail(tx, expectedAddress);
      return { user, participant: user && (await findParticipant(tx, w.conversation.id, user.id)) };
    });

    switch (c.expected.kind) {
      case "admitted": {
        if (admission.kind !== "admitted") throw new Error("unreachable");
        expect(admission.user.email).toBe(expectedAddress);
        expect(admission.participant).toMatchObject({ conversationId: w.conversation.id, userId: admission.user.id, state: "active", role: "member", addedById: by.id, joinedAt: T0 + 1000 });
        expect(stored.participant).toEqual(admission.participant);
        if (c.expected.staged) {
          expect(admission.user).toMatchObject({ status: "staged", invitedById: by.id, name: "Stan Ger" });
        }
        break;
      }
      case "skipped": {
        if (admission.kind !== "skipped") throw new Error("unreachable");
        expect(admission.reason).toBe(c.expected.reason);
        if (c.expected.withUser) expect(admission.user?.email).toBe(expectedAddress);
        else expect(admission.user).toBeUndefined();
        // Skipping changes nothing: an unknown address is not staged, a known one does not join.
        if (c.candidate === "stranger") expect(stored.user).toBeUndefined();
        else if (!c.expected.withUser) expect(stored.participant).toBeUndefined();
        break;
      }
      case "refused": {
        if (admission.kind !== "refused") throw new Error("unreachable");
        expect(admission.refusal).toBeInstanceOf(Refusal);
        expect(admission.refusal.reason).toBe(c.expected.reason);
        if (c.expected.sentence) expect(admission.refusal.sentence).toMatch(c.expected.sentence);
        if (c.expected.notInSentence) expect(admission.refusal.sentence).not.toContain(c.expected.notInSentence);
        if (c.candidate === "stranger") expect(stored.user).toBeUndefined();
        else if (c.candidate !== "bob") expect(stored.participant).toBeUndefined();
        break;
      }
    }
  });

  it("admitOrRefuse throws the refusal and passes admissions and skips through", async () => {
    const w = await world();
    await expect(
      w.t.write((ctx) => admitOrRefuse(ctx, { conversation: w.conversation, candidate: w.quiet, by: w.alice, way: "start" })),
    ).rejects.toMatchObject({ reason: "user_unreachable" });
    const skipped = await w.t.write((ctx) => admitOrRefuse(ctx, { conversation: w.conversation, candidate: w.bob, by: w.alice, way: "start" }));
    expect(skipped).toMatchObject({ kind: "skipped", user: { id: w.bob.id } });
    const admitted = await w.t.write((ctx) => admitOrRefuse(ctx, { conversation: w.conversation, candidate: w.carol, by: w.alice, way: "add", role: "owner" }));
    expect(admitted).toMatchObject({ kind: "admitted", participant: { role: "owner", state: "active" } });
  });

  it("an admitted staged user records who brought them in, and a second admission finds the same user", async () => {
    const w = await world();
    const first = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: { address: STRANGER }, by: w.sam, way: "add" }));
    if (first.kind !== "admitted") throw new Error(`expected admitted, got ${first.kind}`);
    expect(first.user).toMatchObject({ email: STRANGER, status: "staged", role: "member", invitedById: w.sam.id, name: null });

    const { conversation: other } = await seedConversation(w.t, w.alice, [w.carol]);
    const second = await w.t.write((ctx) => admit(ctx, { conversation: other, candidate: { address: STRANGER }, by: w.alice, way: "cc" }));
    if (second.kind !== "admitted") throw new Error(`expected admitted, got ${second.kind}`);
    expect(second.user.id).toBe(first.user.id);
    // Brought in first by Sam: a later invitation does not rewrite that.
    expect(second.user.invitedById).toBe(w.sam.id);
  });

  it("a participant who left comes back active with fresh tokens", async () => {
    const w = await world();
    const before = await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.bob.id));
    if (!before) throw new Error("Bob is not a participant");
    const left = await seedLeave(w.t, w.conversation, w.bob, T0 + 10);
    expect(left).toMatchObject({ state: "left", leftAt: T0 + 10 });

    const admission = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: w.bob, by: w.alice, way: "add" }), T0 + 20);
    if (admission.kind !== "admitted") throw new Error(`expected admitted, got ${admission.kind}`);
    const back = admission.participant;
    expect(back).toMatchObject({ id: before.id, state: "active", leftAt: null, joinedAt: T0 + 20, addedById: w.alice.id });
    expect(back.replyToken).toMatch(TOKEN_PATTERN);
    expect(back.leaveToken).toMatch(TOKEN_PATTERN);
    expect(back.replyToken).not.toBe(before.replyToken);
    expect(back.leaveToken).not.toBe(before.leaveToken);
  });

  it("a participant who left and is CC'd again comes back too", async () => {
    const w = await world();
    await seedLeave(w.t, w.conversation, w.bob, T0 + 10);
    const admission = await w.t.write((ctx) => admit(ctx, { conversation: w.conversation, candidate: w.bob, by: w.alice, way: "cc" }), T0 + 20);
    expect(admission).toMatchObject({ kind: "admitted", participant: { state: "active" } });
  });
});

describe("unreachableBecause", () => {
  it("names the user by their address unless told otherwise, and answers undefined for reachable users", async () => {
    const w = await world();
    expect(unreachableBecause(w.suspended)).toBe("sus@elsewhere.test cannot receive messages: the account is suspended.");
    expect(unreachableBecause(w.quiet, "Quiet")).toBe("Quiet does not accept new conversations.");
    expect(unreachableBecause(w.alice)).toBeUndefined();
  });
});

describe("removeFromConversation", () => {
  const remove = (w: World, who: User, by: User) => w.t.write((ctx) => removeFromConversation(ctx, w.conversation.id, who.email, by.email), T0 + 50);

  it("removing oneself is leaving", async () => {
    const w = await world();
    expect(await remove(w, w.bob, w.bob)).toMatchObject({ userId: w.bob.id, state: "left", leftAt: T0 + 50 });
  });

  it("an owner removes a member", async () => {
    const w = await world();
    expect(await remove(w, w.bob, w.alice)).toMatchObject({ userId: w.bob.id, state: "removed", leftAt: T0 + 50 });
  });

  it("a member who is not an owner and lacks remove_participants may not remove anyone", async () => {
    const w = await world();
    await w.t.write((ctx) => admitOrRefuse(ctx, { conversation: w.conversation, candidate: w.carol, by: w.alice, way: "add" }));
    await expect(remove(w, w.carol, w.bob)).rejects.toMatchObject({ reason: "not_allowed", sentence: expect.stringContaining("bob@elsewhere.test may not remove") });
    const carol = await w.t.read(({ tx }) => findParticipant(tx, w.conversation.id, w.carol.id));
    expect(carol?.state).toBe("active");
  });

  it("a non-participant without remove_participants may not remove anyone", async () => {
    const w = await world();
    await expect(remove(w, w.bob, w.carol)).rejects.toMatchObject({ reason: "not_allowed" });
  });

  it("staff (remove_participants) remove people from a conversation they are not in", async () => {
    const w = await world();
    expect(await remove(w, w.alice, w.sam)).toMatchObject({ userId: w.alice.id, state: "removed" });
  });

  it("someone who does not take part cannot be removed", async () => {
    const w = await world();
    await expect(remove(w, w.carol, w.sam)).rejects.toMatchObject({ reason: "not_found" });
  });
});
