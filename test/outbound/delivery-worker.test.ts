import { Writable } from "node:stream";
import { eq } from "drizzle-orm";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { claimDue } from "../../src/domain/deliveries.repo.js";
import type { Store, Tx } from "../../src/db/store.js";
import { silentLogger } from "../../src/log.js";
import { HELD_BACK_REASON } from "../../src/domain/digests.service.js";
import { DeliveryWorker } from "../../src/outbound/delivery-worker.js";
import { SmtpTransport, smtpTransportSettings } from "../../src/outbound/transports/smtp-transport.js";
import type { OutboundMessage, Transport } from "../../src/outbound/transports/transport.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";
import {
  DOMAIN, getDelivery, queueAndRead, seedDirectConversation, seedForwardDelivery, seedLeave, seedParticipant, seedPostCopy, seedUser, T0,
} from "../helpers/seed.js";

const MIN = 60_000;

let t: TestStore;
let workerStore: Store;
let sinks: SmtpSink[];
let transports: Transport[];
let workers: DeliveryWorker[];
let clock: number;

beforeEach(async () => {
  t = await createTestStore();
  workerStore = await t.openAnother();
  sinks = [];
  transports = [];
  workers = [];
  clock = T0;
});

afterEach(async () => {
  for (const worker of workers) await worker.stop();
  for (const transport of transports) await transport.close();
  for (const sink of sinks) await sink.close();
  await t.dispose();
});

async function sink(port?: number): Promise<SmtpSink> {
  const started = await startSmtpSink(port === undefined ? {} : { port });
  sinks.push(started);
  return started;
}

function relayConfig(port: number, outbound: Record<string, unknown> = {}): Config {
  return buildConfig({
    gateway: { domain: DOMAIN },
    outbound: { transport: "smtp", host: "127.0.0.1", port, connection_timeout: "2s", retry_schedule: ["1m", "5m"], ...outbound },
  });
}

function worker(config: Config, options: { logger?: ReturnType<typeof silentLogger>; owner?: string } = {}): DeliveryWorker {
  const transport = new SmtpTransport(smtpTransportSettings(config));
  transports.push(transport);
  const created = new DeliveryWorker({
    // Its own connection, as in the app: the worker never shares the inbound one.
    store: workerStore,
    config,
    logger: options.logger ?? silentLogger(),
    transport,
    now: () => clock,
    ...(options.owner ? { owner: options.owner } : {}),
  });
  workers.push(created);
  return created;
}

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: ReturnType<typeof silentLogger>; events: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), events: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe("delivery worker over SMTP", () => {
  it("delivers a post to the relay with its envelope and headers, and records it sent", async () => {
    const relay = await sink();
    const { delivery, post, bobParticipant } = await seedDirectConversation(t);
    const { logger, events } = capturingLogger();
    expect(await worker(relayConfig(relay.port), { logger }).pollOnce()).toBe(1);

    const [message] = await relay.waitFor(1);
    expect(message?.envelope).toEqual({ mailFrom: `bounce+${delivery.bounceToken}@${DOMAIN}`, rcptTo: ["bob@elsewhere.test"] });
    const mail = message!.parsed;
    expect(mail.messageId).toBe(post.messageId);
    expect(mail.from?.value).toEqual([{ name: "Alice Example via Postern", address: `conversations@${DOMAIN}` }]);
    expect(mail.replyTo?.value[0]?.address).toBe(`reply+${bobParticipant.replyToken}@${DOMAIN}`);
    expect(mail.subject).toBe("Lunch on Friday?");
    expect(mail.headers.get("precedence")).toBe("list");
    expect(mail.headers.get("x-auto-response-suppress")).toBe("All");
    expect(mail.headers.get("list")).toMatchObject({
      id: { id: `conversation-${delivery.conversationId}.${DOMAIN}` },
      unsubscribe: { mail: `leave+${bobParticipant.leaveToken}@${DOMAIN}` },
      post: { mail: `reply+${bobParticipant.replyToken}@${DOMAIN}` },
    });
    expect(mail.text).toContain("Shall we meet at noon?");
    expect(mail.html).toContain("<p>Shall we meet at noon?</p>");

    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 1, sentAt: T0, lastError: null, leaseOwner: null });
    const sent = events().find((e) => e.event === "delivery.sent");
    expect(sent).toMatchObject({
      deliveryId: delivery.id, postId: post.id, conversationId: delivery.conversationId, to: "bob@elsewhere.test",
      messageId: post.messageId, attempts: 1,
    });
  });

  it("defers on 451 and delivers on a later poll", async () => {
    const relay = await sink();
    const { delivery } = await seedDirectConversation(t);
    const { logger, events } = capturingLogger();
    const w = worker(relayConfig(relay.port), { logger });
    relay.failNext(451);

    await w.pollOnce();
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + MIN });
    expect((await getDelivery(t, delivery.id)).lastError).toMatch(/451/);
    expect(events().find((e) => e.event === "delivery.deferred")).toMatchObject({ deliveryId: delivery.id, attempts: 1, rule: "smtp-4xx" });

    clock = T0 + MIN - 1;
    expect(await w.pollOnce()).toBe(0);
    clock = T0 + MIN;
    expect(await w.pollOnce()).toBe(1);
    await relay.waitFor(1);
    expect(relay.replies).toEqual([451, 250]);
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 2, lastError: null });
  });

  it("marks a 550 failed with the relay's answer, and never tries again", async () => {
    const relay = await sink();
    const { delivery } = await seedDirectConversation(t);
    const { logger, events } = capturingLogger();
    const w = worker(relayConfig(relay.port), { logger });
    relay.failNext(550);

    await w.pollOnce();
    const row = await getDelivery(t, delivery.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row.lastError).toMatch(/550 5\.0\.0 rejected by the test sink/);
    expect(events().find((e) => e.event === "delivery.failed")).toMatchObject({ deliveryId: delivery.id, rule: "smtp-5xx-other", category: "unknown" });
    clock = T0 + 10 * 24 * 60 * MIN;
    expect(await w.pollOnce()).toBe(0);
  });

  it("defers while the relay is down and delivers once it listens again", async () => {
    const gone = await sink();
    const port = gone.port;
    await gone.close();
    sinks = [];
    const { delivery } = await seedDirectConversation(t);
    const w = worker(relayConfig(port));

    await w.pollOnce();
    const row = await getDelivery(t, delivery.id);
    expect(row).toMatchObject({ status: "queued", attempts: 1, nextAttemptAt: T0 + MIN });
    expect(row.lastError).toMatch(/ECONNREFUSED|ESOCKET|ECONNECTION/);

    const back = await sink(port);
    clock = T0 + MIN;
    await w.pollOnce();
    await back.waitFor(1);
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("gives up on temporary failures once give_up_after has passed", async () => {
    const relay = await sink();
    const { delivery } = await seedDirectConversation(t);
    const w = worker(relayConfig(relay.port, { give_up_after: "1h" }));
    relay.failAll(451);
    clock = T0 + 60 * MIN;

    await w.pollOnce();
    const row = await getDelivery(t, delivery.id);
    expect(row.status).toBe("failed");
    expect(row.lastError).toMatch(/^gave up after 1 attempt over 1h; last error: .*451/);
  });

  it("sends a row left in `sending` by a killed worker once more, but not one whose lease still runs", async () => {
    const relay = await sink();
    // Both queued three minutes ago and claimed then by other workers.
    const queuedAt = T0 - 3 * MIN;
    const { delivery: crashed, conversation, alice, bob } = await seedDirectConversation(t, { now: queuedAt });
    const { delivery: held } = await seedPostCopy(t, conversation, alice, bob, { body: "second", now: queuedAt });
    const lease = (owner: string, expiresAt: number) =>
      t.write(({ tx }) => claimDue(tx, { now: queuedAt, owner, leaseMs: expiresAt - queuedAt, limit: 1 }));
    // kill -9 mid-send: status and lease stay behind, no outcome recorded.
    expect((await lease("killed", T0 - 1)).map((r) => r.id)).toEqual([crashed.id]);
    expect((await lease("busy", T0 + 2 * MIN)).map((r) => r.id)).toEqual([held.id]);

    const w = worker(relayConfig(relay.port));
    expect(await w.pollOnce()).toBe(1);
    await relay.waitFor(1);
    expect(await getDelivery(t, crashed.id)).toMatchObject({ status: "sent", attempts: 1 });
    expect(await getDelivery(t, held.id)).toMatchObject({ status: "sending", leaseOwner: "busy" });

    expect(await w.pollOnce()).toBe(0);
    expect(relay.replies).toHaveLength(1);
  });

  it("does not send a row twice when its lease ran out while it waited for a send slot", async () => {
    const relay = await sink();
    relay.delayReplies(300);
    const { delivery: first, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: waiting } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    const w = worker(relayConfig(relay.port, { pool_size: 1, lease: "2m" }));
    const poll = w.pollOnce();
    await relay.waitFor(1);
    // Both leases run out while the first send is still waiting for its 250: the next claim takes
    // both rows back, but this worker already holds them and dispatches neither again.
    clock = T0 + 3 * MIN;
    expect(await w.pollOnce()).toBe(0);
    // The claim did take the waiting row back (a fresh lease from T0 + 3 min), under the same owner.
    expect(await getDelivery(t, waiting.id)).toMatchObject({ status: "sending", leaseOwner: w.owner, leaseExpiresAt: T0 + 5 * MIN, attempts: 0 });
    await poll;
    await relay.waitFor(2);
    expect(relay.replies).toEqual([250, 250]);
    // Each row once. Their order is not the point: on PostgreSQL the copies' reads run on separate
    // connections, so either may reach the single send slot first.
    expect(relay.messages.map((m) => m.envelope.mailFrom).sort()).toEqual([
      `bounce+${first.bounceToken}@${DOMAIN}`, `bounce+${waiting.bounceToken}@${DOMAIN}`,
    ].sort());
    expect(await getDelivery(t, first.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
    expect(await getDelivery(t, waiting.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
    expect(await w.pollOnce()).toBe(0);
  });

  it("stop() resolves only after the in-flight send has finished and been recorded", async () => {
    const relay = await sink();
    relay.delayReplies(400);
    const { delivery } = await seedDirectConversation(t);
    const w = worker(relayConfig(relay.port));
    w.start();
    await relay.waitFor(1);
    expect((await getDelivery(t, delivery.id)).status).toBe("sending");

    let stopped = false;
    const stopping = w.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    await stopping;
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("returns rows still waiting for a send slot to the queue when stopped", async () => {
    const relay = await sink();
    relay.delayReplies(300);
    const { delivery, conversation, alice, bob } = await seedDirectConversation(t);
    // One connection takes two copies: one on the wire, one whose envelope follows its end.
    const { delivery: following } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    const { delivery: waiting } = await seedPostCopy(t, conversation, alice, bob, { body: "3" });
    const w = worker(relayConfig(relay.port, { pool_size: 1 }));
    const poll = w.pollOnce();
    await relay.waitFor(1);
    await w.stop();
    await poll;
    // Which two went first is not the point: on PostgreSQL the copies' reads run on separate connections.
    const rows = await Promise.all([delivery, following, waiting].map((row) => getDelivery(t, row.id)));
    expect(rows.map((row) => row.status).sort()).toEqual(["queued", "sent", "sent"]);
    expect(rows.find((row) => row.status === "queued")).toMatchObject({ attempts: 0, leaseOwner: null });
  });

  it("wake() sends a freshly queued row without waiting for the poll interval", async () => {
    const relay = await sink();
    const w = worker(relayConfig(relay.port, { poll_interval: "1h" }));
    w.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { delivery } = await seedDirectConversation(t);
    w.wake();
    await relay.waitFor(1, 3000);
    await w.stop();
    expect((await getDelivery(t, delivery.id)).status).toBe("sent");
  });

  it("claims the next rows once half a claim is done, so the connections never wait for a claim to empty", async () => {
    const relay = await sink();
    const { delivery: first, conversation, alice, bob } = await seedDirectConversation(t);
    const rows = [first];
    for (let i = 2; i <= 6; i++) rows.push((await seedPostCopy(t, conversation, alice, bob, { body: String(i) })).delivery);
    // Claims of 4 over 2 connections: copies 1 and 2 go out, 3 and 4 wait for a connection.
    const w = worker(relayConfig(relay.port, { batch_size: 4, pool_size: 2, poll_interval: "1h", max_per_user_per_day: 0 }));
    relay.delayReplies(150);
    w.start();
    await relay.waitFor(2);
    // Once 1 and 2 are recorded, only half the claim is left: 5 and 6 are claimed while 3 and 4
    // still wait for their 250, not after.
    relay.delayReplies(3000);
    await relay.waitFor(4);
    const statuses = async () => (await Promise.all(rows.map(async (row) => (await getDelivery(t, row.id)).status))).sort();
    // Two recorded, two on the wire (their 250 is held 3 s; the poll gives up after 2), two claimed.
    await expect.poll(statuses, { timeout: 2000 }).toEqual(["sending", "sending", "sending", "sending", "sent", "sent"]);
    relay.delayReplies(0);
    await relay.waitFor(6, 10_000);
    await w.stop();
    for (const row of rows) expect((await getDelivery(t, row.id)).status).toBe("sent");
  });

  it("holds back copies over the daily limit: skipped for the next digest, no attempt; system mail is exempt", async () => {
    const relay = await sink();
    const { delivery: first, conversation, alice, bob } = await seedDirectConversation(t);
    const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "2" });
    const forward = await seedForwardDelivery(t, bob, Buffer.from("Subject: hi\r\n\r\nhello\r\n"), "hi");
    const w = worker(relayConfig(relay.port, { max_per_user_per_day: 1 }));

    await w.pollOnce();
    await relay.waitFor(2);
    expect((await getDelivery(t, first.id)).status).toBe("sent");
    expect((await getDelivery(t, forward.id)).status).toBe("sent");
    // Checked while the first copy was in flight: it fills the day's share, so the second is held back.
    expect(await getDelivery(t, second.id)).toMatchObject({ status: "skipped", attempts: 0, lastError: HELD_BACK_REASON, leaseOwner: null });

    // Not postponed: nothing comes back to the queue a day later.
    clock = T0 + 24 * 60 * MIN;
    expect(await w.pollOnce()).toBe(0);
    expect(relay.replies).toHaveLength(2);

    // A day after the first send, the share is free again for new copies.
    const { delivery: third } = await seedPostCopy(t, conversation, alice, bob, { body: "3", now: clock });
    await w.pollOnce();
    await relay.waitFor(3);
    expect(await getDelivery(t, third.id)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("skips a copy to someone who left before it went out: no attempt, not a failure", async () => {
    const relay = await sink();
    const { conversation, alice } = await seedDirectConversation(t);
    const leaver = await seedUser(t, "leaver@elsewhere.test");
    await seedParticipant(t, conversation, leaver);
    const { delivery } = await seedPostCopy(t, conversation, alice, leaver, { body: "after they left" });
    await seedLeave(t, conversation, leaver);
    const { logger, events } = capturingLogger();
    const w = worker(relayConfig(relay.port), { logger });

    // Bob's copies of both posts go out; the leaver's does not.
    expect(await w.pollOnce()).toBe(3);
    await relay.waitFor(2);
    const row = await getDelivery(t, delivery.id);
    expect(row).toMatchObject({ status: "skipped", attempts: 0, errorCategory: null, leaseOwner: null });
    expect(row.lastError).toMatch(/left conversation/);
    expect(events().find((e) => e.event === "delivery.skipped")).toMatchObject({ level: 30, deliveryId: delivery.id, to: "leaver@elsewhere.test" });
    expect(events().find((e) => e.event === "delivery.failed")).toBeUndefined();
    expect(relay.messages.map((m) => m.envelope.rcptTo)).toEqual([["bob@elsewhere.test"], ["bob@elsewhere.test"]]);
  });

  it("fails a row whose post is gone, saying why", async () => {
    const relay = await sink();
    const bob = await seedUser(t, "bob@elsewhere.test");
    const [orphan] = await t.write(({ tx }) => queueAndRead(tx, [{ kind: "post", postId: null, recipientId: bob.id, toAddress: bob.email }], T0), T0);
    if (!orphan) throw new Error("orphan delivery not queued");
    await worker(relayConfig(relay.port)).pollOnce();
    expect(await getDelivery(t, orphan.id)).toMatchObject({ status: "failed", attempts: 1, lastError: "cannot render: post (none) no longer exists" });
    expect(relay.replies).toEqual([]);
  });
});

describe("memory: big copies take turns", () => {
  /**
   * A relay that takes a moment per message and remembers how many of the posts' copies it held
   * at once (the conversation's small first message may well pass beside them).
   */
  function countingTransport(): Transport & { most: number } {
    let now = 0;
    const counter = {
      most: 0,
      async send(message: { raw: Buffer }) {
        const counted = message.raw.includes("Copy ");
        if (counted) now++;
        counter.most = Math.max(counter.most, now);
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (counted) now--;
        return { response: `250 ok ${message.raw.length}` };
      },
      async close() {},
    };
    return counter;
  }

  async function sendAll(bodyBytes: number, attachmentBytes: number): Promise<number> {
    const seeded = await seedDirectConversation(t);
    for (let i = 0; i < 3; i++) {
      await seedPostCopy(t, seeded.conversation, seeded.alice, seeded.bob, {
        body: `Copy ${i}. ${"x".repeat(bodyBytes)}`,
        attachments: attachmentBytes ? [{ filename: `scan-${i}.pdf`, contentType: "application/pdf", contentId: null, inline: false, content: Buffer.alloc(attachmentBytes, i) }] : [],
        now: clock + i,
      });
    }
    clock += 10 * MIN;
    const transport = countingTransport();
    const config = buildConfig({ gateway: { domain: DOMAIN }, outbound: { pool_size: 5, max_per_user_per_day: 0 } });
    const created = new DeliveryWorker({ store: workerStore, config, logger: silentLogger(), transport, now: () => clock });
    workers.push(created);
    await created.pollOnce();
    return transport.most;
  }

  it("sends copies of 10 MB posts one at a time, whatever the pool's width", { timeout: 60_000 }, async () => {
    expect(await sendAll(10, 10 * 1024 * 1024)).toBe(1);
  });

  it("sends small copies side by side", async () => {
    expect(await sendAll(10, 0)).toBeGreaterThan(1);
  });
});

/**
 * A relay that takes every message it is handed and answers them all at once when told to: the
 * copies' outcomes then come in together, as a burst's do.
 */
function heldRelay() {
  const received: OutboundMessage[] = [];
  let waiters: (() => void)[] = [];
  let answer!: () => void;
  let answered = new Promise<void>((resolve) => (answer = resolve));
  const transport: Transport = {
    async send(message) {
      received.push(message);
      for (const wake of waiters) wake();
      waiters = [];
      await answered;
      return { response: "250 2.0.0 queued" };
    },
    async close() {},
  };
  return {
    transport,
    received,
    async waitFor(count: number): Promise<void> {
      while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    answerAll(): void {
      answer();
      answered = new Promise<void>((resolve) => (answer = resolve));
    },
  };
}

/** The worker's own connection, counting its write transactions and failing them while told to. */
function countingStore(inner: Store) {
  const state = { transactions: 0, failNext: 0 };
  const store: Store = {
    transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
      state.transactions += 1;
      if (state.failNext > 0) {
        state.failNext -= 1;
        return Promise.reject(new Error("disk I/O error"));
      }
      return inner.transaction(work);
    },
    read: (work) => inner.read(work),
    close: () => inner.close(),
  };
  return { store, state };
}

function heldConfig(): Config {
  return buildConfig({ gateway: { domain: DOMAIN }, outbound: { transport: "smtp", host: "127.0.0.1", port: 25, lease: "2m", retry_schedule: ["1m", "5m"] } });
}

function heldWorker(store: Store, transport: Transport, logger: ReturnType<typeof capturingLogger>["logger"]): DeliveryWorker {
  const created = new DeliveryWorker({ store, config: heldConfig(), logger, transport, now: () => clock });
  workers.push(created);
  return created;
}

/** Three copies queued to Bob: the conversation's first post and two more. */
async function threeCopies() {
  const { delivery: first, conversation, alice, bob } = await seedDirectConversation(t);
  const { delivery: second } = await seedPostCopy(t, conversation, alice, bob, { body: "second" });
  const { delivery: third } = await seedPostCopy(t, conversation, alice, bob, { body: "third" });
  return [first, second, third] as const;
}

describe("delivery outcomes recorded together", () => {
  it("records the outcomes of copies answered together in one transaction, and leaves alone a row whose lease was taken over", async () => {
    const [first, second, third] = await threeCopies();
    const relay = heldRelay();
    const { store, state } = countingStore(workerStore);
    const { logger, events } = capturingLogger();
    const w = heldWorker(store, relay.transport, logger);

    const poll = w.pollOnce();
    await relay.waitFor(3);
    // Another worker took the second row over while its copy was being sent.
    await t.write(({ tx }) => tx.rows((db, tables) => db.update(tables.deliveries).set({ leaseOwner: "other", leaseExpiresAt: T0 + 10 * MIN }).where(eq(tables.deliveries.id, second.id))));
    relay.answerAll();
    expect(await poll).toBe(3);

    // The claim, then one transaction for the three outcomes.
    expect(state.transactions).toBe(2);
    expect(await getDelivery(t, first.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
    expect(await getDelivery(t, third.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
    expect(await getDelivery(t, second.id)).toMatchObject({ status: "sending", attempts: 0, leaseOwner: "other", leaseExpiresAt: T0 + 10 * MIN });
    const sent = events().filter((e) => e.event === "delivery.sent");
    // In the order the sends finished, which on PostgreSQL (a pool of connections) is any.
    expect(sent.map((e) => [e.deliveryId, e.recorded]).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
      [first.id, true],
      [second.id, false],
      [third.id, true],
    ]);
    expect(events().filter((e) => e.event === "delivery.lease_lost").map((e) => e.deliveryId)).toEqual([second.id]);
  });

  it("records each outcome on its own when their shared transaction fails, sending nothing twice", async () => {
    const copies = await threeCopies();
    const relay = heldRelay();
    const { store, state } = countingStore(workerStore);
    const { logger, events } = capturingLogger();
    const w = heldWorker(store, relay.transport, logger);

    const poll = w.pollOnce();
    await relay.waitFor(3);
    state.failNext = 1;
    relay.answerAll();
    expect(await poll).toBe(3);

    for (const copy of copies) expect(await getDelivery(t, copy.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
    expect(events().filter((e) => e.event === "delivery.record_batch_failed")).toMatchObject([{ deliveries: 3 }]);
    expect(events().filter((e) => e.event === "delivery.sent")).toHaveLength(3);
    expect(await w.pollOnce()).toBe(0);
    expect(relay.received).toHaveLength(3);
  });

  it("leaves the rows leased when no outcome can be recorded: they are sent again once the lease runs out", async () => {
    const copies = await threeCopies();
    const relay = heldRelay();
    const { store, state } = countingStore(workerStore);
    const { logger, events } = capturingLogger();
    const w = heldWorker(store, relay.transport, logger);

    const poll = w.pollOnce();
    await relay.waitFor(3);
    // The shared transaction and each outcome's own.
    state.failNext = 4;
    relay.answerAll();
    expect(await poll).toBe(3);

    for (const copy of copies) expect(await getDelivery(t, copy.id)).toMatchObject({ status: "sending", attempts: 0, leaseOwner: w.owner });
    expect(events().filter((e) => e.event === "delivery.error").map((e) => e.deliveryId).sort()).toEqual(copies.map((copy) => copy.id).sort());
    expect(events().filter((e) => e.event === "delivery.sent")).toEqual([]);

    // Still leased: nobody sends them yet.
    expect(await w.pollOnce()).toBe(0);
    clock = T0 + 3 * MIN;
    const retry = w.pollOnce();
    await relay.waitFor(6);
    relay.answerAll();
    expect(await retry).toBe(3);
    for (const copy of copies) expect(await getDelivery(t, copy.id)).toMatchObject({ status: "sent", attempts: 1, leaseOwner: null });
  });

  it("says in each copy's sent line how it travelled, when the transport says", async () => {
    const { delivery } = await seedDirectConversation(t);
    const transport: Transport = {
      send: async () => ({ response: "250 ok", tls: "verified" }) as { response: string },
      close: async () => {},
    };
    const { logger, events } = capturingLogger();
    expect(await heldWorker(workerStore, transport, logger).pollOnce()).toBe(1);
    expect(events().find((e) => e.event === "delivery.sent")).toMatchObject({ deliveryId: delivery.id, tls: "verified", recorded: true });
  });
});
