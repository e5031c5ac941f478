// Postern must not become a way to mail third parties (SPEC §3): a stranger (a staged user) never
// brings outside addresses in by CC unless staged_users.invite_by_cc, and no conversation or
// inviter grows without bound (conversations.max_participants, conversations.max_cc_invites_per_day).

import { afterEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { admit, admitOrRefuse, STAGED_MAY_NOT_CC, type Admission, type AdmissionWay } from "../../src/domain/admission.service.js";
import { countParticipantsAddedBySince, participantsWithUsers } from "../../src/domain/conversations.repo.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { findOrStageUser } from "../../src/domain/users.service.js";
import { Refusal } from "../../src/errors/refusal.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { refusalOf, seedConversation, seedLeave, seedUser, T0 } from "../helpers/seed.js";

const DAY = 86_400_000;
/** The world's conversation is two days old, so its start counts for no one's day. */
const BEFORE = T0 - 2 * DAY;

function configWith(overrides: Record<string, unknown> = {}): Config {
  return buildConfig({ gateway: { domain: "example.test", name: "Acme" }, ...overrides }, "test");
}

interface World {
  readonly t: TestStore;
  /** Alice (member) and Bob (member). */
  readonly conversation: Conversation;
  /** Alice (member) and Stan (staged: a stranger who wrote in). */
  readonly withStranger: Conversation;
  readonly alice: User;
  readonly bob: User;
  readonly stan: User;
}

const stores: TestStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((t) => t.dispose()));
});

async function world(overrides: Record<string, unknown> = {}): Promise<World> {
  const t = await createTestStore(configWith(overrides));
  stores.push(t);
  const alice = await seedUser(t, "alice@elsewhere.test", "Alice Example");
  const bob = await seedUser(t, "bob@elsewhere.test", "Bob Builder");
  const stan = await t.write((ctx) => findOrStageUser(ctx, { email: "stan@stranger.test", name: "Stan Ger" }), BEFORE);
  const { conversation } = await seedConversation(t, alice, [bob], { now: BEFORE });
  const { conversation: withStranger } = await seedConversation(t, stan, [alice], { now: BEFORE, subject: "Hi" });
  return { t, conversation, withStranger, alice, bob, stan };
}

function admitAt(w: World, conversation: Conversation, by: User, address: string, way: AdmissionWay, now = T0): Promise<Admission> {
  return w.t.write((ctx) => admit(ctx, { conversation, candidate: { address }, by, way }), now);
}

const emails = async (w: World, conversation: Conversation) =>
  (await w.t.read(({ tx }) => participantsWithUsers(tx, conversation.id))).map((row) => row.user.email);

describe("staged users and CC (staged_users.invite_by_cc)", () => {
  it("skips every address a staged author CCs by default, naming the key, and stages no one", async () => {
    const w = await world();
    expect(w.stan.status).toBe("staged");
    const admission = await admitAt(w, w.withStranger, w.stan, "third@party.test", "cc");
    expect(admission).toEqual({
      kind: "skipped",
      address: "third@party.test",
      reason: "the author is not a member, and staged users may not invite by CC (staged_users.invite_by_cc)",
    });
    expect(STAGED_MAY_NOT_CC).toBe("the author is not a member, and staged users may not invite by CC (staged_users.invite_by_cc)");
    expect(await w.t.read(({ tx }) => findUserByEmail(tx, "third@party.test"))).toBeUndefined();
    expect(await emails(w, w.withStranger)).toEqual(["stan@stranger.test", "alice@elsewhere.test"]);
  });

  it("skips a known member CC'd by a staged author too", async () => {
    const w = await world();
    const admission = await admitAt(w, w.withStranger, w.stan, w.bob.email, "cc");
    expect(admission).toMatchObject({ kind: "skipped", reason: STAGED_MAY_NOT_CC });
    expect(await emails(w, w.withStranger)).not.toContain(w.bob.email);
  });

  it("admits what a staged author CCs when staged_users.invite_by_cc is true", async () => {
    const w = await world({ staged_users: { invite_by_cc: true } });
    const admission = await admitAt(w, w.withStranger, w.stan, "third@party.test", "cc");
    expect(admission.kind).toBe("admitted");
    expect(admission.kind === "admitted" && admission.user).toMatchObject({ email: "third@party.test", status: "staged" });
    expect(await emails(w, w.withStranger)).toContain("third@party.test");
  });

  it("still needs the role's abilities.invite_by_cc when staged users may invite", async () => {
    const w = await world({ staged_users: { invite_by_cc: true }, abilities: { invite_by_cc: ["staff", "admin"] } });
    expect(await admitAt(w, w.withStranger, w.stan, "third@party.test", "cc")).toMatchObject({ kind: "skipped", reason: "the author may not invite by CC" });
  });

  it("admits what a member CCs, as before", async () => {
    const w = await world();
    const admission = await admitAt(w, w.conversation, w.alice, "friend@elsewhere.test", "cc");
    expect(admission.kind).toBe("admitted");
    expect(await emails(w, w.conversation)).toContain("friend@elsewhere.test");
  });

  it("leaves start and add alone: the rule is about CC", async () => {
    const w = await world();
    // Stan takes part, so he may add a known member to his own conversation.
    const added = await admitAt(w, w.withStranger, w.stan, w.bob.email, "add");
    expect(added.kind).toBe("admitted");
  });
});

describe("conversations.max_participants", () => {
  const CAP = { conversations: { max_participants: 3 } };

  it("skips a CC'd address once the conversation is full, naming the key", async () => {
    const w = await world(CAP);
    expect((await admitAt(w, w.conversation, w.alice, "third@elsewhere.test", "cc")).kind).toBe("admitted");
    const admission = await admitAt(w, w.conversation, w.alice, "fourth@elsewhere.test", "cc");
    expect(admission.kind).toBe("skipped");
    expect(admission.kind === "skipped" && admission.reason).toBe("the conversation already has 3 participants (conversations.max_participants = 3)");
    expect(await w.t.read(({ tx }) => findUserByEmail(tx, "fourth@elsewhere.test"))).toBeUndefined();
    expect(await emails(w, w.conversation)).toHaveLength(3);
  });

  it("refuses add and start beyond it, naming the key", async () => {
    const w = await world(CAP);
    const carol = await seedUser(w.t, "carol@elsewhere.test", "Carol");
    const dave = await seedUser(w.t, "dave@elsewhere.test", "Dave");
    expect((await admitAt(w, w.conversation, w.alice, carol.email, "add")).kind).toBe("admitted");

    const refusedAdd = await admitAt(w, w.conversation, w.alice, dave.email, "add");
    expect(refusedAdd.kind).toBe("refused");
    const refusal = refusedAdd.kind === "refused" ? refusedAdd.refusal : undefined;
    expect(refusal).toBeInstanceOf(Refusal);
    expect(refusal?.reason).toBe("not_allowed");
    expect(refusal?.sentence).toMatch(/already has 3 participants.*conversations\.max_participants = 3.*dave@elsewhere\.test was not added/);

    const refusedStart = await refusalOf(w.t.write((ctx) => admitOrRefuse(ctx, { conversation: w.conversation, candidate: dave, by: w.alice, way: "start" }), T0));
    expect(refusedStart.sentence).toMatch(/conversations\.max_participants = 3/);
    expect(await emails(w, w.conversation)).toHaveLength(3);
  });

  it("counts only people taking part: someone who left frees a place", async () => {
    const w = await world({ conversations: { max_participants: 2 } });
    expect(await admitAt(w, w.conversation, w.alice, "third@elsewhere.test", "cc")).toMatchObject({ kind: "skipped", reason: expect.stringContaining("conversations.max_participants") });
    await seedLeave(w.t, w.conversation, w.bob, T0 + 1000);
    expect((await admitAt(w, w.conversation, w.alice, "third@elsewhere.test", "cc", T0 + 2000)).kind).toBe("admitted");
  });
});

describe("conversations.max_cc_invites_per_day", () => {
  const CAP = { conversations: { max_cc_invites_per_day: 2 } };

  it("skips CC invitations beyond the cap per inviter across all conversations, naming the key, until 24 hours have passed", async () => {
    const w = await world(CAP);
    const second = (await seedConversation(w.t, w.alice, [w.bob], { now: BEFORE, subject: "Another" })).conversation;
    expect((await admitAt(w, w.conversation, w.alice, "one@elsewhere.test", "cc", T0)).kind).toBe("admitted");
    expect((await admitAt(w, second, w.alice, "two@elsewhere.test", "cc", T0 + 1000)).kind).toBe("admitted");
    expect(await w.t.read(({ tx }) => countParticipantsAddedBySince(tx, w.alice.id, T0 + 2000 - DAY))).toBe(2);

    const third = await admitAt(w, second, w.alice, "three@elsewhere.test", "cc", T0 + 2000);
    expect(third.kind).toBe("skipped");
    expect(third.kind === "skipped" && third.reason).toBe("the author already brought 2 people in within 24 hours (conversations.max_cc_invites_per_day = 2)");
    expect(await w.t.read(({ tx }) => findUserByEmail(tx, "three@elsewhere.test"))).toBeUndefined();

    // Another inviter has a day of their own.
    expect((await admitAt(w, second, w.bob, "four@elsewhere.test", "cc", T0 + 3000)).kind).toBe("admitted");
    // A day after the first two, Alice may invite again.
    expect((await admitAt(w, second, w.alice, "three@elsewhere.test", "cc", T0 + 1000 + DAY)).kind).toBe("admitted");
  });

  it("0 means no limit", async () => {
    const w = await world({ conversations: { max_cc_invites_per_day: 0 } });
    for (const n of [1, 2, 3]) expect((await admitAt(w, w.conversation, w.alice, `p${n}@elsewhere.test`, "cc")).kind).toBe("admitted");
  });
});
