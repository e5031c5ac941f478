import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { silentLogger } from "../../src/log.js";
import { expireInvitationsJob } from "../../src/scheduler/expire-invitations.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { seedConversation, seedUser, T0 } from "../helpers/seed.js";

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

describe("the expire-invitations job", () => {
  it("expires what is due at the scheduler's clock, and wakes the delivery worker only when it queued notices", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test");
    const bob = await seedUser(t, "bob@elsewhere.test");
    const { conversation } = await seedConversation(t, alice, [bob], { consent: true });
    let wakes = 0;
    const job = expireInvitationsJob({ store: t.store, config: t.config, logger: silentLogger(), onQueued: () => (wakes += 1) });
    expect(job.name).toBe("expire-invitations");

    await job.run(T0 + t.config.consent.expire_after - 1);
    expect(wakes).toBe(0);
    await job.run(T0 + t.config.consent.expire_after);
    expect(wakes).toBe(1);
    expect((await t.read(({ tx }) => findConversation(tx, conversation.id)))?.state).toBe("closed");
    await job.run(T0 + t.config.consent.expire_after + 1);
    expect(wakes).toBe(1);
  });

  it("drains a backlog larger than one batch in one run", async () => {
    const alice = await seedUser(t, "alice@elsewhere.test");
    const bob = await seedUser(t, "bob@elsewhere.test");
    for (let i = 0; i < 105; i++) await seedConversation(t, alice, [bob], { subject: `Invitation ${i}`, consent: true });
    const job = expireInvitationsJob({ store: t.store, config: t.config, logger: silentLogger() });
    await job.run(T0 + t.config.consent.expire_after);
    const states = await t.read(({ tx }) => tx.db.query.conversations.findMany());
    expect(states.every((c) => c.state === "closed")).toBe(true);
    expect(states).toHaveLength(105);
  });
});
