import { describe, expect, it } from "vitest";
import { classifySendError } from "../../../src/outbound/send-error.js";

/** Shaped like nodemailer's errors (smtp-connection `_formatError`). */
function smtpError(fields: { code?: string; responseCode?: number; command?: string; response?: string; message?: string }): Error {
  return Object.assign(new Error(fields.message ?? "failed"), fields);
}

describe("send error classification", () => {
  it.each([
    ["550 unknown mailbox at RCPT", { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.1.1 No such user" }],
    ["554 after DATA", { code: "EMESSAGE", responseCode: 554, command: "DATA", response: "554 5.7.1 Message rejected as spam" }],
    ["553 bad sender", { code: "EENVELOPE", responseCode: 553, command: "MAIL FROM", response: "553 5.1.8 Sender domain does not exist" }],
    ["an address nodemailer refuses to send to", { code: "EENVELOPE", command: "API", message: 'Invalid recipient "a<b@x"' }],
  ])("%s is permanent", (_name, fields) => {
    expect(classifySendError(smtpError(fields)).kind).toBe("permanent");
  });

  it.each([
    ["451 after DATA", { code: "EMESSAGE", responseCode: 451, command: "DATA", response: "451 4.3.0 Try again" }],
    ["421 service not available", { code: "EENVELOPE", responseCode: 421, command: "MAIL FROM", response: "421 4.7.0 Too busy" }],
    ["connection refused", { code: "ESOCKET", command: "CONN", message: "connect ECONNREFUSED 127.0.0.1:25" }],
    ["raw ECONNREFUSED", { code: "ECONNREFUSED", message: "connect ECONNREFUSED" }],
    ["connection timeout", { code: "ETIMEDOUT", command: "CONN", message: "Connection timeout" }],
    ["reset mid-transfer", { code: "ECONNRESET", message: "read ECONNRESET" }],
    ["relay hostname does not resolve", { code: "EDNS", message: "getaddrinfo ENOTFOUND relay" }],
    ["TLS handshake failure", { code: "ETLS", message: "Error initiating TLS" }],
    ["lost connection", { code: "ECONNECTION", message: "Connection closed unexpectedly" }],
    ["relay refuses our credentials (535)", { code: "EAUTH", responseCode: 535, command: "AUTH PLAIN", response: "535 5.7.8 Authentication failed" }],
    ["552 on RCPT (RFC 5321 says: treat as 452)", { code: "EENVELOPE", responseCode: 552, command: "RCPT TO", response: "552 5.2.2 Too much mail" }],
    ["a full mailbox reported as 5xx", { code: "EMESSAGE", responseCode: 550, command: "DATA", response: "550 5.2.2 Mailbox full" }],
    ["greylisting reported as 5xx", { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 Greylisted, please try again later" }],
    ["no code at all", { message: "something odd happened" }],
  ])("%s is temporary", (_name, fields) => {
    expect(classifySendError(smtpError(fields)).kind).toBe("temporary");
  });

  it("treats anything that is not an error object as temporary", () => {
    expect(classifySendError("boom")).toMatchObject({ kind: "temporary", rule: "unknown", message: "boom" });
    expect(classifySendError(undefined).kind).toBe("temporary");
  });

  it("names the rule and keeps the remote reply on one line for lastError", () => {
    const verdict = classifySendError(
      smtpError({ code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550-5.1.1 No such\r\n550 5.1.1 user here" }),
    );
    expect(verdict).toEqual({ kind: "permanent", rule: "smtp-5xx", message: "EENVELOPE RCPT TO: 550-5.1.1 No such 550 5.1.1 user here" });
  });
});
