import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { Refusal, refuse, type RefusalReason } from "../../src/errors/refusal.js";
import { SmtpReply, STORAGE_FULL_SENTENCE, TEMPORARY_FAILURE_SENTENCE, toSmtpReply } from "../../src/errors/smtp-reply.js";

// A Record over the union: the type checker fails here when a reason is added and not listed.
const EVERY_REASON: Record<RefusalReason, true> = {
  unknown_recipient: true,
  relaying_denied: true,
  reserved_name: true,
  message_too_large: true,
  malformed_message: true,
  sender_mismatch: true,
  sender_unauthenticated: true,
  conversation_closed: true,
  participant_gone: true,
  empty_reply: true,
  not_a_participant: true,
  no_thread_found: true,
  staged_users_disabled: true,
  not_allowed: true,
  user_unreachable: true,
  too_many_attachments: true,
  attachments_too_large: true,
  not_found: true,
  already_exists: true,
  invalid_input: true,
  database_out_of_date: true,
  too_many_mime_parts: true,
  too_many_headers: true,
  multiple_authors: true,
  repeated_failure: true,
  too_many_unknown_recipients: true,
  temporary_failure: true,
  storage_full: true,
};
const REASONS = Object.keys(EVERY_REASON) as RefusalReason[];

describe("toSmtpReply", () => {
  it.each(REASONS)("%s maps to a 4xx/5xx reply whose enhanced status has the same class", (reason) => {
    const reply = toSmtpReply(new Refusal(reason, "A sentence for a person."));
    expect(reply).toBeInstanceOf(SmtpReply);
    expect(reply.reason).toBe(reason);
    expect(reply.code === 450 || reply.code === 451 || reply.code === 452 || (reply.code >= 500 && reply.code <= 559)).toBe(true);
    expect(String(reply.code)).toMatch(/^[45][0-5]\d$/);
    // RFC 3463: class.subject.detail, and the class agrees with the basic code.
    expect(reply.enhancedStatus).toMatch(/^[45]\.\d{1,3}\.\d{1,3}$/);
    expect(reply.enhancedStatus[0]).toBe(String(reply.code)[0]);
    expect(reply.responseCode).toBe(reply.code);
    expect(reply.permanent).toBe(reply.code >= 500);
    expect(reply.sentence).toBe("A sentence for a person.");
    expect(reply.message).toBe(`${reply.enhancedStatus} A sentence for a person.`);
  });

  it("only a temporary failure (and the unknown-recipient throttle) is temporary: every other refusal is permanent", () => {
    const temporary: RefusalReason[] = ["temporary_failure", "too_many_unknown_recipients", "storage_full"];
    for (const reason of REASONS) {
      const reply = toSmtpReply(new Refusal(reason, "x"));
      expect(reply.permanent, reason).toBe(!temporary.includes(reason));
    }
  });

  it.each<[RefusalReason, number, string]>([
    ["unknown_recipient", 550, "5.1.1"],
    ["relaying_denied", 550, "5.7.1"],
    ["sender_mismatch", 550, "5.7.1"],
    ["message_too_large", 552, "5.3.4"],
    ["participant_gone", 550, "5.1.1"],
    ["temporary_failure", 451, "4.3.0"],
  ])("%s is %d %s as SPEC §3 says", (reason, code, status) => {
    const reply = toSmtpReply(new Refusal(reason, "x"));
    expect([reply.code, reply.enhancedStatus]).toEqual([code, status]);
  });

  it("keeps the sentence of a Refusal thrown with refuse()", () => {
    let caught: unknown;
    try {
      refuse("empty_reply", "Your reply was empty after removing the quoted text.");
    } catch (error) {
      caught = error;
    }
    const reply = toSmtpReply(caught);
    expect(reply.code).toBe(550);
    expect(reply.message).toBe(`${reply.enhancedStatus} Your reply was empty after removing the quoted text.`);
  });

  it.each<[string, unknown]>([
    ["an Error", new Error("SQLITE_BUSY: database is locked")],
    ["a TypeError", new TypeError("Cannot read properties of undefined")],
    ["a string", "boom"],
    ["undefined", undefined],
    ["null", null],
    ["an object with a responseCode", { responseCode: 550, message: "5.1.1 no" }],
  ])("answers %s with 451 4.3.0 and a sentence that leaks nothing", (_name, error) => {
    const reply = toSmtpReply(error);
    expect(reply.code).toBe(451);
    expect(reply.enhancedStatus).toBe("4.3.0");
    expect(reply.reason).toBe("temporary_failure");
    expect(reply.permanent).toBe(false);
    expect(reply.sentence).toBe(TEMPORARY_FAILURE_SENTENCE);
    expect(reply.message).not.toMatch(/SQLITE|undefined|boom/);
  });

  it("answers a full disk 451 4.3.0 with a sentence saying the message was not stored (never 5xx: nothing is wrong with the message)", () => {
    // A real SQLITE_FULL: a database capped at a few pages, filled up.
    const db = new Database(":memory:");
    db.pragma("max_page_count = 8");
    db.exec("CREATE TABLE t (x BLOB)");
    let full: unknown;
    try {
      for (let i = 0; i < 100; i++) db.prepare("INSERT INTO t VALUES (?)").run(Buffer.alloc(4096));
    } catch (error) {
      full = error;
    } finally {
      db.close();
    }
    expect((full as { code?: string }).code).toBe("SQLITE_FULL");
    const noSpace = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const pgDiskFull = Object.assign(new Error("could not extend file: No space left on device"), { code: "53100" });
    for (const error of [full, noSpace, pgDiskFull, new Error("commit failed", { cause: noSpace })]) {
      const reply = toSmtpReply(error);
      expect([reply.code, reply.enhancedStatus, reply.reason]).toEqual([451, "4.3.0", "storage_full"]);
      expect(reply.sentence).toBe(STORAGE_FULL_SENTENCE);
      expect(reply.message).not.toMatch(/SQLITE|ENOSPC|53100/);
    }
  });

  it("passes an SmtpReply through unchanged", () => {
    const original = new SmtpReply(552, "5.3.4", "Too big.", "message_too_large");
    expect(toSmtpReply(original)).toBe(original);
  });
});
