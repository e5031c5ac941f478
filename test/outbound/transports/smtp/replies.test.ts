import { describe, expect, it } from "vitest";
import { ReplyReader, ehloExtensions, replyCode } from "../../../../src/outbound/transports/smtp/replies.js";

describe("ReplyReader", () => {
  it("joins a multi-line reply and keeps replies that arrive together apart", () => {
    const reader = new ReplyReader();
    expect(reader.push(Buffer.from("250-relay.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n250 2.1.0 ok\r\n"))).toEqual([
      "250-relay.test\n250-PIPELINING\n250 SIZE 100",
      "250 2.1.0 ok",
    ]);
  });

  it("waits for the rest of a reply split across reads, wherever the split falls", () => {
    const reader = new ReplyReader();
    expect(reader.push(Buffer.from("550-5.1.1 no such\r"))).toEqual([]);
    expect(reader.push(Buffer.from("\n550 5.1.1 us"))).toEqual([]);
    expect(reader.push(Buffer.from("er here\r\n"))).toEqual(["550-5.1.1 no such\n550 5.1.1 user here"]);
  });

  it("takes a bare LF as a line end and a bare code as a whole reply", () => {
    expect(new ReplyReader().push(Buffer.from("354\n250 ok\n"))).toEqual(["354", "250 ok"]);
  });

  it("does not hold an endless multi-line reply either", () => {
    const reader = new ReplyReader();
    const replies = reader.push(Buffer.from("250-continued\r\n".repeat(10_000)));
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((reply) => reply.length <= 70_000)).toBe(true);
  });

  it("does not hold an endless line: past 64 KiB it is handed over as it is", () => {
    const reader = new ReplyReader();
    const [reply] = reader.push(Buffer.from("x".repeat(70_000)));
    expect(reply).toHaveLength(70_000);
    expect(reader.push(Buffer.from("250 ok\r\n"))).toEqual(["250 ok"]);
  });
});

describe("replyCode and ehloExtensions", () => {
  it("reads the code, and 0 for a line that has none", () => {
    expect(replyCode("421 4.4.2 idle")).toBe(421);
    expect(replyCode("this is not TLS")).toBe(0);
    expect(replyCode("")).toBe(0);
  });

  it("names the extensions in upper case with their parameters, not the greeting line", () => {
    const extensions = ehloExtensions("250-relay.test Hello\n250-pipelining\n250-SIZE 10240000\n250-AUTH PLAIN LOGIN\n250 STARTTLS");
    expect([...extensions]).toEqual([
      ["PIPELINING", []],
      ["SIZE", ["10240000"]],
      ["AUTH", ["PLAIN", "LOGIN"]],
      ["STARTTLS", []],
    ]);
  });
});
