import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Tx } from "../../src/db/store.js";
import * as outbox from "../../src/domain/deliveries.repo.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { getDelivery, seedDirectConversation, seedPostCopy, T0 } from "../helpers/seed.js";

const MIN = 60_000;

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

const claim = (owner: string, now = T0, limit = 10) => t.write(({ tx }) => outbox.claimDue(tx, { now, owner, leaseMs: 60_000, limit }));
/** Runs one repository call in its own transaction. */
const run = <T>(work: (tx: Tx) => Promise<T>) => t.write(({ tx }) => work(tx));

describe("outbox repository", () => {
  it("claims due rows with a lease, counting no attempt yet", async () => {
    const { delivery } = await seedDirectConversation(t);
    const [row] = await claim("w1");
    expect(row).toMatchObject({ id: delivery.id, status: "sending", leaseOwner: "w1", leaseExpiresAt: T0 + 60_000, attempts: 0 });
    expect(await claim("w2")).toEqual([]);
  });

  it("leaves rows that are not due yet", async () => {
    // Queued at T0 + 1, so first due then.
    await seedDirectConversation(t, { now: T0 + 1 });
    expect(await claim("w1")).toEqual([]);
    expect(await claim("w1", T0 + 1)).toHaveLength(1);
  });

  it("takes over a row whose lease expired (its worker died), not one whose lease still runs", async () => {
    // Both queued two minutes early and claimed then: one lease ran out just before T0, one runs past it.
    const queuedAt = T0 - 2 * MIN;
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t, { now: queuedAt });
    const { delivery: other } = await seedPostCopy(t, conversation, alice, bob, { body: "2", now: queuedAt });
    const lease = (owner: string, expiresAt: number) => t.write(({ tx }) => outbox.claimDue(tx, { now: queuedAt, owner, leaseMs: expiresAt - queuedAt, limit: 1 }));
    expect((await lease("dead", T0 - 1)).map((r) => r.id)).toEqual([delivery.id]);
    expect((await lease("alive", T0 + 1)).map((r) => r.id)).toEqual([other.id]);

    expect((await claim("w1")).map((r) => r.id)).toEqual([delivery.id]);
    expect((await getDelivery(t, other.id)).leaseOwner).toBe("alive");
  });

  it("respects the limit, oldest due first", async () => {
    const { conversation, alice, bob, delivery } = await seedDirectConversation(t);
    const ids = [delivery.id];
    for (let i = 0; i < 4; i++) {
      ids.push((await seedPostCopy(t, conversation, alice, bob, { body: `${i}` })).delivery.id);
    }
    expect((await t.write(({ tx }) => outbox.claimDue(tx, { now: T0, owner: "w", leaseMs: 1000, limit: 2 }))).map((r) => r.id)).toEqual(ids.slice(0, 2));
  });

  it("lets only the lease owner record an outcome", async () => {
    const { delivery } = await seedDirectConversation(t);
    await claim("w1");
    expect(await run((tx) => outbox.markSent(tx, delivery.id, "w2", T0))).toBe(false);
    expect(await run((tx) => outbox.markFailed(tx, delivery.id, "w2", "x", null))).toBe(false);
    expect(await run((tx) => outbox.markDeferred(tx, delivery.id, "w2", T0, "x", null))).toBe(false);
    expect((await getDelivery(t, delivery.id)).status).toBe("sending");
    expect(await run((tx) => outbox.markSent(tx, delivery.id, "w1", T0 + 5))).toBe(true);
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 1, sentAt: T0 + 5, leaseOwner: null, leaseExpiresAt: null });
    // Already recorded: a second outcome for the same lease is refused.
    expect(await run((tx) => outbox.markFailed(tx, delivery.id, "w1", "late", null))).toBe(false);
  });

  it("counts an attempt on deferral and failure, none on postponement", async () => {
    const { delivery } = await seedDirectConversation(t);
    await claim("w");
    await run((tx) => outbox.markDeferred(tx, delivery.id, "w", T0 + 60_000, "451 later", "unknown"));
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + 60_000, lastError: "451 later" });
    await claim("w", T0 + 60_000);
    await run((tx) => outbox.markPostponed(tx, delivery.id, "w", T0 + 120_000, "daily limit"));
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + 120_000, lastError: "daily limit" });
    await claim("w", T0 + 120_000);
    await run((tx) => outbox.markFailed(tx, delivery.id, "w", "550 no such user", "unknown"));
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "failed", attempts: 2, lastError: "550 no such user" });
  });

  it("lists deliveries in the `queue list --json` shape, newest first", async () => {
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    await claim("w");
    await run((tx) => outbox.markFailed(tx, second.id, "w", "550 gone", "mailbox"));
    expect(await t.read(({ tx }) => outbox.listDeliveries(tx, { limit: 10 }))).toEqual([
      { id: second.id, to: "bob@elsewhere.test", status: "failed", attempts: 1, nextAttemptAt: null, lastError: "550 gone", category: "mailbox" },
      { id: delivery.id, to: "bob@elsewhere.test", status: "sending", attempts: 0, nextAttemptAt: new Date(T0).toISOString(), lastError: null, category: null },
    ]);
    expect(await t.read(({ tx }) => outbox.listDeliveries(tx, { limit: 1 }))).toHaveLength(1);
    expect((await t.read(({ tx }) => outbox.listDeliveries(tx, { limit: 10, status: "failed" }))).map((e) => e.id)).toEqual([second.id]);
  });

  it("retries failed rows now, but not sent, in-flight or unknown ones", async () => {
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    await claim("w");
    await run((tx) => outbox.markFailed(tx, delivery.id, "w", "550", null));
    expect(await run((tx) => outbox.retryDelivery(tx, second.id, T0 + 10))).toBe(false);
    await run((tx) => outbox.markSent(tx, second.id, "w", T0));
    expect(await run((tx) => outbox.retryDelivery(tx, delivery.id, T0 + 10))).toBe(true);
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "queued", nextAttemptAt: T0 + 10 });
    expect(await run((tx) => outbox.retryDelivery(tx, second.id, T0 + 10))).toBe(false);
    expect(await run((tx) => outbox.retryDelivery(tx, 9999, T0 + 10))).toBe(false);
  });

  it("counts post copies sent to a person in the last 24 hours", async () => {
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    await claim("w");
    await run((tx) => outbox.markSent(tx, delivery.id, "w", T0));
    await run((tx) => outbox.markSent(tx, second.id, "w", T0 + 3_600_000));
    const usage = (recipientId: number, now: number) => t.read(({ tx }) => outbox.dailyUsage(tx, { id: 0, recipientId }, now));
    expect((await usage(bob.id, T0 + 3_600_000)).count).toBe(2);
    expect(await usage(bob.id, T0 + 86_400_000)).toEqual({ count: 1, oldestSentAt: T0 + 3_600_000, inFlight: 0 });
    expect((await usage(alice.id, T0)).count).toBe(0);
  });

  it("counts copies to the same person in flight on any worker, only those claimed before this one", async () => {
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    const { delivery: third } = await seedPostCopy(t, conversation, alice, bob, { body: "3" });
    await claim("node-a");
    const inFlight = async (id: number) => (await t.read(({ tx }) => outbox.dailyUsage(tx, { id, recipientId: bob.id }, T0))).inFlight;
    // The first claimed goes ahead; the later ones see the earlier ones in flight, so no two wait on each other.
    expect([await inFlight(delivery.id), await inFlight(second.id), await inFlight(third.id)]).toEqual([0, 1, 2]);
    await run((tx) => outbox.markSent(tx, delivery.id, "node-a", T0));
    expect(await inFlight(third.id)).toBe(1);
  });
});
