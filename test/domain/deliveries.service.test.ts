import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { claimDue } from "../../src/domain/deliveries.repo.js";
import { recordBounce, recordDeliveryOutcome, type DeliveryOutcome } from "../../src/domain/deliveries.service.js";
import type { Delivery } from "../../src/domain/records.js";
import { findUserById } from "../../src/domain/users.repo.js";
import { tellAuthorTooLarge } from "../../src/domain/undelivered.service.js";
import { deliveries, notices } from "../../schema/schema.js";
import type { Logger } from "../../src/log.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { getDelivery, seedDirectConversation, T0, type DirectConversation } from "../helpers/seed.js";

const LEASE_MS = 60_000;
const NOW = T0 + 5_000;

let t: TestStore;
let seeded: DirectConversation;
let lines: Record<string, unknown>[];
let log: Logger;

beforeEach(async () => {
  t = await createTestStore();
  seeded = await seedDirectConversation(t);
  lines = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  log = pino({ level: "info" }, stream);
});
afterEach(() => t.dispose());

const claim = (owner: string, now = T0) => t.write(({ tx }) => claimDue(tx, { now, owner, leaseMs: LEASE_MS, limit: 10 }), now);
async function claimOne(owner = "w1", now = T0): Promise<Delivery> {
  const [row] = await claim(owner, now);
  if (!row) throw new Error("nothing to claim");
  return row;
}
const record = (row: Delivery, owner: string, outcome: DeliveryOutcome, now = NOW) =>
  t.write(({ tx, config }) => recordDeliveryOutcome(tx, config, log, row, owner, outcome, now), now);
const events = () => lines.map((line) => line.event);

/** pino's numeric levels. */
const INFO = 30;
const WARN = 40;
const ERROR = 50;

describe("recordDeliveryOutcome", () => {
  it("claiming holds the lease and counts no attempt", async () => {
    const row = await claimOne();
    expect(row).toMatchObject({ id: seeded.delivery.id, status: "sending", leaseOwner: "w1", leaseExpiresAt: T0 + LEASE_MS, attempts: 0 });
  });

  const cases: {
    readonly outcome: DeliveryOutcome;
    readonly row: Partial<Delivery>;
    readonly level: number;
    readonly logged: Record<string, unknown>;
  }[] = [
    {
      outcome: { kind: "sent", messageId: "<postern.post.x@example.test>", response: "250 2.0.0 OK queued" },
      row: { status: "sent", sentAt: NOW, attempts: 1, lastError: null, errorCategory: null, nextAttemptAt: T0 },
      level: INFO,
      logged: { event: "delivery.sent", attempts: 1, response: "250 2.0.0 OK queued", messageId: "<postern.post.x@example.test>", recorded: true },
    },
    {
      outcome: { kind: "deferred", at: NOW + 60_000, error: "421 4.7.0 try later", rule: "smtp-4xx", category: "throttled" },
      row: { status: "queued", sentAt: null, attempts: 1, nextAttemptAt: NOW + 60_000, lastError: "421 4.7.0 try later", errorCategory: "throttled" },
      level: WARN,
      logged: { event: "delivery.deferred", attempts: 1, rule: "smtp-4xx", category: "throttled", error: "421 4.7.0 try later", nextAttemptAt: new Date(NOW + 60_000).toISOString(), recorded: true },
    },
    {
      outcome: { kind: "postponed", at: NOW + 3_600_000, reason: "daily limit reached", rule: "daily-limit" },
      row: { status: "queued", sentAt: null, attempts: 0, nextAttemptAt: NOW + 3_600_000, lastError: "daily limit reached", errorCategory: null },
      level: INFO,
      logged: { event: "delivery.postponed", attempts: 0, rule: "daily-limit", reason: "daily limit reached", recorded: true },
    },
    {
      outcome: { kind: "skipped", reason: "the recipient left the conversation" },
      row: { status: "skipped", sentAt: null, attempts: 0, lastError: "the recipient left the conversation", errorCategory: null, nextAttemptAt: T0 },
      level: INFO,
      logged: { event: "delivery.skipped", reason: "the recipient left the conversation", recorded: true },
    },
    {
      outcome: { kind: "failed", error: "550 5.1.1 no such user", rule: "smtp-5xx", category: "recipient" },
      row: { status: "failed", sentAt: null, attempts: 1, lastError: "550 5.1.1 no such user", errorCategory: "recipient", nextAttemptAt: T0 },
      level: ERROR,
      logged: { event: "delivery.failed", attempts: 1, rule: "smtp-5xx", category: "recipient", error: "550 5.1.1 no such user", recorded: true },
    },
  ];

  it.each(cases)("records $outcome.kind, releasing the lease and logging $logged.event", async ({ outcome, row, level, logged }) => {
    const claimed = await claimOne();
    expect(await record(claimed, "w1", outcome)).toBe(true);

    const stored = await getDelivery(t, claimed.id);
    expect(stored).toMatchObject({ ...row, leaseOwner: null, leaseExpiresAt: null, bouncedAt: null });

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level,
      ...logged,
      deliveryId: claimed.id,
      kind: "post",
      postId: seeded.post.id,
      conversationId: seeded.conversation.id,
      to: seeded.bob.email,
    });
  });

  it("counts attempts across deferrals and a final send", async () => {
    const first = await claimOne("w1", T0);
    await record(first, "w1", { kind: "deferred", at: T0 + 10, error: "timeout", rule: "network", category: "network" }, T0 + 5);
    const second = await claimOne("w2", T0 + 10);
    expect(second.attempts).toBe(1);
    await record(second, "w2", { kind: "postponed", at: T0 + 20, reason: null, rule: "shutdown" }, T0 + 15);
    // A postponement without a reason keeps the last error, and is no attempt.
    expect(await getDelivery(t, second.id)).toMatchObject({ status: "queued", attempts: 1, lastError: "timeout", errorCategory: "network" });
    const third = await claimOne("w3", T0 + 20);
    await record(third, "w3", { kind: "sent", messageId: "<m@x.test>", response: "250 ok" }, T0 + 25);
    expect(await getDelivery(t, third.id)).toMatchObject({ status: "sent", attempts: 2, sentAt: T0 + 25, lastError: null, errorCategory: null });
    expect(events()).toEqual(["delivery.deferred", "delivery.postponed", "delivery.sent"]);
    expect(lines[2]).toMatchObject({ attempts: 2 });
  });

  it.each(cases.map((c) => c.outcome))("answers false for $kind when another owner holds the lease, and logs delivery.lease_lost", async (outcome) => {
    const claimed = await claimOne("w1");
    expect(await record(claimed, "intruder", outcome)).toBe(false);
    // The row is the other owner's, untouched.
    expect(await getDelivery(t, claimed.id)).toEqual(claimed);
    expect(events()).toEqual([`delivery.${outcome.kind}`, "delivery.lease_lost"]);
    expect(lines[0]).toMatchObject({ recorded: false });
    expect(lines[1]).toMatchObject({ level: WARN, deliveryId: claimed.id, to: seeded.bob.email });
  });

  it("a worker whose lease ran out and was taken over cannot overwrite the new owner's outcome", async () => {
    const stale = await claimOne("w1", T0);
    const fresh = await claimOne("w2", T0 + LEASE_MS + 1);
    expect(fresh).toMatchObject({ leaseOwner: "w2" });
    expect(await record(fresh, "w2", { kind: "sent", messageId: "<m@x.test>", response: "250 ok" }, T0 + LEASE_MS + 2)).toBe(true);
    expect(await record(stale, "w1", { kind: "failed", error: "550 late", rule: "smtp-5xx", category: "recipient" }, T0 + LEASE_MS + 3)).toBe(false);
    expect(await getDelivery(t, stale.id)).toMatchObject({ status: "sent", attempts: 1, lastError: null });
    expect(events()).toEqual(["delivery.sent", "delivery.failed", "delivery.lease_lost"]);
  });

  it("a row already recorded cannot be recorded again by the same owner", async () => {
    const claimed = await claimOne("w1");
    expect(await record(claimed, "w1", { kind: "skipped", reason: "gone" })).toBe(true);
    expect(await record(claimed, "w1", { kind: "sent", messageId: "<m@x.test>", response: "250 ok" })).toBe(false);
    expect(await getDelivery(t, claimed.id)).toMatchObject({ status: "skipped", attempts: 0 });
    expect(events()).toEqual(["delivery.skipped", "delivery.sent", "delivery.lease_lost"]);
  });
});

describe("bounce score from the relay's own refusals", () => {
  const scoreOf = async (id: number) => (await t.read(({ tx }) => findUserById(tx, id)))!.bounceScore;

  it("a recipient refused outright counts as a hard bounce, a full mailbox as a soft one", async () => {
    const claimed = await claimOne();
    await record(claimed, "w1", { kind: "failed", error: "550 5.1.1 no such user", rule: "smtp-5xx", category: "recipient" });
    expect(await scoreOf(claimed.recipientId)).toBe(2);
  });

  it("our relay's own trouble (policy, configuration) counts nothing", async () => {
    const claimed = await claimOne();
    await record(claimed, "w1", { kind: "failed", error: "554 5.7.1 relay access denied", rule: "smtp-5xx", category: "policy" });
    expect(await scoreOf(claimed.recipientId)).toBe(0);
  });
});

describe("a copy refused for its size", () => {
  const undelivered = () => t.read(async ({ tx }) => (await tx.db.select().from(notices)).filter((n) => n.kind === "undelivered"));

  it("is failed for good and its author is told once, however many copies fail", async () => {
    const claimed = await claimOne();
    await record(claimed, "w1", { kind: "failed", error: "552 5.3.4 Message size exceeds fixed limit", rule: "message-too-large", category: "message_too_large" });
    await t.write((ctx) => tellAuthorTooLarge(ctx, claimed, "message_too_large"), NOW + 1);
    const [notice, ...more] = await undelivered();
    expect(more).toEqual([]);
    expect(notice).toMatchObject({ postId: claimed.postId, userId: seeded.bob.id });
    const toAuthor = (await t.read(({ tx }) => tx.db.select().from(deliveries))).filter((d) => d.noticeId === notice!.id);
    expect(toAuthor.map((d) => d.toAddress)).toEqual([seeded.alice.email]);
    // Its recipient's address is fine: no bounce score.
    expect((await t.read(({ tx }) => findUserById(tx, seeded.bob.id)))!.bounceScore).toBe(0);
  });

  it("a size bounce reported later tells the author too", async () => {
    const claimed = await claimOne();
    await record(claimed, "w1", { kind: "sent", messageId: "<m@x.test>", response: "250 ok" });
    const sent = await getDelivery(t, claimed.id);
    await t.write((ctx) => recordBounce(ctx, sent, "5.3.4 message too big", "message_too_large"), NOW + 1000);
    expect(await undelivered()).toHaveLength(1);
  });
});

describe("recordBounce", () => {
  it("marks a sent delivery bounced, with the detail and category", async () => {
    const claimed = await claimOne();
    await record(claimed, "w1", { kind: "sent", messageId: "<m@x.test>", response: "250 ok" });
    const sent = await getDelivery(t, claimed.id);
    await t.write((ctx) => recordBounce(ctx, sent, "550 5.1.1 mailbox unknown", "recipient"), NOW + 1000);
    expect(await getDelivery(t, claimed.id)).toMatchObject({
      status: "bounced",
      bouncedAt: NOW + 1000,
      sentAt: NOW,
      attempts: 1,
      lastError: "bounced: 550 5.1.1 mailbox unknown",
      errorCategory: "recipient",
    });
  });

  it("records a bounce without a category", async () => {
    await t.write((ctx) => recordBounce(ctx, seeded.delivery, "no reason given", null), NOW);
    expect(await getDelivery(t, seeded.delivery.id)).toMatchObject({ status: "bounced", bouncedAt: NOW, lastError: "bounced: no reason given", errorCategory: null });
  });
});
