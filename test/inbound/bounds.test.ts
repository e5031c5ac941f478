// Bounds on what attacker input costs: the bytes kept of refused mail, the mail-log rows refused
// RCPTs write, and how fast one client address may try recipients that do not exist.

import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { findMailLogEntry, listMailLog } from "../../src/domain/mail-log.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { RecipientThrottle, refusedExcerpt } from "../../src/inbound/pipeline.js";
import { rawClient } from "../helpers/raw-smtp.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join("\r\n") + "\r\n");

/** A bare SMTP client: one command at a time, each resolving with the full (multi-line) reply. */
const openSockets = new Set<Socket>();

async function smtpSession(port: number) {
  const client = await rawClient(port);
  openSockets.add(client.socket);
  await client.reply();
  return {
    command: (line: string) => client.command(line),
    close: () => {
      client.end();
      openSockets.delete(client.socket);
    },
  };
}

async function seed(t: TestGateway): Promise<void> {
  await t.write(async (ctx) => {
    await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroupMember(ctx, "support", "alice@team.test");
  });
}

describe("limits config", () => {
  it("has defaults, and refused_excerpt accepts 0", () => {
    expect(buildConfig({}).limits).toEqual({
      max_mime_parts: 500,
      max_headers: 1000,
      max_header_size: 64 * 1024,
      max_temporary_failures: 5,
      temporary_failure_window: 5 * 86_400_000,
      refused_excerpt: 16 * 1024,
      unknown_recipients_per_minute: 30,
    });
    expect(buildConfig({ limits: { refused_excerpt: "0" } }).limits.refused_excerpt).toBe(0);
    expect(() => buildConfig({ limits: { refused_excerpt: "lots" } })).toThrow(/refused_excerpt/);
  });
});

describe("refusedExcerpt", () => {
  it("keeps the header block and the first bytes of the body; 0 keeps nothing", () => {
    const raw = Buffer.from(`Subject: s\r\nFrom: a@b.test\r\n\r\n${"x".repeat(100)}`);
    const head = "Subject: s\r\nFrom: a@b.test\r\n\r\n";
    expect(refusedExcerpt(raw, 10)?.toString()).toBe(head + "x".repeat(10));
    expect(refusedExcerpt(raw, 1000)?.toString()).toBe(raw.toString());
    expect(refusedExcerpt(raw, 0)).toBeNull();
    expect(refusedExcerpt(Buffer.from(`A: ${"h".repeat(100_000)}`), 10)?.length).toBe(64 * 1024);
  });
});

describe("bounds: refused mail keeps an excerpt", () => {
  let t: TestGateway;
  afterEach(() => t.dispose());

  const rawOf = (id: number) => t.read(async ({ tx }) => (await findMailLogEntry(tx, id))?.raw ?? null);

  it("bounds: a refused message keeps its header block and limits.refused_excerpt of its body; accepted mail keeps every byte", async () => {
    t = await startTestGateway({ limits: { refused_excerpt: "1KB" } });
    await seed(t);
    const body = "y".repeat(20_000);
    // Refused before the transaction (two From fields).
    const refused = crlf(["From: Carol <carol@customer.test>", "From: Eve <eve@evil.test>", "To: support@example.test", "Subject: Big", "", body]);
    expect((await smtpError(t.send({ envelope: { from: "carol@customer.test", to: ["support@example.test"] }, raw: refused })))?.responseCode).toBe(550);
    // Refused inside the transaction (a reply from someone else than the token's participant).
    await t.send({ from: "carol@customer.test", to: "support@example.test", subject: "Help", text: "Please help." });
    const [copy] = await t.sink.waitFor(1);
    const address = copy!.parsed.replyTo!.value[0]!.address!;
    expect((await smtpError(t.send({ from: "mallory@evil.test", to: address, subject: "Re: Help", text: body })))?.responseCode).toBe(550);

    const log = await t.read(({ tx }) => listMailLog(tx));
    const [mismatch, accepted, twoFrom] = log;
    expect([mismatch!.outcome, accepted!.outcome, twoFrom!.outcome]).toEqual(["rejected", "accepted", "rejected"]);
    for (const entry of [twoFrom!, mismatch!]) {
      const raw = (await rawOf(entry.id))!.toString();
      const [head, kept] = raw.split("\r\n\r\n");
      expect(head).toMatch(/^Subject: |From: /m);
      expect(kept!.length).toBeLessThanOrEqual(1024);
      expect(entry.size).toBeGreaterThan(20_000);
    }
    expect((await rawOf(accepted!.id))!.length).toBe(accepted!.size);
  });

  it("bounds: refused_excerpt = 0 keeps no raw bytes of refused mail", async () => {
    t = await startTestGateway({ limits: { refused_excerpt: 0 } });
    const raw = crlf(["From: a@x.test, b@y.test", "To: support@example.test", "Subject: s", "", "body"]);
    await smtpError(t.send({ envelope: { from: "a@x.test", to: ["conversations@example.test"] }, raw }));
    const [entry] = await t.read(({ tx }) => listMailLog(tx));
    expect(entry?.outcome).toBe("rejected");
    expect(await rawOf(entry!.id)).toBeNull();
  });
});

describe("bounds: refused recipients", () => {
  let t: TestGateway;
  afterEach(async () => {
    for (const socket of openSockets) socket.destroy();
    openSockets.clear();
    await t.dispose();
  });

  it("bounds: the refused RCPTs of one SMTP session share one mail-log row", async () => {
    t = await startTestGateway();
    const smtp = await smtpSession(t.gateway.port);
    await smtp.command("EHLO client.test");
    await smtp.command("MAIL FROM:<x@outside.test>");
    for (let i = 0; i < 5; i++) expect(await smtp.command(`RCPT TO:<nobody${i}@example.test>`)).toMatch(/^550 5\.1\.1/);
    expect(await smtp.command("RCPT TO:<victim@elsewhere.test>")).toMatch(/^550 5\.7\.1/);
    await smtp.command("QUIT");
    smtp.close();
    const log = await t.read(({ tx }) => listMailLog(tx));
    expect(log).toHaveLength(1);
    expect(log[0]!.rcptTo).toEqual([...Array.from({ length: 5 }, (_, i) => `nobody${i}@example.test`), "victim@elsewhere.test"]);
    expect(log[0]!.reason).toMatch(/^6 recipients refused in this session; last: relaying_denied: /);
    expect(log[0]!.smtpCode).toBe(550);
  });

  it("bounds: past limits.unknown_recipients_per_minute refused RCPTs, every RCPT from that address gets 450 4.7.1", async () => {
    t = await startTestGateway({ limits: { unknown_recipients_per_minute: 3 } });
    await seed(t);
    const smtp = await smtpSession(t.gateway.port);
    await smtp.command("EHLO client.test");
    await smtp.command("MAIL FROM:<x@outside.test>");
    expect(await smtp.command("RCPT TO:<support@example.test>")).toMatch(/^250/);
    for (let i = 0; i < 3; i++) expect(await smtp.command(`RCPT TO:<reply+guess${i}@example.test>`)).toMatch(/^550/);
    const throttled = await smtp.command("RCPT TO:<reply+guess9@example.test>");
    expect(throttled).toBe(
      "450 4.7.1 Too many unknown recipients from your address; try again in a minute (limit limits.unknown_recipients_per_minute).",
    );
    // A real address too: a guessed token must not stand out by being accepted.
    expect(await smtp.command("RCPT TO:<support@example.test>")).toMatch(/^450 4\.7\.1/);
    smtp.close();
    // A second connection from the same address is throttled as well.
    const again = await smtpSession(t.gateway.port);
    await again.command("EHLO client.test");
    await again.command("MAIL FROM:<x@outside.test>");
    expect(await again.command("RCPT TO:<support@example.test>")).toMatch(/^450 4\.7\.1/);
    // Going on through the cool-down: past the limit again, the session is ended with 421.
    expect(await again.command("RCPT TO:<reply+guess10@example.test>")).toBe(
      "421 4.7.0 Too many unknown recipients from your address, and more during the cool-down; closing the connection (limit limits.unknown_recipients_per_minute).",
    );
    again.close();
  });
});

describe("RecipientThrottle", () => {
  it("bounds: the throttle slides over a minute, forgets idle addresses and stays bounded", () => {
    const throttle = new RecipientThrottle(2, 60_000, 3);
    throttle.record("10.0.0.1", 0);
    throttle.record("10.0.0.1", 30_000);
    expect(throttle.throttled("10.0.0.1", 30_001)).toBe(true);
    expect(throttle.throttled("10.0.0.1", 60_001)).toBe(false);
    expect(throttle.throttled("10.0.0.2", 0)).toBe(false);
    for (const ip of ["a", "b", "c"]) {
      throttle.record(ip, 70_000);
      throttle.record(ip, 70_000);
    }
    // Four addresses in a map of at most three: the least recently refused one went first.
    expect(throttle.throttled("10.0.0.1", 70_001)).toBe(false);
    expect(throttle.throttled("c", 70_001)).toBe(true);
    expect(new RecipientThrottle(0).throttled("a", 0)).toBe(false);
  });
});
