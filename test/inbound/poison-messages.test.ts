// Poison messages: mail that used to fail the same way on every retry (451 forever) or to tie the
// parser up, and mail whose author cannot be told. Each is now refused for good, or accepted.

import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { checkStructure, DEFAULT_PARSE_LIMITS, parseMessage } from "../../src/inbound/parse.js";
import { Refusal } from "../../src/errors/refusal.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { ENGINE } from "../helpers/postgres.js";

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join("\r\n") + "\r\n");

function manyParts(parts: number, messageId = "<many-parts@customer.test>"): Buffer {
  const lines = [
    "From: Carol <carol@customer.test>",
    "To: support@example.test",
    "Subject: Many parts",
    `Message-ID: ${messageId}`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="zz"',
    "",
  ];
  for (let i = 0; i < parts; i++) lines.push("--zz", "Content-Type: text/plain", "", `part ${i}`);
  lines.push("--zz--");
  return crlf(lines);
}

function manyHeaders(count: number): Buffer {
  const filler = Array.from({ length: count }, (_, i) => `X-Filler-${i}: ${i}`);
  return crlf(["From: Carol <carol@customer.test>", "To: support@example.test", "Subject: Headers", ...filler, "", "Body."]);
}

const refusalOf = (work: () => unknown): Refusal | undefined => {
  try {
    work();
    return undefined;
  } catch (error) {
    return error as Refusal;
  }
};

describe("checkStructure counts parts and headers on the raw bytes", () => {
  it("counts the message, each boundary delimiter and the header fields of every block", () => {
    const structure = checkStructure(manyParts(3), DEFAULT_PARSE_LIMITS);
    expect(structure.parts).toBe(4);
    expect(structure.headers).toBe(6 + 3);
    expect(structure.fromFields).toBe(1);
  });

  it("refuses past max_mime_parts and max_headers, naming the limit", () => {
    const parts = refusalOf(() => checkStructure(manyParts(5), { maxMimeParts: 5, maxHeaders: 1000, maxHeaderSize: 65_536 }));
    expect(parts?.reason).toBe("too_many_mime_parts");
    expect(parts?.sentence).toBe("The message has more than 5 MIME parts (limit limits.max_mime_parts).");
    const headers = refusalOf(() => checkStructure(manyHeaders(20), { maxMimeParts: 500, maxHeaders: 20, maxHeaderSize: 65_536 }));
    expect(headers?.reason).toBe("too_many_headers");
    expect(headers?.sentence).toMatch(/more than 20 header fields \(limit limits\.max_headers\)/);
  });

  it("counts Content-Type fields too, so parts without delimiters it knows still count", () => {
    const nested = crlf([
      "From: Carol <carol@customer.test>",
      'Content-Type: multipart/mixed; boundary="a"',
      "",
      "--a",
      "Content-Type: message/rfc822",
      "",
      "From: someone@else.test",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain",
      "",
      "x",
      "--b",
      "Content-Type: text/plain",
      "",
      "y",
      "--b--",
      "--a--",
    ]);
    const structure = checkStructure(nested, DEFAULT_PARSE_LIMITS);
    expect(structure.parts).toBe(5);
    expect(structure.fromFields).toBe(1);
  });
});

describe("poison messages over SMTP", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway({ limits: { max_temporary_failures: 3 } });
    await t.write(async (ctx) => {
      const { addUser } = await import("../../src/domain/users.service.js");
      const { addGroup, addGroupMember } = await import("../../src/domain/groups.service.js");
      await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });
  });
  afterEach(() => t.dispose());

  const sendRaw = (raw: Buffer, from = "carol@customer.test") =>
    t.send({ envelope: { from, to: ["support@example.test"] }, raw });
  const mailLog = () => t.read(({ tx }) => listMailLog(tx));

  it("poison: an attachment with an empty Content-Type is accepted as application/octet-stream, not 451 forever", async () => {
    const { readFileSync } = await import("node:fs");
    const raw = readFileSync(new URL("../fixtures/eml/poison_empty_content_type.eml", import.meta.url));
    const result = await sendRaw(raw);
    expect(result.response).toMatch(/^250 /);
    const stored = await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.attachments)));
    expect(stored.map((a) => [a.filename, a.contentType])).toEqual([["invoice.bin", "application/octet-stream"]]);
  });

  it("poison: more MIME parts than limits.max_mime_parts are refused 552 5.3.4 before mailparser runs", async () => {
    const started = Date.now();
    const error = await smtpError(sendRaw(manyParts(600)));
    expect(error?.responseCode).toBe(552);
    expect(error?.response).toMatch(/5\.3\.4 The message has more than 500 MIME parts \(limit limits\.max_mime_parts\)/);
    expect(Date.now() - started).toBeLessThan(5000);
    const [entry] = await mailLog();
    expect(entry).toMatchObject({ outcome: "rejected", smtpCode: 552 });
    expect(entry!.reason).toMatch(/^too_many_mime_parts/);
  });

  it("poison: more header fields than limits.max_headers are refused 552 5.3.4", async () => {
    const error = await smtpError(sendRaw(manyHeaders(1200)));
    expect(error?.responseCode).toBe(552);
    expect(error?.response).toMatch(/5\.3\.4 The message has more than 1000 header fields \(limit limits\.max_headers\)/);
  });

  it("poison: a message with two From fields is refused 550 5.7.1, not posted as the last one", async () => {
    const raw = crlf([
      "From: Carol <carol@customer.test>",
      "From: Alice <alice@team.test>",
      "To: support@example.test",
      "Subject: Two authors",
      "Message-ID: <two-from@customer.test>",
      "",
      "Who wrote this?",
    ]);
    const error = await smtpError(sendRaw(raw));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/5\.7\.1 RFC 5322 allows one From field; this message has 2/);
    expect(await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.posts)))).toHaveLength(0);
  });

  it("poison: a From field naming several mailboxes is refused 550 5.7.1", async () => {
    const raw = crlf(["From: Carol <carol@customer.test>, Alice <alice@team.test>", "To: support@example.test", "Subject: Two", "", "x"]);
    const error = await smtpError(sendRaw(raw));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/5\.7\.1 RFC 5322 allows one From address per author; this message names 2/);
    const parsed = await parseMessage(crlf(["From: a@x.test, b@y.test", "Subject: s", "", "t"])).catch((e: Refusal) => e);
    expect((parsed as Refusal).reason).toBe("multiple_authors");
  });

  // SQLite only: the recurring failure is a trigger that makes every post insert fail.
  it.skipIf(ENGINE === "postgres")(
    "poison: a message answered 451 limits.max_temporary_failures times is then refused 554 5.3.0",
    async () => {
      await t.write(async ({ tx }) => void tx.db.run(sql.raw("CREATE TRIGGER poison BEFORE INSERT ON posts BEGIN SELECT RAISE(ABORT, 'poisoned'); END")));
      const mail = { from: "carol@customer.test", to: "support@example.test", subject: "Retry me", text: "Again.", messageId: "<retry@customer.test>" };
      for (let i = 0; i < 3; i++) expect((await smtpError(t.send(mail)))?.responseCode).toBe(451);
      const final = await smtpError(t.send(mail));
      expect(final?.responseCode).toBe(554);
      expect(final?.response).toMatch(/5\.3\.0 This message failed 3 times in a row; it will not be accepted/);
      // Another message from the same sender is judged afresh.
      expect((await smtpError(t.send({ ...mail, messageId: "<other@customer.test>" })))?.responseCode).toBe(451);
      // Without a Message-ID the digest of the bytes is the key.
      const raw = crlf(["From: Carol <carol@customer.test>", "To: support@example.test", "Subject: No id", "", "Same bytes."]);
      for (let i = 0; i < 3; i++) expect((await smtpError(sendRaw(raw)))?.responseCode).toBe(451);
      expect((await smtpError(sendRaw(raw)))?.responseCode).toBe(554);
      const log = await mailLog();
      expect(log.filter((m) => m.smtpCode === 554)).toHaveLength(2);
      expect(log.every((m) => m.dedupeKey === null)).toBe(true);
    },
  );
});

describe("a header block of hundreds of kilobytes (found by scripts/fuzz: mailparser took 6 s on 20,000 References)", () => {
  it("is refused with 552 naming limits.max_header_size before mailparser reads it", async () => {
    const references = Array.from({ length: 20_000 }, (_, i) => `<ref${i}.abcd@x.test>`).join("\r\n ");
    const raw = Buffer.from(`From: carol@customer.test\r\nTo: support@example.test\r\nSubject: s\r\nMessage-ID: <m@x.test>\r\nReferences: ${references}\r\n\r\nhi\r\n`);
    const refusal = await parseMessage(raw).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(Refusal);
    expect((refusal as Refusal).sentence).toMatch(/limit limits\.max_header_size/);
  });

  it("lets an ordinary long thread's References through", async () => {
    const references = Array.from({ length: 500 }, (_, i) => `<ref${i}.abcd@x.test>`).join("\r\n ");
    const raw = Buffer.from(`From: carol@customer.test\r\nTo: support@example.test\r\nSubject: s\r\nMessage-ID: <m@x.test>\r\nReferences: ${references}\r\n\r\nhi\r\n`);
    expect((await parseMessage(raw)).threadIds.length).toBe(500);
  });
});
