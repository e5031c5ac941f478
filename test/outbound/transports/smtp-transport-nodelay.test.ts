import net from "node:net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { classifySendError } from "../../../src/domain/delivery-errors.js";
import { SmtpTransport, smtpTransportSettings } from "../../../src/outbound/transports/smtp-transport.js";

/**
 * Every socket the SMTP transport opens has Nagle off (TCP_NODELAY), and mail still flows over
 * plain SMTP, implicit TLS and STARTTLS, through the pool.
 *
 * Nothing here measures time. The option is observed through a spy on net.Socket's setNoDelay
 * (calling through, so the real option is still set): each client socket it is called on with
 * `true` is noted by its local port once connected to the test server, and every connection the
 * server accepted must come from one of those.
 */

interface Received {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly raw: Buffer;
}

interface TestServer {
  readonly port: number;
  /** The client's port of every connection the server accepted. */
  readonly clientPorts: Set<number>;
  readonly received: Received[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const transports: SmtpTransport[] = [];

async function startServer(options: Partial<SMTPServerOptions> = {}): Promise<TestServer> {
  const clientPorts = new Set<number>();
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH"],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    ...options,
    onConnect(session, callback) {
      clientPorts.add(session.remotePort);
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", callback);
      stream.on("end", () => {
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  server.on("error", () => {});
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  const handle: TestServer = {
    port,
    clientPorts,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  servers.push(handle);
  return handle;
}

function transportFor(port: number, outbound: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): SmtpTransport {
  const config = buildConfig({ gateway: { domain: "example.test" }, outbound: { transport: "smtp", host: "127.0.0.1", port, ...outbound } }, "test");
  const settings = smtpTransportSettings(config);
  const transport = new SmtpTransport({ ...settings, pool: { ...settings.pool, ...extra } });
  transports.push(transport);
  return transport;
}

function message(n: number, body = `message ${n}\r\n`): { envelope: { from: string; to: string[] }; raw: Buffer } {
  return {
    envelope: { from: `bounce+${n}@example.test`, to: [`reader${n}@example.org`] },
    raw: Buffer.from(`From: Postern <conversations@example.test>\r\nTo: reader${n}@example.org\r\nSubject: test ${n}\r\nMessage-ID: <${n}@example.test>\r\n\r\n${body}`),
  };
}

/** Local ports of client sockets that had setNoDelay(true) and connected to `serverPort`. */
let noDelayPorts: Map<number, Set<number>>;

beforeEach(() => {
  noDelayPorts = new Map();
  const setNoDelay = net.Socket.prototype.setNoDelay;
  vi.spyOn(net.Socket.prototype, "setNoDelay").mockImplementation(function (this: net.Socket, enable?: boolean) {
    if (enable !== false) {
      const note = (): void => {
        if (this.remotePort === undefined || this.localPort === undefined) return;
        const ports = noDelayPorts.get(this.remotePort) ?? new Set<number>();
        ports.add(this.localPort);
        noDelayPorts.set(this.remotePort, ports);
      };
      // Called before or after the socket connects: note it once the ports are known.
      if (this.connecting) this.once("connect", note);
      else note();
    }
    return setNoDelay.call(this, enable);
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(transports.splice(0).map((transport) => transport.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function expectNagleOffOnEveryConnection(server: TestServer): void {
  expect(server.clientPorts.size).toBeGreaterThan(0);
  const withNoDelay = noDelayPorts.get(server.port) ?? new Set<number>();
  for (const clientPort of server.clientPorts) expect(withNoDelay, `client port ${clientPort}`).toContain(clientPort);
}

describe("SMTP transport sockets", () => {
  it("turns Nagle off on every pooled connection", async () => {
    const server = await startServer();
    const transport = transportFor(server.port, { pool_size: 3 });

    // Queued at once, so the pool opens several connections; then more over the same ones.
    await Promise.all([1, 2, 3, 4, 5, 6].map((n) => transport.send(message(n))));
    await Promise.all([7, 8, 9].map((n) => transport.send(message(n))));

    expect(server.received).toHaveLength(9);
    expect(server.clientPorts.size).toBeGreaterThan(1);
    expectNagleOffOnEveryConnection(server);
  });

  it("still delivers a message byte for byte, envelope included", async () => {
    const server = await startServer();
    const transport = transportFor(server.port);
    // Dot-stuffing, 8-bit text and a body larger than one TCP segment or socket write.
    const body = `.a line starting with a dot\r\n..two dots\r\nÜnïcödé, 日本語\r\n${"x".repeat(998)}\r\n`.repeat(300);
    const sent = message(1, body);

    const result = await transport.send(sent);

    expect(result.response).toMatch(/^250\b/);
    expect(server.received).toHaveLength(1);
    const [got] = server.received;
    expect(got?.mailFrom).toBe(sent.envelope.from);
    expect(got?.rcptTo).toEqual(sent.envelope.to);
    expect(got?.raw.equals(sent.raw)).toBe(true);
    expectNagleOffOnEveryConnection(server);
  });

  it("keeps implicit TLS (secure = true) working, with Nagle off underneath", async () => {
    const server = await startServer({ secure: true });
    // Implicit TLS under the default opportunistic policy does not verify smtp-server's self-signed certificate.
    const transport = transportFor(server.port, { secure: true });

    await Promise.all([1, 2].map((n) => transport.send(message(n))));

    expect(server.received).toHaveLength(2);
    expectNagleOffOnEveryConnection(server);
  });

  it("keeps STARTTLS working when required, with Nagle off underneath", async () => {
    let upgraded = 0;
    const server = await startServer({
      hideSTARTTLS: false,
      onSecure(_socket, _session, callback) {
        upgraded++;
        callback();
      },
    });
    // smtp-server's built-in certificate is self-signed: required, but not verified.
    const transport = transportFor(server.port, { starttls: "required", tls_reject_unauthorized: false });

    await transport.send(message(1));

    expect(server.received).toHaveLength(1);
    expect(upgraded).toBe(1);
    expectNagleOffOnEveryConnection(server);
  });

  it("fails a refused connection as a network error, and the pool is not left wedged", async () => {
    const closed = await startServer();
    const port = closed.port;
    await closed.close();
    servers.splice(servers.indexOf(closed), 1);
    const transport = transportFor(port, { pool_size: 1 });

    // More failures than pool slots: a leaked slot would make the later sends hang.
    for (const n of [1, 2, 3]) {
      const error = await transport.send(message(n)).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: "ESOCKET", command: "CONN" });
      expect(classifySendError(error)).toMatchObject({ kind: "temporary", rule: "connection", category: "network" });
    }
  });

  it("still times out a relay that accepts the connection but never greets", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const transport = transportFor(port, { pool_size: 1, connection_timeout: "300ms" });
      const error = await transport.send(message(1)).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: "ETIMEDOUT", command: "CONN" });
      expect(classifySendError(error)).toMatchObject({ kind: "temporary", category: "network" });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
