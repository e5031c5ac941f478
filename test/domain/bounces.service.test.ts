import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { bounceWeightOf, bouncingReason, countBounce } from "../../src/domain/bounces.service.js";
import { recordBounce } from "../../src/domain/deliveries.service.js";
import type { User } from "../../src/domain/records.js";
import { findUserById } from "../../src/domain/users.repo.js";
import { setUserSettings } from "../../src/domain/users.service.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedDirectConversation, T0, type DirectConversation } from "../helpers/seed.js";

const DAY = 86_400_000;

let t: TestStore;
let seeded: DirectConversation;

beforeEach(async () => {
  t = await createTestStore();
  seeded = await seedDirectConversation(t);
});
afterEach(() => t.dispose());

const bob = () => seeded.bob;
const bounce = (weight: "soft" | "hard", at: number) => t.write(({ tx, config }) => countBounce(tx, config, bob().id, weight, at), at);
const reload = async (): Promise<User> => (await t.read(({ tx }) => findUserById(tx, bob().id)))!;

describe("bounce weights", () => {
  it("counts a missing mailbox as hard, a full one as soft, and our own relay's troubles not at all", () => {
    expect(bounceWeightOf("recipient", false)).toBe("hard");
    expect(bounceWeightOf("mailbox_full", false)).toBe("soft");
    for (const category of ["policy", "network", "configuration", "unknown", null]) expect(bounceWeightOf(category, false)).toBeUndefined();
    // A report from the recipient's side is about their address whatever it says.
    expect(bounceWeightOf("policy", true)).toBe("soft");
    expect(bounceWeightOf(null, true)).toBe("soft");
  });
});

describe("the bounce score (defaults: soft 1, hard 2, threshold 4, decay after 30 days)", () => {
  it("stops mail at the threshold and keeps the time it stopped", async () => {
    await bounce("hard", T0);
    expect(await reload()).toMatchObject({ bounceScore: 2, bouncingSince: null, lastBounceAt: T0 });
    await bounce("soft", T0 + DAY);
    expect(await reload()).toMatchObject({ bounceScore: 3, bouncingSince: null });
    await bounce("soft", T0 + 2 * DAY);
    const stopped = await reload();
    expect(stopped).toMatchObject({ bounceScore: 4, bouncingSince: T0 + 2 * DAY });
    expect(bouncingReason(stopped)).toMatch(/--reset-bounces/);
    // Later bounces raise the score but keep the first time it stopped.
    await bounce("hard", T0 + 3 * DAY);
    expect(await reload()).toMatchObject({ bounceScore: 6, bouncingSince: T0 + 2 * DAY });
  });

  it("starts again from the weight after 30 days without a bounce", async () => {
    await bounce("hard", T0);
    await bounce("soft", T0 + 31 * DAY);
    expect(await reload()).toMatchObject({ bounceScore: 1, bouncingSince: null, lastBounceAt: T0 + 31 * DAY });
  });

  it("never stops mail with threshold 0", async () => {
    await t.dispose();
    t = await createTestStore(buildConfig({ gateway: { domain: "example.test" }, bounces: { threshold: 0 } }, "test"));
    seeded = await seedDirectConversation(t);
    for (let i = 0; i < 5; i++) await bounce("hard", T0 + i);
    expect(await reload()).toMatchObject({ bounceScore: 10, bouncingSince: null });
  });

  it("resumes mail on --reset-bounces", async () => {
    await bounce("hard", T0);
    await bounce("hard", T0 + 1);
    await t.write(({ tx }) => setUserSettings(tx, bob().email, { resetBounces: true }), T0 + 2);
    expect(await reload()).toMatchObject({ bounceScore: 0, bouncingSince: null, lastBounceAt: null });
  });

  it("counts two reports about the same copy once", async () => {
    const report = () => t.write((ctx) => recordBounce(ctx, seeded.delivery, "550 5.1.1 unknown", "recipient"), T0 + 10);
    await report();
    await report();
    expect(await reload()).toMatchObject({ bounceScore: 2 });
  });

  it("counts every bounce when several are recorded at once", async () => {
    await Promise.all([bounce("soft", T0), bounce("soft", T0 + 1), bounce("soft", T0 + 2)]);
    expect((await reload()).bounceScore).toBe(3);
  });
});
