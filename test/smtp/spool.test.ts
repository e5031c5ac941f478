import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listMailLog, findMailLogEntry } from "../../src/domain/mail-log.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { receiveMessage } from "../../src/smtp/spool.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

describe("receiving DATA into memory or a spool file", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "postern-spool-test-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => expect(readdirSync(dir)).toEqual([]));

  const feed = (chunks: Buffer[]) => {
    const stream = new PassThrough();
    // Written after the reader is attached, in several chunks as a socket delivers them.
    setImmediate(() => {
      for (const chunk of chunks) stream.write(chunk);
      stream.end();
    });
    return stream;
  };

  it("keeps a message under the memory limit in memory", async () => {
    const bytes = randomBytes(10_000);
    const message = await receiveMessage(feed([bytes.subarray(0, 4000), bytes.subarray(4000)]), { dir, memoryLimit: 64 * 1024 }, () => true).received;
    expect(message.spooled).toBe(false);
    expect(message.size).toBe(10_000);
    expect((await message.bytes()).equals(bytes)).toBe(true);
  });

  it("writes a larger message to a file that is unlinked at once, and reads it back byte for byte", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));
    const message = await receiveMessage(feed(chunks), { dir, memoryLimit: 64 * 1024 }, () => true).received;
    expect(message.spooled).toBe(true);
    expect(message.size).toBe(bytes.length);
    // Nothing in the directory even before it is discarded: a crash leaves no spool file behind.
    expect(readdirSync(dir)).toEqual([]);
    expect((await message.bytes()).equals(bytes)).toBe(true);
    await message.discard();
  });

  it("holds nothing of a message once it is over the SIZE limit, but reads it to its end", async () => {
    let seen = 0;
    const chunks = Array.from({ length: 40 }, () => randomBytes(65_536));
    const stream = feed(chunks);
    stream.on("data", (chunk: Buffer) => (seen += chunk.length));
    const message = await receiveMessage(stream, { dir, memoryLimit: 64 * 1024 }, () => seen <= 1024 * 1024).received;
    expect(seen).toBe(40 * 65_536);
    expect(message.size).toBe(0);
    expect((await message.bytes()).length).toBe(0);
  });

  it("rejects with the reason it was aborted (a too-slow client) and frees the file", async () => {
    const stream = new PassThrough();
    const reading = receiveMessage(stream, { dir, memoryLimit: 1024 }, () => true);
    stream.write(randomBytes(200_000));
    reading.abort(new Error("too slow"));
    await expect(reading.received).rejects.toThrow("too slow");
    stream.end();
  });
});

describe("large messages over SMTP", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });
  });
  afterAll(() => t.dispose());

  it("accepts a message spooled to disk and keeps its exact bytes and its attachment", async () => {
    const pdf = Buffer.concat([Buffer.from("%PDF-1.4\n"), randomBytes(2 * 1024 * 1024)]);
    const sent = await t.send({
      from: "carol@customer.test",
      to: "support@example.test",
      subject: "The scan",
      text: "Attached.",
      attachments: [{ filename: "scan.pdf", content: pdf, contentType: "application/pdf" }],
    });
    expect(sent.response).toMatch(/^250 2\.0\.0 Accepted/);
    const entry = await t.read(async ({ tx }) => {
      const [latest] = await listMailLog(tx, { limit: 1 });
      return findMailLogEntry(tx, latest!.id);
    });
    expect(entry?.outcome).toBe("accepted");
    expect(entry?.raw?.length).toBe(entry?.size);
    expect(entry!.size).toBeGreaterThan(2 * 1024 * 1024);
    const raw = entry!.raw!.toString("latin1");
    expect(raw).toContain("Subject: The scan");
    // The first base64 line of the attachment, as the client wrapped it.
    expect(raw).toContain(`\r\n${pdf.subarray(0, 57).toString("base64")}\r\n`);
    const attachment = await t.read(({ tx }) => tx.db.select().from(tx.t.attachments).where(undefined));
    expect(attachment.map((a) => Buffer.from(a.content).equals(pdf))).toEqual([true]);
  });

  it("leaves no spool file behind", () => {
    expect(readdirSync(join(t.dir, "spool"))).toEqual([]);
  });
});
