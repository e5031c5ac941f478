import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { rawClient, type RawClient } from "../helpers/raw-smtp.js";

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function seed(t: TestGateway) {
  await t.write(async (ctx) => {
    await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroupMember(ctx, "support", "alice@team.test");
  });
}

/** Greeting, EHLO, one accepted envelope: the client is ready for DATA. */
async function toEnvelope(client: RawClient) {
  expect(await client.reply()).toMatch(/^220 /);
  expect(await client.command("EHLO client.test")).toMatch(/^250/);
  expect(await client.command("MAIL FROM:<carol@customer.test>")).toMatch(/^250/);
  expect(await client.command("RCPT TO:<support@example.test>")).toMatch(/^250/);
}

describe("SMTP listener limits", () => {
  let t: TestGateway;
  const clients: RawClient[] = [];
  const open = async (address: string) => {
    const client = await rawClient(t.gateway.port, address);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await startTestGateway({
      smtp: { max_connections_per_ip: 2, min_data_rate: "1KB", min_data_rate_grace: "1s" },
    });
    await seed(t);
  });
  afterAll(async () => {
    for (const client of clients) client.end();
    await t.dispose();
  });

  it("refuses a connection over smtp.max_connections_per_ip with 421 4.7.0 while another address still connects", async () => {
    const first = await open("127.0.0.2");
    const second = await open("127.0.0.2");
    expect(await first.reply()).toMatch(/^220 /);
    expect(await second.reply()).toMatch(/^220 /);

    const third = await open("127.0.0.2");
    const refused = await third.reply();
    expect(refused).toMatch(/^421 4\.7\.0 Too many connections from your address \(limit smtp\.max_connections_per_ip = 2\)/);
    await within(third.closed, 5000);

    const other = await open("127.0.0.3");
    expect(await other.reply()).toMatch(/^220 /);
    expect(await other.command("NOOP")).toMatch(/^250/);

    // A closed connection frees its slot.
    expect(await first.command("QUIT")).toMatch(/^221/);
    await within(first.closed, 5000);
    let greeting = "";
    for (let attempt = 0; attempt < 20 && !greeting.startsWith("220"); attempt++) {
      const again = await open("127.0.0.2");
      greeting = await again.reply();
      if (!greeting.startsWith("220")) await sleep(50);
    }
    expect(greeting).toMatch(/^220 /);
    second.end();
    other.end();
  });

  it("cuts off a client trickling DATA below smtp.min_data_rate with 421 4.4.2 after the grace period", async () => {
    const client = await open("127.0.0.4");
    await toEnvelope(client);
    expect(await client.command("DATA")).toMatch(/^354/);
    const started = Date.now();
    const trickle = setInterval(() => {
      if (!client.socket.destroyed) client.write("x".repeat(10));
    }, 100);
    try {
      const reply = await client.reply(8000);
      const elapsed = Date.now() - started;
      expect(reply).toMatch(/^421 4\.4\.2 .*too slowly \(limit smtp\.min_data_rate = 1024 bytes per second\)/);
      // Not before the 1 s grace period, and soon after it.
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(5000);
      await within(client.closed, 5000);
    } finally {
      clearInterval(trickle);
    }
  });

  it("accepts DATA arriving faster than smtp.min_data_rate", async () => {
    const client = await open("127.0.0.5");
    await toEnvelope(client);
    expect(await client.command("DATA")).toMatch(/^354/);
    client.write("From: carol@customer.test\r\nTo: support@example.test\r\nSubject: Paced\r\n\r\n");
    // 4 KB a second for 1.5 s: paced, but above the floor throughout.
    for (let i = 0; i < 6; i++) {
      client.write(`${"y".repeat(1022)}\r\n`);
      await sleep(250);
    }
    expect(await client.command(".", 10_000)).toMatch(/^250/);
    expect(await client.command("QUIT")).toMatch(/^221/);
  });

  it("refuses STARTTLS without a configured certificate with a 5xx, and no handshake follows", async () => {
    const client = await open("127.0.0.6");
    expect(await client.reply()).toMatch(/^220 /);
    const ehlo = await client.command("EHLO client.test");
    expect(ehlo).not.toMatch(/STARTTLS/);
    expect(await client.command("STARTTLS")).toMatch(/^5\d\d /);
    // Still plaintext SMTP on the same socket: the server never switched to TLS.
    expect(await client.command("NOOP")).toMatch(/^250/);
    expect(await client.command("QUIT")).toMatch(/^221/);
  });

  it("still delivers a normal message after all that", async () => {
    const before = t.sink.messages.length;
    const result = await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Help", text: "Please help." });
    expect(result.response).toMatch(/^250/);
    const messages = await t.sink.waitFor(before + 1);
    await expect.poll(() => t.sink.messages.some((m) => /Help/.test(m.parsed.subject ?? "")), { timeout: 5000 }).toBe(true);
    expect(messages.length).toBeGreaterThan(before);
  });
});

describe("SMTP session deadline", () => {
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway({ smtp: { session_timeout: "2s" } });
    await seed(t);
  });
  afterAll(() => t.dispose());

  it("ends a session older than smtp.session_timeout with 421 4.4.2 even while the client keeps talking", async () => {
    const client = await rawClient(t.gateway.port, "127.0.0.7");
    const started = Date.now();
    expect(await client.reply()).toMatch(/^220 /);
    expect(await client.command("EHLO client.test")).toMatch(/^250/);
    let last = "";
    try {
      // NOOP every 300 ms: never silent, so only the whole-session deadline can end it.
      while (Date.now() - started < 6000) {
        last = await client.command("NOOP");
        if (!last.startsWith("250")) break;
        await sleep(300);
      }
    } catch {
      // the socket may close before the next reply
    }
    const elapsed = Date.now() - started;
    expect(last).toMatch(/^421 4\.4\.2 This session has lasted too long \(limit smtp\.session_timeout = 2s\)/);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(5000);
    await within(client.closed, 5000);
    client.end();
  });

  it("keeps serving new sessions afterwards", async () => {
    const result = await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Help", text: "Please help." });
    expect(result.response).toMatch(/^250/);
    await t.sink.waitFor(1);
  });
});
