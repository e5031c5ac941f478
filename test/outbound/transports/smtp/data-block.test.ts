import { describe, expect, it } from "vitest";
import { dataBlock } from "../../../../src/outbound/transports/smtp/data-block.js";

const block = (text: string): string => Buffer.concat(dataBlock(Buffer.from(text, "latin1"))).toString("latin1");

describe("dataBlock (RFC 5321 §4.5.2)", () => {
  it("ends the message with CRLF . CRLF, adding the last line's CRLF when it has none", () => {
    expect(block("Subject: a\r\n\r\nbody\r\n")).toBe("Subject: a\r\n\r\nbody\r\n.\r\n");
    expect(block("Subject: a\r\n\r\nbody")).toBe("Subject: a\r\n\r\nbody\r\n.\r\n");
  });

  it("doubles the dot that starts a line, the first line included, and no other dot", () => {
    expect(block(".first\r\nmiddle. dot\r\n.\r\n..two\r\n")).toBe("..first\r\nmiddle. dot\r\n..\r\n...two\r\n.\r\n");
  });

  it("turns a bare LF into CRLF, dot-stuffing the line after it", () => {
    expect(block("a\n.b\nc\r\n")).toBe("a\r\n..b\r\nc\r\n.\r\n");
  });

  it("leaves a message without such lines byte for byte, 8-bit text included, and does not copy it", () => {
    const raw = Buffer.from("Subject: é\r\n\r\n日本語\r\n", "utf8");
    const pieces = dataBlock(raw);
    expect(Buffer.concat(pieces).equals(Buffer.concat([raw, Buffer.from(".\r\n")]))).toBe(true);
    // A view of the message, not a copy: a 10 MB copy is not held twice to be sent.
    expect(pieces[0]?.buffer).toBe(raw.buffer);
  });

  it("joins the pieces of a message with many lines to stuff into one buffer", () => {
    const raw = Buffer.from(".line\r\n".repeat(100));
    const pieces = dataBlock(raw);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]?.toString()).toBe(`${"..line\r\n".repeat(100)}.\r\n`);
  });
});
