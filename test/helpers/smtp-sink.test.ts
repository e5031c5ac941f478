import nodemailer from "nodemailer";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSmtpSink, type SmtpSink } from "./smtp-sink.js";

let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink();
});
afterEach(async () => {
  await sink.close();
});

function send(subject: string) {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: sink.port, secure: false, ignoreTLS: true });
  return transport.sendMail({ envelope: { from: "a@example.test", to: ["b@example.test"] }, from: "a@example.test", to: "b@example.test", subject, text: "hi" });
}

describe("smtp sink (test helper)", () => {
  it("collects accepted messages with their envelope, raw bytes and parsed form", async () => {
    await send("one");
    const [message] = await sink.waitFor(1);
    expect(message?.envelope).toEqual({ mailFrom: "a@example.test", rcptTo: ["b@example.test"] });
    expect(message?.raw.toString()).toContain("Subject: one");
    expect(message?.parsed.subject).toBe("one");
  });

  it("answers the next N messages with a chosen code, then accepts again", async () => {
    sink.failNext(451, 2);
    await expect(send("1")).rejects.toMatchObject({ responseCode: 451 });
    await expect(send("2")).rejects.toMatchObject({ responseCode: 451 });
    await send("3");
    expect(sink.replies).toEqual([451, 451, 250]);
    expect(sink.messages.map((m) => m.parsed.subject)).toEqual(["3"]);
  });

  it("answers everything with a code until accept()", async () => {
    sink.failAll(550);
    await expect(send("1")).rejects.toMatchObject({ responseCode: 550 });
    await expect(send("2")).rejects.toMatchObject({ responseCode: 550 });
    sink.accept();
    await send("3");
    expect(sink.replies).toEqual([550, 550, 250]);
  });

  it("waitFor rejects with a clear message on timeout", async () => {
    await expect(sink.waitFor(1, 50)).rejects.toThrow(/expected 1 message\(s\) within 50 ms, got 0/);
  });
});
