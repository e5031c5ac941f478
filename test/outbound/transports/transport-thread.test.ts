import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { classifySendError } from "../../../src/domain/delivery-errors.js";
import type { Logger } from "../../../src/log.js";
import { smtpTransportSettings } from "../../../src/outbound/transports/smtp-transport.js";
import { TransportThread } from "../../../src/outbound/transports/transport-thread.js";
import { startSmtpSink, type SmtpSink } from "../../helpers/smtp-sink.js";

/**
 * outbound.transport_thread: the SMTP transport in a worker thread of its own, against a real
 * smtp-server relay on 127.0.0.1. What comes back must be what the transport in place answers:
 * the relay's reply, how the copy travelled, and nodemailer's error fields for the classifier.
 */

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function relay(): Promise<SmtpSink> {
  const sink = await startSmtpSink();
  closers.push(() => sink.close());
  return sink;
}

function logLines(): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: "info", base: { app: "postern" } }, stream) as unknown as Logger };
}

function transportTo(port: number, logger?: Logger): TransportThread {
  const config = buildConfig({ gateway: { domain: "example.test" }, outbound: { transport: "smtp", host: "127.0.0.1", port, pool_size: 2, starttls: "off" } }, "test");
  const transport = new TransportThread(smtpTransportSettings(config), logger);
  closers.push(() => transport.close());
  return transport;
}

const envelope = { from: "bounce+abc@example.test", to: ["carol@client.test"] };
const raw = (n: number) => Buffer.from(`From: a@example.test\r\nTo: carol@client.test\r\nSubject: copy ${n}\r\nMessage-ID: <${n}@example.test>\r\n\r\nThe text of copy ${n}.\r\n.starts with a dot\r\n`);

describe("TransportThread", () => {
  it("hands the relay the exact bytes and envelope, and answers its reply and how the copy travelled", async () => {
    const sink = await relay();
    const { lines, logger } = logLines();
    const transport = transportTo(sink.port, logger);
    expect(transport.thread).toBeUndefined();
    const results = await Promise.all([1, 2, 3].map((n) => transport.send({ envelope, raw: raw(n) })));
    expect(transport.thread).toBeDefined();
    for (const result of results) {
      expect(result.tls).toBe("none");
      expect(result.response).toMatch(/^250 /);
    }
    const received = await sink.waitFor(3);
    expect(received.map((m) => m.raw.toString()).sort()).toEqual([1, 2, 3].map((n) => raw(n).toString()));
    expect(received[0]!.envelope).toEqual({ mailFrom: envelope.from, rcptTo: envelope.to });
    // The thread's log lines reach the parent's logger, with its bindings.
    expect(lines).toContainEqual(expect.objectContaining({ event: "outbound.tls", tls: "none", app: "postern", component: "transport" }));
  });

  it("gives back nodemailer's error fields, so a refusal is classified as in place", async () => {
    const sink = await relay();
    sink.failNext(550);
    const transport = transportTo(sink.port);
    const error = await transport.send({ envelope, raw: raw(1) }).then(
      () => undefined,
      (e: unknown) => e as Record<string, unknown>,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ responseCode: 550, command: "DATA", code: "EMESSAGE" });
    expect(String(error!.response)).toMatch(/^550/);
    expect(classifySendError(error).kind).toBe("permanent");
    sink.failNext(451);
    expect(classifySendError(await transport.send({ envelope, raw: raw(2) }).catch((e: unknown) => e)).kind).toBe("temporary");
    // And the next copy goes through the same thread.
    await expect(transport.send({ envelope, raw: raw(3) })).resolves.toMatchObject({ tls: "none" });
  });

  it("a relay that cannot be reached fails the copy as a connection problem, retried later", async () => {
    const sink = await relay();
    const port = sink.port;
    await sink.close();
    const transport = transportTo(port);
    const error = await transport.send({ envelope, raw: raw(1) }).catch((e: unknown) => e);
    expect(classifySendError(error)).toMatchObject({ kind: "temporary", category: "network" });
  });

  it("fails the copies in flight when the thread dies, as a connection problem, and starts a new thread for the next", async () => {
    const sink = await relay();
    sink.delayReplies(2000);
    const { lines, logger } = logLines();
    const transport = transportTo(sink.port, logger);
    const inFlight = transport.send({ envelope, raw: raw(1) }).catch((e: unknown) => e);
    await sink.waitFor(1);
    const first = transport.thread!;
    await first.terminate();
    const error = await inFlight;
    expect(error).toMatchObject({ code: "ECONNECTION" });
    expect(classifySendError(error).kind).toBe("temporary");
    expect(lines).toContainEqual(expect.objectContaining({ event: "outbound.transport_thread_exited", inFlight: 1 }));
    sink.delayReplies(0);
    await expect(transport.send({ envelope, raw: raw(2) })).resolves.toMatchObject({ tls: "none" });
    expect(transport.thread).not.toBe(first);
  });

  it("close() ends the thread; a copy after it is refused, not sent", async () => {
    const sink = await relay();
    const transport = transportTo(sink.port);
    await transport.send({ envelope, raw: raw(1) });
    const thread = transport.thread!;
    const exited = new Promise((resolve) => thread.once("exit", resolve));
    await transport.close();
    await exited;
    expect(transport.thread).toBeUndefined();
    await expect(transport.send({ envelope, raw: raw(2) })).rejects.toMatchObject({ code: "ECONNECTION" });
    expect(sink.messages).toHaveLength(1);
  });
});
