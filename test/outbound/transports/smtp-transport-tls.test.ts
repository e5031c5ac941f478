import net from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { classifySendError } from "../../../src/domain/delivery-errors.js";
import { SmtpTransport, smtpTransportSettings } from "../../../src/outbound/transports/smtp-transport.js";
import { selfSignedCertificate, type TestCertificate } from "../../helpers/certificates.js";

/**
 * outbound.starttls against real relays on 127.0.0.1: an smtp-server relay with a self-signed
 * certificate made for the test (a Debian Postfix with its snakeoil certificate looks the same to
 * us), and a hand-written relay whose STARTTLS is broken or whose size limit is small.
 */

interface Relay {
  readonly port: number;
  /** Per message received: was the session encrypted, and what MAIL FROM said. */
  readonly received: { secure: boolean; mailFrom: string }[];
  readonly mailFromLines: string[];
  close(): Promise<void>;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

let certificate: TestCertificate | undefined;
function testCertificate(): TestCertificate {
  certificate ??= selfSignedCertificate();
  return certificate;
}

async function tlsRelay(): Promise<Relay> {
  const { key, cert } = testCertificate();
  const received: Relay["received"] = [];
  const server = new SMTPServer({
    key,
    cert,
    authOptional: true,
    disabledCommands: ["AUTH"],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    onData(stream, session, callback) {
      stream.resume();
      stream.on("end", () => {
        received.push({ secure: session.secure, mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "" });
        callback();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const relay: Relay = {
    port: (server.server.address() as net.AddressInfo).port,
    received,
    mailFromLines: [],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  closers.push(relay.close);
  return relay;
}

/**
 * A relay written by hand, to misbehave on purpose: it offers STARTTLS and answers garbage once
 * asked (a broken TLS set-up), announces `sizeLimit`, or refuses MAIL FROM with 552 5.3.4 when the
 * declared SIZE= exceeds `refuseAbove` (without announcing a number).
 */
async function handWrittenRelay(options: { brokenStartTls?: boolean; sizeLimit?: number; refuseAbove?: number }): Promise<Relay> {
  const received: Relay["received"] = [];
  const mailFromLines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    let buffer = "";
    let inData = false;
    let mailFrom = "";
    socket.write("220 relay.test ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      for (;;) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          buffer = buffer.slice(end + 5);
          inData = false;
          received.push({ secure: false, mailFrom });
          socket.write("250 2.0.0 queued\r\n");
          continue;
        }
        const newline = buffer.indexOf("\r\n");
        if (newline < 0) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO") {
          const size = options.sizeLimit !== undefined ? `SIZE ${options.sizeLimit}` : "SIZE";
          socket.write(`250-relay.test\r\n250-${size}\r\n${options.brokenStartTls ? "250-STARTTLS\r\n" : ""}250 8BITMIME\r\n`);
        } else if (verb === "STAR" && options.brokenStartTls) {
          socket.write("220 2.0.0 Ready to start TLS\r\n");
          // Not a TLS record: the client's handshake fails.
          socket.write("this is not TLS\r\n");
        } else if (verb === "MAIL") {
          mailFromLines.push(line);
          mailFrom = /<([^>]*)>/.exec(line)?.[1] ?? "";
          const declared = Number(/SIZE=(\d+)/i.exec(line)?.[1] ?? "0");
          if (options.refuseAbove !== undefined && declared > options.refuseAbove) socket.write("552 5.3.4 Message size exceeds fixed limit\r\n");
          else socket.write("250 2.1.0 ok\r\n");
        } else if (verb === "RCPT") {
          socket.write("250 2.1.5 ok\r\n");
        } else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "RSET" || verb === "NOOP") {
          socket.write("250 2.0.0 ok\r\n");
        } else if (verb === "QUIT") {
          socket.end("221 2.0.0 bye\r\n");
        } else {
          socket.write("502 5.5.1 unknown command\r\n");
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const relay: Relay = {
    port: (server.address() as net.AddressInfo).port,
    received,
    mailFromLines,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  closers.push(relay.close);
  return relay;
}

function transportFor(port: number, outbound: Record<string, unknown> = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const config = buildConfig({ gateway: { domain: "example.test" }, outbound: { transport: "smtp", host: "127.0.0.1", port, pool_size: 1, ...outbound } }, "test");
  const transport = new SmtpTransport(smtpTransportSettings(config), logger);
  closers.push(() => transport.close());
  return { transport, tlsEvents: () => lines.filter((line) => line.event === "outbound.tls") };
}

function copy(n: number, body = "hello\r\n") {
  return {
    envelope: { from: `bounce+${n}@example.test`, to: [`reader${n}@example.org`] },
    raw: Buffer.from(`From: Postern <conversations@example.test>\r\nTo: reader${n}@example.org\r\nSubject: copy ${n}\r\nMessage-ID: <${n}@example.test>\r\n\r\n${body}`),
  };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected the send to fail");
    },
    (error: unknown) => error,
  );
}

describe("outbound STARTTLS", () => {
  it("opportunistic (the default) encrypts to a relay with a self-signed certificate, unverified", async () => {
    const relay = await tlsRelay();
    const { transport, tlsEvents } = transportFor(relay.port);

    const results = [await transport.send(copy(1)), await transport.send(copy(2))];

    expect(results.map((result) => result.tls)).toEqual(["unverified", "unverified"]);
    expect(relay.received).toEqual([
      { secure: true, mailFrom: "bounce+1@example.test" },
      { secure: true, mailFrom: "bounce+2@example.test" },
    ]);
    // Logged when it starts (and when it changes), not for every copy.
    expect(tlsEvents()).toEqual([expect.objectContaining({ tls: "unverified", starttls: "opportunistic", port: relay.port })]);
  });

  it("opportunistic sends the same copy in clear at once when the relay's STARTTLS is broken", async () => {
    const relay = await handWrittenRelay({ brokenStartTls: true });
    const { transport, tlsEvents } = transportFor(relay.port);

    const first = await transport.send(copy(1));
    const second = await transport.send(copy(2));

    expect([first.tls, second.tls]).toEqual(["none", "none"]);
    expect(relay.received.map((message) => message.mailFrom)).toEqual(["bounce+1@example.test", "bounce+2@example.test"]);
    expect(tlsEvents()[0]).toMatchObject({ tls: "none", fallback: "clear", reason: expect.stringMatching(/./) });
  });

  it("opportunistic to a relay that offers no STARTTLS sends in clear", async () => {
    const relay = await handWrittenRelay({});
    const { transport } = transportFor(relay.port);

    expect((await transport.send(copy(1))).tls).toBe("none");
    expect(relay.received).toHaveLength(1);
  });

  it("required refuses a self-signed certificate as a permanent configuration failure that names tls_ca", async () => {
    const relay = await tlsRelay();
    const { transport } = transportFor(relay.port, { starttls: "required" });

    const error = await failure(transport.send(copy(1)));

    expect(relay.received).toHaveLength(0);
    const verdict = classifySendError(error);
    expect(verdict).toMatchObject({ kind: "permanent", category: "configuration", rule: "tls-required" });
    expect(verdict.message).toMatch(/certificate could not be verified \(self[- ]signed certificate\).*outbound\.tls_ca/);
  });

  it("required delivers, verified, when tls_ca names the relay's certificate", async () => {
    const relay = await tlsRelay();
    const { transport, tlsEvents } = transportFor(relay.port, { starttls: "required", tls_ca: testCertificate().certPath });

    const result = await transport.send(copy(1));

    expect(result.tls).toBe("verified");
    expect(relay.received).toEqual([{ secure: true, mailFrom: "bounce+1@example.test" }]);
    expect(tlsEvents()).toEqual([expect.objectContaining({ tls: "verified", starttls: "required" })]);
  });

  it("required to a relay that offers no STARTTLS fails permanently, as configuration", async () => {
    const relay = await handWrittenRelay({});
    const { transport } = transportFor(relay.port, { starttls: "required" });

    const verdict = classifySendError(await failure(transport.send(copy(1))));

    expect(verdict).toMatchObject({ kind: "permanent", category: "configuration", rule: "tls-required" });
    expect(verdict.message).toMatch(/does not offer STARTTLS/);
    expect(relay.received).toHaveLength(0);
  });

  it("off never asks for STARTTLS", async () => {
    const relay = await tlsRelay();
    const { transport } = transportFor(relay.port, { starttls: "off" });

    expect((await transport.send(copy(1))).tls).toBe("none");
    expect(relay.received).toEqual([{ secure: false, mailFrom: "bounce+1@example.test" }]);
  });

  it("a tls_ca file that cannot be read stops the start, naming the key", () => {
    const config = buildConfig({ gateway: { domain: "example.test" }, outbound: { transport: "smtp", starttls: "required", tls_ca: "/nonexistent/ca.pem" } }, "test");
    expect(() => smtpTransportSettings(config)).toThrow(/outbound\.tls_ca/);
  });
});

describe("message size declared in MAIL FROM (RFC 1870)", () => {
  it("declares SIZE= with the copy's size when the relay advertises SIZE", async () => {
    const relay = await handWrittenRelay({});
    const { transport } = transportFor(relay.port);
    const sent = copy(1);

    await transport.send(sent);

    expect(relay.mailFromLines).toEqual([expect.stringMatching(new RegExp(`^MAIL FROM:<bounce\\+1@example\\.test> .*SIZE=${sent.raw.length}\\b`))]);
  });

  it("a copy larger than the relay's announced limit is refused before it is sent, permanently", async () => {
    const relay = await handWrittenRelay({ sizeLimit: 1000 });
    const { transport } = transportFor(relay.port);

    const error = await failure(transport.send(copy(1, "x".repeat(2000))));

    expect(relay.mailFromLines).toHaveLength(0);
    expect(classifySendError(error)).toMatchObject({ kind: "permanent", category: "message_too_large", rule: "message-too-large-announced" });
    // A small copy still goes on the same transport.
    await transport.send(copy(2));
    expect(relay.received).toHaveLength(1);
  });

  it("a relay's 552 5.3.4 at MAIL FROM, before any byte of the message, is a permanent size failure", async () => {
    const relay = await handWrittenRelay({ refuseAbove: 1000 });
    const { transport } = transportFor(relay.port);

    const error = await failure(transport.send(copy(1, "x".repeat(2000))));

    expect(relay.received).toHaveLength(0);
    expect(classifySendError(error)).toMatchObject({ kind: "permanent", category: "message_too_large" });
  });
});
