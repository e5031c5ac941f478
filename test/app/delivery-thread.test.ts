import { rmSync } from "node:fs";
import { Writable } from "node:stream";
import nodemailer from "nodemailer";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../src/app.js";
import { SharedByteBudget } from "../../src/concurrency/shared-budget.js";
import { buildConfig } from "../../src/config/config.js";
import { openStore } from "../../src/db/database.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { silentLogger } from "../../src/log.js";
import { DeliveryThread } from "../../src/outbound/delivery-thread.js";
import { DeliveryWorker } from "../../src/outbound/delivery-worker.js";
import { testDatabase } from "../helpers/database.js";
import { ENGINE } from "../helpers/postgres.js";
import { ALICE, BOB, CAROL, SUPPORT, startDesk } from "../helpers/desk.js";
import { noDns } from "../helpers/dns.js";
import type { TestGateway } from "../helpers/gateway.js";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function desk(overrides: Parameters<typeof startDesk>[0] = {}): Promise<TestGateway> {
  const t = await startDesk(overrides);
  cleanups.push(() => t.dispose());
  return t;
}

function question(n: number) {
  return { from: `"Carol Customer" <${CAROL}>`, to: SUPPORT, subject: `Question ${n}`, text: `Hello, question ${n}.` };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A gateway like startDesk's, with a logger whose lines the test reads. */
async function loggedDesk(): Promise<{ gateway: Gateway; sink: SmtpSink; events: () => Record<string, unknown>[]; send: (n: number) => Promise<unknown> }> {
  const { database, dir, drop } = await testDatabase();
  const sink = await startSmtpSink();
  const config = buildConfig(
    {
      gateway: { domain: "example.test", name: "Acme" },
      smtp: { host: "127.0.0.1", port: 0 },
      database,
      outbound: { transport: "smtp", host: "127.0.0.1", port: sink.port, poll_interval: "200ms", retry_schedule: ["1s"] },
    },
    "test",
  );
  const seed = await openStore(config.database, "migrate");
  await seed.transaction(async (tx) => {
    const ctx = { tx, config, now: Date.now() };
    await addUser(ctx, { email: ALICE, role: "staff" });
    await addUser(ctx, { email: BOB, role: "staff" });
    await addGroup(ctx, { name: "support", inbox: SUPPORT });
    await addGroupMember(ctx, "support", ALICE);
    await addGroupMember(ctx, "support", BOB);
  });
  await seed.close();
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  const gateway = await startGateway(config, { logger: pino({ level: "info" }, stream), resolver: noDns });
  const client = nodemailer.createTransport({ host: "127.0.0.1", port: gateway.port, secure: false, ignoreTLS: true });
  cleanups.push(async () => {
    client.close();
    await gateway.stop();
    await sink.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    gateway,
    sink,
    events: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    send: (n) => client.sendMail(question(n)),
  };
}

describe("delivery in a thread of its own (outbound.delivery_thread)", () => {
  it("claims, renders and sends in the thread to a real relay, woken by the commit rather than the poll", async () => {
    // An hour between polls: only the message the inbound commit sends can bring the copies out in time.
    const t = await desk({ outbound: { poll_interval: "1h" } });
    expect(t.gateway.worker).toBeInstanceOf(DeliveryThread);
    expect((t.gateway.worker as DeliveryThread).thread).toBeDefined();
    await t.send(question(1));
    const copies = await t.sink.waitFor(2, 10_000);
    expect(copies.map((m) => m.envelope.rcptTo[0]).sort()).toEqual([ALICE, BOB]);
    expect(copies[0]!.parsed.subject).toBe("Question 1");
    // The thread recorded the outcome through its own connection; the main one sees it.
    const settled = async () => {
      const rows = await t.read(({ tx }) => tx.rows((db, tables) => db.select({ status: tables.deliveries.status }).from(tables.deliveries)));
      return rows.length === 2 && rows.every((row) => row.status === "sent");
    };
    const deadline = Date.now() + 10_000;
    while (!(await settled())) {
      if (Date.now() > deadline) throw new Error("deliveries not recorded as sent");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it("finishes the sends in flight when the gateway stops, then closes the thread's connection", async () => {
    const t = await desk({ outbound: { poll_interval: "1h" } });
    t.sink.delayReplies(500);
    await t.send(question(1));
    // Both copies are with the relay, waiting for its 250.
    await t.sink.waitFor(2, 10_000);
    const thread = (t.gateway.worker as DeliveryThread).thread!;
    const exited = new Promise<number>((resolve) => thread.once("exit", resolve));
    await t.gateway.stop();
    await exited;
    const store = await openStore(t.config.database, "require-current");
    try {
      const rows = await store.read((tx) => tx.rows((db, tables) => db.select({ status: tables.deliveries.status }).from(tables.deliveries)));
      expect(rows.map((row) => row.status)).toEqual(["sent", "sent"]);
    } finally {
      await store.close();
    }
  });

  it("logs a thread that dies, with the gateway's logger, and starts it again", async () => {
    const g = await loggedDesk();
    const handle = g.gateway.worker as DeliveryThread;
    const first = handle.thread!;
    await g.send(1);
    await g.sink.waitFor(2, 10_000);
    // The start line names the database the node really runs on (it named the SQLite path on PostgreSQL too).
    expect(g.events().find((e) => e.event === "gateway.started")).toMatchObject(
      ENGINE === "postgres"
        ? { engine: "postgres", database: expect.stringMatching(/^postgres:\/\/[^:]*@127\.0\.0\.1:/) }
        : { engine: "sqlite", database: expect.stringMatching(/\.db$/) },
    );
    // The thread's own lines reach the gateway's stream, with their stable names and ids.
    await until(() => g.events().filter((e) => e.event === "delivery.sent").length === 2);
    const sent = g.events().find((e) => e.event === "delivery.sent")!;
    expect(sent).toMatchObject({ component: "delivery" });
    expect(sent.deliveryId).toEqual(expect.any(Number));

    const firstId = first.threadId;
    await first.terminate();
    await until(() => g.events().some((e) => e.event === "delivery.thread_exited"));
    expect(g.events().find((e) => e.event === "delivery.thread_exited")).toMatchObject({ threadId: firstId, level: 50 });
    await until(() => handle.thread !== undefined && handle.thread !== first);
    await g.send(2);
    const copies = await g.sink.waitFor(4, 10_000);
    expect(copies.filter((m) => m.parsed.subject === "Question 2")).toHaveLength(2);
  });

  it("stays on the main thread when turned off, or with an injected transport or clock", async () => {
    const off = await desk({ outbound: { delivery_thread: false } });
    expect(off.gateway.worker).toBeInstanceOf(DeliveryWorker);
    await off.send(question(1));
    expect(await off.sink.waitFor(2, 10_000)).toHaveLength(2);

    const { database, dir, drop } = await testDatabase();
    const config = buildConfig({ gateway: { domain: "example.test" }, smtp: { host: "127.0.0.1", port: 0 }, database }, "test");
    const injected = await startGateway(config, {
      logger: silentLogger(),
      resolver: noDns,
      transport: { send: async () => ({ response: "250 ok" }), close: async () => undefined },
    });
    const clocked = await startGateway(config, { logger: silentLogger(), resolver: noDns, now: () => Date.now() });
    cleanups.push(async () => {
      await Promise.all([injected.stop(), clocked.stop()]);
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });
    expect(injected.worker).toBeInstanceOf(DeliveryWorker);
    expect(clocked.worker).toBeInstanceOf(DeliveryWorker);
  });

  it("fails the start loudly when the thread cannot open its database", async () => {
    const config = buildConfig({ database: { engine: "sqlite", path: "/nonexistent/postern-thread-test/postern.db" } }, "test");
    const thread = new DeliveryThread({ config, logger: silentLogger(), largeBudget: new SharedByteBudget(16 * 1024 * 1024) });
    await expect(thread.start()).rejects.toThrow(/no database/);
    expect(thread.thread).toBeUndefined();
  });
});
