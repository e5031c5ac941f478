import { SMTPServer } from "smtp-server";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { classifySendError } from "../../../../src/domain/delivery-errors.js";
import { SmtpPool, type PoolOptions } from "../../../../src/outbound/transports/smtp/pool.js";
import { startScriptedRelay, type RelayScript, type ScriptedRelay } from "../../../helpers/scripted-relay.js";

/**
 * Postern's SMTP client against relays on 127.0.0.1: a scripted relay that records which commands
 * arrived together, and smtp-server for AUTH. Nothing here measures time.
 */

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function relay(script: RelayScript = {}): Promise<ScriptedRelay> {
  const started = await startScriptedRelay(script);
  closers.push(() => started.close());
  return started;
}

function pool(port: number, options: Partial<PoolOptions> = {}): SmtpPool {
  const created = new SmtpPool({
    host: "127.0.0.1",
    port,
    name: "example.test",
    secure: false,
    startTls: false,
    tls: { rejectUnauthorized: false },
    maxConnections: 1,
    connectionTimeout: 2000,
    socketTimeout: 2000,
    ...options,
  });
  closers.push(() => created.close());
  return created;
}

const raw = (n: number): Buffer => Buffer.from(`From: Postern <conversations@example.test>\r\nSubject: copy ${n}\r\n\r\nbody ${n}\r\n`);
const envelope = (n: number, to = `reader${n}@example.org`) => ({ from: `bounce+${n}@example.test`, to: [to] });
const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error("expected the send to fail");
    },
    (error: unknown) => error,
  );

describe("SMTP client: the dialogue", () => {
  it("sends MAIL, RCPT and DATA in one write when the relay offers PIPELINING, then the message with its end", async () => {
    const server = await relay({ mailReplyDelayMs: 30 });

    const response = await pool(server.port).send(envelope(1), raw(1));

    expect(response).toBe("250 2.0.0 queued");
    const [, ...afterEhlo] = server.chunks[0] ?? [];
    expect(afterEhlo[0]).toBe(`MAIL FROM:<bounce+1@example.test> SIZE=${raw(1).length}\r\nRCPT TO:<reader1@example.org>\r\nDATA\r\n`);
    expect(afterEhlo[1]).toBe(`${raw(1).toString("latin1")}.\r\n`);
    expect(server.sentBeforeMailReply).toEqual([true]);
    expect(server.messages).toEqual([{ connection: 0, mailFrom: "bounce+1@example.test", rcptTo: ["reader1@example.org"], data: raw(1).toString("latin1") }]);
  });

  it("waits for each reply when the relay does not offer PIPELINING", async () => {
    const server = await relay({ pipelining: false, mailReplyDelayMs: 30 });

    await pool(server.port).send(envelope(1), raw(1));

    expect(server.sentBeforeMailReply).toEqual([false]);
    expect(server.commands[0]).toEqual(["EHLO example.test", `MAIL FROM:<bounce+1@example.test> SIZE=${raw(1).length}`, "RCPT TO:<reader1@example.org>", "DATA"]);
    expect(server.messages).toHaveLength(1);
  });

  it("falls back to HELO for a relay that does not know EHLO", async () => {
    const server = await relay({ refuseEhlo: true });

    await pool(server.port).send(envelope(1), raw(1));

    // No SIZE= and no pipelining: HELO announces no extension.
    expect(server.commands[0]).toEqual(["EHLO example.test", "HELO example.test", "MAIL FROM:<bounce+1@example.test>", "RCPT TO:<reader1@example.org>", "DATA"]);
  });

  it("a refused recipient fails the copy as the relay said, and the connection is reset and used again", async () => {
    const server = await relay({ rcptReply: (address) => (address.startsWith("nobody") ? "550 5.1.1 <nobody@example.org>: User unknown\r\n" : "250 2.1.5 ok\r\n") });
    const client = pool(server.port);

    const error = await failure(client.send(envelope(1, "nobody@example.org"), raw(1)));
    await client.send(envelope(2), raw(2));

    expect(error).toMatchObject({ code: "EENVELOPE", command: "RCPT TO", responseCode: 550, response: "550 5.1.1 <nobody@example.org>: User unknown" });
    expect(classifySendError(error)).toMatchObject({ kind: "permanent", category: "recipient" });
    expect(server.commands).toHaveLength(1);
    expect(server.commands[0]).toContain("RSET");
    expect(server.messages.map((message) => message.rcptTo)).toEqual([["reader2@example.org"]]);
  });

  it("a refused sender and a refused message carry the command they answered", async () => {
    const refusedSender = await relay({ mailReply: () => "553 5.1.8 Sender domain does not exist\r\n" });
    const senderError = await failure(pool(refusedSender.port).send(envelope(1), raw(1)));
    expect(senderError).toMatchObject({ code: "EENVELOPE", command: "MAIL FROM", responseCode: 553 });
    expect(classifySendError(senderError)).toMatchObject({ kind: "permanent", category: "configuration", rule: "sender-rejected" });

    const refusedMessage = await relay({ endReply: () => "451 4.3.0 try again\r\n" });
    const messageError = await failure(pool(refusedMessage.port).send(envelope(1), raw(1)));
    expect(messageError).toMatchObject({ code: "EMESSAGE", command: "DATA", responseCode: 451 });
    expect(classifySendError(messageError)).toMatchObject({ kind: "temporary" });
  });

  it("refuses an envelope address that would break the command line, before writing anything", async () => {
    const server = await relay();
    const error = await failure(pool(server.port).send({ from: "bounce@example.test", to: ["a@example.org>\r\nRCPT TO:<victim@example.net"] }, raw(1)));

    expect(error).toMatchObject({ code: "EENVELOPE", command: "API" });
    expect(classifySendError(error)).toMatchObject({ kind: "permanent", rule: "invalid-envelope" });
    expect(server.commands.flat().filter((line) => line.startsWith("RCPT"))).toEqual([]);
  });

  it("a relay that never ends its line fails the connection instead of filling memory", async () => {
    const server = await relay({ greeting: "2".repeat(200_000) });

    const error = await failure(pool(server.port).send(envelope(1), raw(1)));

    expect(error).toMatchObject({ code: "EPROTOCOL", command: "CONN" });
  });
});

describe("SMTP client: the next copy's envelope behind a copy's end (RFC 2920 §3.1)", () => {
  it("writes the envelope of the copy waiting next in the same write as the message's end", async () => {
    const server = await relay();
    const client = pool(server.port);

    const responses = await Promise.all([1, 2, 3].map((n) => client.send(envelope(n), raw(n))));

    expect(responses).toEqual(["250 2.0.0 queued", "250 2.0.0 queued", "250 2.0.0 queued"]);
    const [, ...afterEhlo] = server.chunks[0] ?? [];
    const opening = (n: number) => `MAIL FROM:<bounce+${n}@example.test> SIZE=${raw(n).length}\r\nRCPT TO:<reader${n}@example.org>\r\nDATA\r\n`;
    expect(afterEhlo).toEqual([opening(1), `${raw(1).toString("latin1")}.\r\n${opening(2)}`, `${raw(2).toString("latin1")}.\r\n${opening(3)}`, `${raw(3).toString("latin1")}.\r\n`]);
    expect(server.messages.map((message) => [message.connection, message.mailFrom, message.data])).toEqual(
      [1, 2, 3].map((n) => [0, `bounce+${n}@example.test`, raw(n).toString("latin1")]),
    );
  });

  it("waits for the end's reply before the next envelope when the relay does not offer PIPELINING", async () => {
    const server = await relay({ pipelining: false });
    const client = pool(server.port);

    await Promise.all([1, 2].map((n) => client.send(envelope(n), raw(n))));

    expect(server.chunks[0]).toContain(`${raw(1).toString("latin1")}.\r\n`);
    expect(server.messages).toHaveLength(2);
  });

  it("a refused recipient behind another copy fails that copy alone; the ones before and after it go", async () => {
    const server = await relay({ rcptReply: (address) => (address === "reader2@example.org" ? "550 5.1.1 no such user\r\n" : "250 2.1.5 ok\r\n") });
    const client = pool(server.port);

    const [first, second, third] = await Promise.allSettled([1, 2, 3].map((n) => client.send(envelope(n), raw(n))));

    expect(first).toMatchObject({ status: "fulfilled" });
    expect(second).toMatchObject({ status: "rejected", reason: { code: "EENVELOPE", command: "RCPT TO", responseCode: 550 } });
    expect(third).toMatchObject({ status: "fulfilled" });
    expect(server.messages.map((message) => message.mailFrom)).toEqual(["bounce+1@example.test", "bounce+3@example.test"]);
    expect(server.commands[0]).toContain("RSET");
  });

  it("an envelope that cannot go fails before anything of it is written, and the copy after it takes its place", async () => {
    const server = await relay();
    const client = pool(server.port);

    const [first, broken, third] = await Promise.allSettled([
      client.send(envelope(1), raw(1)),
      client.send({ from: "bounce+2@example.test", to: ["reader2@example.org>\r\nRCPT TO:<victim@example.org"] }, raw(2)),
      client.send(envelope(3), raw(3)),
    ]);

    expect(first).toMatchObject({ status: "fulfilled" });
    expect(broken).toMatchObject({ status: "rejected", reason: { code: "EENVELOPE", command: "API" } });
    expect(third).toMatchObject({ status: "fulfilled" });
    expect(server.commands.flat().some((line) => line.includes("victim"))).toBe(false);
    expect(server.messages.map((message) => message.mailFrom)).toEqual(["bounce+1@example.test", "bounce+3@example.test"]);
  });

  it("a relay that hangs up after a copy's end: the copy whose envelope followed it goes again over a fresh connection", async () => {
    // The second MAIL of each connection meets a closed socket, right after the first copy was taken.
    const server = await relay({ mailReply: (n) => (n === 1 ? "250 2.1.0 ok\r\n" : null) });
    const client = pool(server.port);

    const responses = await Promise.all([1, 2].map((n) => client.send(envelope(n), raw(n))));

    expect(responses).toEqual(["250 2.0.0 queued", "250 2.0.0 queued"]);
    expect(server.messages.map((message) => [message.connection, message.mailFrom])).toEqual([
      [0, "bounce+1@example.test"],
      [1, "bounce+2@example.test"],
    ]);
  });

  it("a 421 to a copy's end: the copy whose envelope followed it goes over a fresh connection", async () => {
    let ends = 0;
    const server = await relay({ endReply: () => (++ends === 1 ? "421 4.3.2 shutting down\r\n" : "250 2.0.0 queued\r\n") });
    const client = pool(server.port);

    const [first, second] = await Promise.allSettled([1, 2].map((n) => client.send(envelope(n), raw(n))));

    expect(first).toMatchObject({ status: "rejected", reason: { responseCode: 421 } });
    expect(second).toMatchObject({ status: "fulfilled" });
    expect(server.messages.filter((message) => message.mailFrom === "bounce+2@example.test").map((message) => message.connection)).toContain(1);
  });

  it("still starts a fresh connection after 100 copies when every copy's envelope follows the one before", async () => {
    const server = await relay();
    const client = pool(server.port);

    await Promise.all(Array.from({ length: 101 }, (_, n) => client.send(envelope(n), raw(n))));

    expect(server.messages.filter((message) => message.connection === 0)).toHaveLength(100);
    expect(server.messages.filter((message) => message.connection === 1)).toHaveLength(1);
  });
});

describe("SMTP client: the pool's connections", () => {
  it("a kept connection the relay dropped while idle: the copy goes again at once over a fresh one", async () => {
    // The second MAIL on any connection meets a closed socket, as after a relay's idle timeout.
    const server = await relay({ mailReply: (n) => (n === 1 ? "250 2.1.0 ok\r\n" : null) });
    const client = pool(server.port);

    await client.send(envelope(1), raw(1));
    await client.send(envelope(2), raw(2));

    expect(server.messages.map((message) => [message.connection, message.mailFrom])).toEqual([
      [0, "bounce+1@example.test"],
      [1, "bounce+2@example.test"],
    ]);
  });

  it("a relay that takes the message and never answers fails it after socketTimeout, as a network problem", async () => {
    const server = await relay({ endReply: () => null });

    const error = await failure(pool(server.port, { socketTimeout: 200 }).send(envelope(1), raw(1)));

    expect(error).toMatchObject({ code: "ETIMEDOUT", command: "DATA" });
    expect(classifySendError(error)).toMatchObject({ kind: "temporary", category: "network" });
  });

  it("a connection that breaks on a copy's first attempt fails that copy, as a network problem", async () => {
    const server = await relay({ mailReply: () => null });

    const error = await failure(pool(server.port).send(envelope(1), raw(1)));

    expect(error).toMatchObject({ code: "ECONNECTION", command: "MAIL FROM" });
    expect(classifySendError(error)).toMatchObject({ kind: "temporary", category: "network" });
    expect(server.chunks).toHaveLength(1);
  });

  it("after a 421 the relay's connection is not used again", async () => {
    let first = true;
    const server = await relay({
      endReply: () => {
        const reply = first ? "421 4.3.2 shutting down\r\n" : "250 2.0.0 queued\r\n";
        first = false;
        return reply;
      },
    });
    const client = pool(server.port);

    const error = await failure(client.send(envelope(1), raw(1)));
    await client.send(envelope(2), raw(2));

    expect(classifySendError(error)).toMatchObject({ kind: "temporary" });
    expect(server.messages.map((message) => message.connection)).toEqual([0, 1]);
  });

  it("opens up to maxConnections for copies that wait, and starts a fresh connection after 100 copies", async () => {
    const server = await relay();
    const client = pool(server.port, { maxConnections: 3 });

    await Promise.all(Array.from({ length: 6 }, (_, n) => client.send(envelope(n), raw(n))));
    expect(server.chunks.length).toBe(3);

    const single = await relay();
    const one = pool(single.port);
    for (let n = 0; n < 101; n++) await one.send(envelope(n), raw(n));
    expect(single.messages.filter((message) => message.connection === 0)).toHaveLength(100);
    expect(single.messages.filter((message) => message.connection === 1)).toHaveLength(1);
  });
});

describe("SMTP client: AUTH", () => {
  async function authRelay(methods: string[]): Promise<{ port: number; logins: string[] }> {
    const logins: string[] = [];
    const server = new SMTPServer({
      authMethods: methods,
      allowInsecureAuth: true,
      hideSTARTTLS: true,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 50,
      onAuth(auth, _session, callback) {
        logins.push(`${auth.method} ${auth.username}`);
        if (auth.username === "postern" && auth.password === "s3cret pass") callback(null, { user: auth.username });
        else callback(new Error("Invalid username or password"));
      },
      onData(stream, _session, callback) {
        stream.resume();
        stream.on("end", () => callback());
      },
    });
    server.on("error", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { port: (server.server.address() as net.AddressInfo).port, logins };
  }

  it("logs in with PLAIN, or with LOGIN where that is all the relay offers", async () => {
    const plain = await authRelay(["PLAIN", "LOGIN"]);
    await pool(plain.port, { auth: { user: "postern", pass: "s3cret pass" } }).send(envelope(1), raw(1));
    expect(plain.logins).toEqual(["PLAIN postern"]);

    const login = await authRelay(["LOGIN"]);
    await pool(login.port, { auth: { user: "postern", pass: "s3cret pass" } }).send(envelope(1), raw(1));
    expect(login.logins).toEqual(["LOGIN postern"]);
  });

  it("refused credentials are our configuration: kept and retried, not bounced", async () => {
    const server = await authRelay(["PLAIN"]);

    const error = await failure(pool(server.port, { auth: { user: "postern", pass: "wrong" } }).send(envelope(1), raw(1)));

    expect(error).toMatchObject({ code: "EAUTH", command: "AUTH PLAIN", responseCode: 535 });
    expect(classifySendError(error)).toMatchObject({ kind: "temporary", category: "configuration", rule: "relay-auth" });
  });
});
