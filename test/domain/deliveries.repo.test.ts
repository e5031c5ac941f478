import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliveries } from "../../schema/schema.js";
import * as outbox from "../../src/domain/deliveries.repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { addPost, getDelivery, queuePostDelivery, seedDirectConversation, T0 } from "../helpers/seed.js";

let database: TestDatabase;
beforeEach(() => {
  database = createTestDatabase();
});
afterEach(() => database.dispose());

const claim = (owner: string, now = T0, limit = 10) => outbox.claimDue(database.db, { now, owner, leaseMs: 60_000, limit });

describe("outbox repository", () => {
  it("claims due rows with a lease, counting no attempt yet", () => {
    const { delivery } = seedDirectConversation(database.db);
    const [row] = claim("w1");
    expect(row).toMatchObject({ id: delivery.id, status: "sending", leaseOwner: "w1", leaseExpiresAt: T0 + 60_000, attempts: 0 });
    expect(claim("w2")).toEqual([]);
  });

  it("leaves rows that are not due yet", () => {
    const { delivery } = seedDirectConversation(database.db);
    database.db.update(deliveries).set({ nextAttemptAt: T0 + 1 }).where(eq(deliveries.id, delivery.id)).run();
    expect(claim("w1")).toEqual([]);
    expect(claim("w1", T0 + 1)).toHaveLength(1);
  });

  it("takes over a row whose lease expired (its worker died), not one whose lease still runs", () => {
    const { delivery, conversation, alice, bob } = seedDirectConversation(database.db);
    const other = queuePostDelivery(database.db, addPost(database.db, { conversationId: conversation.id, authorId: alice.id, body: "2" }), bob);
    database.db.update(deliveries).set({ status: "sending", leaseOwner: "dead", leaseExpiresAt: T0 - 1 }).where(eq(deliveries.id, delivery.id)).run();
    database.db.update(deliveries).set({ status: "sending", leaseOwner: "alive", leaseExpiresAt: T0 + 1 }).where(eq(deliveries.id, other.id)).run();
    expect(claim("w1").map((r) => r.id)).toEqual([delivery.id]);
    expect(getDelivery(database.db, other.id).leaseOwner).toBe("alive");
  });

  it("respects the limit, oldest due first, and skips excluded ids", () => {
    const { conversation, alice, bob, delivery } = seedDirectConversation(database.db);
    const ids = [delivery.id];
    for (let i = 0; i < 4; i++) {
      ids.push(queuePostDelivery(database.db, addPost(database.db, { conversationId: conversation.id, authorId: alice.id, body: `${i}` }), bob).id);
    }
    expect(outbox.claimDue(database.db, { now: T0, owner: "w", leaseMs: 1000, limit: 2, excludeIds: [ids[0] ?? 0] }).map((r) => r.id)).toEqual(ids.slice(1, 3));
  });

  it("lets only the lease owner record an outcome", () => {
    const { delivery } = seedDirectConversation(database.db);
    claim("w1");
    expect(outbox.markSent(database.db, delivery.id, "w2", T0)).toBe(false);
    expect(outbox.markFailed(database.db, delivery.id, "w2", "x")).toBe(false);
    expect(outbox.markDeferred(database.db, delivery.id, "w2", T0, "x")).toBe(false);
    expect(getDelivery(database.db, delivery.id).status).toBe("sending");
    expect(outbox.markSent(database.db, delivery.id, "w1", T0 + 5)).toBe(true);
    expect(getDelivery(database.db, delivery.id)).toMatchObject({ status: "sent", attempts: 1, sentAt: T0 + 5, leaseOwner: null, leaseExpiresAt: null });
    // Already recorded: a second outcome for the same lease is refused.
    expect(outbox.markFailed(database.db, delivery.id, "w1", "late")).toBe(false);
  });

  it("counts an attempt on deferral and failure, none on postponement", () => {
    const { delivery } = seedDirectConversation(database.db);
    claim("w");
    outbox.markDeferred(database.db, delivery.id, "w", T0 + 60_000, "451 later");
    expect(getDelivery(database.db, delivery.id)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + 60_000, lastError: "451 later" });
    claim("w", T0 + 60_000);
    outbox.markPostponed(database.db, delivery.id, "w", T0 + 120_000, "daily limit");
    expect(getDelivery(database.db, delivery.id)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + 120_000, lastError: "daily limit" });
    claim("w", T0 + 120_000);
    outbox.markFailed(database.db, delivery.id, "w", "550 no such user");
    expect(getDelivery(database.db, delivery.id)).toMatchObject({ status: "failed", attempts: 2, lastError: "550 no such user" });
  });

  it("lists deliveries in the `queue list --json` shape, newest first", () => {
    const { delivery, conversation, alice, bob } = seedDirectConversation(database.db);
    const second = queuePostDelivery(database.db, addPost(database.db, { conversationId: conversation.id, authorId: alice.id, body: "2" }), bob);
    claim("w");
    outbox.markFailed(database.db, second.id, "w", "550 gone");
    expect(outbox.listDeliveries(database.db, { limit: 10 })).toEqual([
      { id: second.id, to: "bob@elsewhere.test", status: "failed", attempts: 1, nextAttemptAt: null, lastError: "550 gone" },
      { id: delivery.id, to: "bob@elsewhere.test", status: "sending", attempts: 0, nextAttemptAt: new Date(T0).toISOString(), lastError: null },
    ]);
    expect(outbox.listDeliveries(database.db, { limit: 1 })).toHaveLength(1);
    expect(outbox.listDeliveries(database.db, { limit: 10, status: "failed" }).map((e) => e.id)).toEqual([second.id]);
  });

  it("retries failed rows now, but not sent, in-flight or unknown ones", () => {
    const { delivery, conversation, alice, bob } = seedDirectConversation(database.db);
    const second = queuePostDelivery(database.db, addPost(database.db, { conversationId: conversation.id, authorId: alice.id, body: "2" }), bob);
    claim("w");
    outbox.markFailed(database.db, delivery.id, "w", "550");
    expect(outbox.retryDelivery(database.db, second.id, T0 + 10)).toBe(false);
    outbox.markSent(database.db, second.id, "w", T0);
    expect(outbox.retryDelivery(database.db, delivery.id, T0 + 10)).toBe(true);
    expect(getDelivery(database.db, delivery.id)).toMatchObject({ status: "queued", nextAttemptAt: T0 + 10 });
    expect(outbox.retryDelivery(database.db, second.id, T0 + 10)).toBe(false);
    expect(outbox.retryDelivery(database.db, 9999, T0 + 10)).toBe(false);
  });

  it("counts post copies sent to a person in the last 24 hours", () => {
    const { delivery, conversation, alice, bob } = seedDirectConversation(database.db);
    const second = queuePostDelivery(database.db, addPost(database.db, { conversationId: conversation.id, authorId: alice.id, body: "2" }), bob);
    claim("w");
    outbox.markSent(database.db, delivery.id, "w", T0);
    outbox.markSent(database.db, second.id, "w", T0 + 3_600_000);
    expect(outbox.countSentToday(database.db, bob.id, T0 + 3_600_000)).toBe(2);
    expect(outbox.sentInLastDay(database.db, bob.id, T0 + 86_400_000)).toEqual({ count: 1, oldestSentAt: T0 + 3_600_000 });
    expect(outbox.countSentToday(database.db, alice.id, T0)).toBe(0);
  });
});
