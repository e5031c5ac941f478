import { copyFileSync, writeFileSync } from "node:fs";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { selfSignedCertificate } from "../helpers/certificates.js";
import { rawClient } from "../helpers/raw-smtp.js";

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

/** A raw SMTP session past the greeting and EHLO; returns the EHLO reply too. */
async function session(port: number) {
  const client = await rawClient(port);
  await client.reply();
  const ehlo = await client.command("EHLO client.test");
  return { ehlo, command: (line: string) => client.command(line), close: () => client.end() };
}

/** Reads one complete SMTP reply from a plain socket. */
function readReply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
        socket.off("data", onData);
        resolve(text);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/** STARTTLS with a raw client; resolves with the common name of the certificate the server presented. */
async function certificateNameOffered(port: number): Promise<string> {
  const socket = connectTcp({ host: "127.0.0.1", port });
  try {
    await readReply(socket);
    socket.write("EHLO client.test\r\n");
    expect(await readReply(socket)).toMatch(/STARTTLS/);
    socket.write("STARTTLS\r\n");
    expect(await readReply(socket)).toMatch(/^220/);
    const secured = connectTls({ socket, rejectUnauthorized: false, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      secured.once("secureConnect", resolve);
      secured.once("error", reject);
    });
    const name = secured.getPeerCertificate().subject.CN;
    secured.destroy();
    return Array.isArray(name) ? name.join(",") : (name ?? "");
  } finally {
    socket.destroy();
  }
}

describe("ENHANCEDSTATUSCODES (RFC 2034)", () => {
  it("is advertised, and every reply carries exactly one enhanced status", async () => {
    t = await startTestGateway();
    const client = await session(t.gateway.port);

    expect(client.ehlo).toMatch(/^250[- ]ENHANCEDSTATUSCODES$/m);
    // smtp-server's own replies get a status...
    expect(await client.command("DATA")).toMatch(/^503 5\.5\.1 [A-Za-z]/);
    expect(await client.command("MAIL FROM:<carol@customer.test>")).toMatch(/^250 2\.1\.0 Accepted$/);
    // ...and Postern's, which bring their own precise one, keep it and only it.
    const refused = await client.command("RCPT TO:<nobody@example.test>");
    expect(refused).toMatch(/^550 5\.1\.1 [A-Z][a-z]/);
    expect(refused).not.toMatch(/^550 \d\.\d+\.\d+ \d\.\d+\.\d+/);
    client.close();
  });
});

describe("internationalised addresses (EAI, RFC 6531)", () => {
  it("refuses a non-ASCII mailbox at MAIL FROM with 553 5.6.7 and a sentence, before any DATA", async () => {
    t = await startTestGateway();
    const client = await session(t.gateway.port);
    expect(client.ehlo).toMatch(/SMTPUTF8/);

    const reply = await client.command("MAIL FROM:<用户@例子.广告> SMTPUTF8");

    expect(reply).toMatch(/^553 5\.6\.7 Postern does not accept internationalised \(non-ASCII\) addresses/);
    // The session goes on: the sender can try again from another address.
    expect(await client.command("MAIL FROM:<carol@customer.test>")).toMatch(/^250/);
    client.close();
  });

  it("accepts an ASCII mailbox at a non-ASCII domain, in the domain's ASCII form", async () => {
    t = await startTestGateway();
    const client = await session(t.gateway.port);

    expect(await client.command("MAIL FROM:<carol@例子.广告> SMTPUTF8")).toMatch(/^250 2\.1\.0/);
    client.close();
  });
});

describe("inbound TLS certificate reload (SIGHUP)", () => {
  it("gives new STARTTLS sessions the renewed certificate, and keeps the old one when the new files are broken", async () => {
    const first = selfSignedCertificate("first.example.test");
    const second = selfSignedCertificate("second.example.test");
    t = await startTestGateway({ smtp: { tls_key: first.keyPath, tls_cert: first.certPath } });
    expect(await certificateNameOffered(t.gateway.port)).toBe("first.example.test");

    // certbot's deploy hook: the files are replaced, then the process gets SIGHUP.
    copyFileSync(second.keyPath, first.keyPath);
    copyFileSync(second.certPath, first.certPath);
    expect(t.gateway.reloadTls()).toBe(true);
    expect(await certificateNameOffered(t.gateway.port)).toBe("second.example.test");

    // A half-written renewal: the key no longer matches the certificate.
    writeFileSync(first.keyPath, selfSignedCertificate("third.example.test").key);
    expect(t.gateway.reloadTls()).toBe(false);
    expect(await certificateNameOffered(t.gateway.port)).toBe("second.example.test");
  });

  it("reloads through the SIGHUP handler itself", async () => {
    const first = selfSignedCertificate("before.example.test");
    const second = selfSignedCertificate("after.example.test");
    t = await startTestGateway({ smtp: { tls_key: first.keyPath, tls_cert: first.certPath } });

    copyFileSync(second.keyPath, first.keyPath);
    copyFileSync(second.certPath, first.certPath);
    process.emit("SIGHUP", "SIGHUP");

    expect(await certificateNameOffered(t.gateway.port)).toBe("after.example.test");
  });
});
