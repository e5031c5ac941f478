import { describe, expect, it } from "vitest";
import { classifySendError, SEND_ERROR_RULES } from "../../src/domain/delivery-errors.js";

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
    expect(verdict).toEqual({
      kind: "permanent",
      rule: "smtp-5xx",
      category: "recipient",
      message: "EENVELOPE RCPT TO: 550-5.1.1 No such 550 5.1.1 user here",
    });
  });
});

describe("send error categories", () => {
  type Fields = Parameters<typeof smtpError>[0];
  const cases: ReadonlyArray<[name: string, fields: Fields, expected: { category: string; kind: string; rule: string }]> = [
    // recipient
    [
      "Postfix: user unknown in local recipient table",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table" },
      { category: "recipient", kind: "permanent", rule: "smtp-5xx" },
    ],
    [
      "Gmail: account does not exist (multi-line)",
      {
        code: "EENVELOPE", responseCode: 550, command: "RCPT TO",
        response: "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser a1si123456wrb.12 - gsmtp",
      },
      { category: "recipient", kind: "permanent", rule: "smtp-5xx" },
    ],
    [
      "Exchange Online: recipient not found",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient nobody@contoso.com not found by SMTP address lookup" },
      { category: "recipient", kind: "permanent", rule: "smtp-5xx" },
    ],
    [
      "qmail: no mailbox, status in brackets",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 sorry, no mailbox here by that name. (#5.1.1)" },
      { category: "recipient", kind: "permanent", rule: "smtp-5xx" },
    ],
    [
      "no enhanced status, user unknown in words",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 <nobody@example.org>... User unknown" },
      { category: "recipient", kind: "permanent", rule: "no-such-user" },
    ],
    [
      "nodemailer refuses a malformed recipient",
      { code: "EENVELOPE", command: "API", message: 'Invalid recipient "a<b@x"' },
      { category: "recipient", kind: "permanent", rule: "invalid-envelope" },
    ],
    // mailbox_full
    [
      "Gmail: over quota as 452",
      { code: "EENVELOPE", responseCode: 452, command: "RCPT TO", response: "452-4.2.2 The recipient's inbox is out of storage space. Please direct the\r\n452 4.2.2 recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp" },
      { category: "mailbox_full", kind: "temporary", rule: "mailbox-full-status" },
    ],
    [
      "Exchange: mailbox full after DATA",
      { code: "EMESSAGE", responseCode: 554, command: "DATA", response: "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded" },
      { category: "mailbox_full", kind: "temporary", rule: "mailbox-full" },
    ],
    [
      "5.2.2 without the words",
      { code: "EMESSAGE", responseCode: 550, command: "DATA", response: "550 5.2.2 User has exhausted allowed storage space" },
      { category: "mailbox_full", kind: "temporary", rule: "mailbox-full-status" },
    ],
    [
      "552 on RCPT (RFC 5321: treat as 452)",
      { code: "EENVELOPE", responseCode: 552, command: "RCPT TO", response: "552 5.2.2 Too much mail" },
      { category: "mailbox_full", kind: "temporary", rule: "rcpt-552-as-452" },
    ],
    // policy
    [
      "Postfix: client blocked by a DNSBL",
      { code: "EENVELOPE", responseCode: 554, command: "RCPT TO", response: "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org" },
      { category: "policy", kind: "permanent", rule: "policy-5xx" },
    ],
    [
      "Gmail: unauthenticated mail refused (DMARC)",
      { code: "EMESSAGE", responseCode: 550, command: "DATA", response: "550-5.7.26 Unauthenticated email from example.test is not accepted due to domain's\r\n550 5.7.26 DMARC policy. https://support.google.com/mail/answer/2451690 - gsmtp" },
      { category: "policy", kind: "permanent", rule: "policy-5xx" },
    ],
    [
      "Exchange Online: sending IP banned",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit https://sender.office.com/" },
      { category: "policy", kind: "permanent", rule: "policy-5xx" },
    ],
    [
      "spam refusal without an enhanced status",
      { code: "EMESSAGE", responseCode: 554, command: "DATA", response: "554 Message rejected as spam by content filter" },
      { category: "policy", kind: "permanent", rule: "policy-5xx-text" },
    ],
    [
      "postgrey greylisting",
      { code: "EENVELOPE", responseCode: 450, command: "RCPT TO", response: "450 4.2.0 <someone@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html" },
      { category: "policy", kind: "temporary", rule: "greylisted-4xx" },
    ],
    [
      "Gmail: rate limited for unsolicited mail",
      { code: "EMESSAGE", responseCode: 421, command: "DATA", response: "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from\r\n421 4.7.28 your SPF domain. To protect our users from spam, mail has been temporarily rate limited. - gsmtp" },
      { category: "policy", kind: "temporary", rule: "greylisted-4xx" },
    ],
    [
      "greylisting from a sloppy server as 5xx",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 Greylisted, please try again later" },
      { category: "policy", kind: "temporary", rule: "greylisted" },
    ],
    // network
    [
      "connection refused",
      { code: "ESOCKET", command: "CONN", message: "connect ECONNREFUSED 127.0.0.1:25" },
      { category: "network", kind: "temporary", rule: "connection" },
    ],
    [
      "greeting timeout",
      { code: "ETIMEDOUT", command: "CONN", message: "Greeting never received" },
      { category: "network", kind: "temporary", rule: "connection" },
    ],
    [
      "TLS handshake failure",
      { code: "ETLS", command: "STARTTLS", message: "Error initiating TLS - unable to verify the first certificate" },
      { category: "network", kind: "temporary", rule: "connection" },
    ],
    // configuration
    [
      "relay refuses our credentials",
      { code: "EAUTH", responseCode: 535, command: "AUTH PLAIN", response: "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6" },
      { category: "configuration", kind: "temporary", rule: "relay-auth" },
    ],
    [
      "Postfix: relay access denied",
      { code: "EENVELOPE", responseCode: 554, command: "RCPT TO", response: "554 5.7.1 <someone@example.org>: Relay access denied" },
      { category: "configuration", kind: "temporary", rule: "relay-denied" },
    ],
    [
      "Postfix: relay access denied as 454",
      { code: "EENVELOPE", responseCode: 454, command: "RCPT TO", response: "454 4.7.1 <someone@example.org>: Relay access denied" },
      { category: "configuration", kind: "temporary", rule: "relay-denied" },
    ],
    [
      "Sendmail: relaying denied",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.7.1 <someone@example.org>... Relaying denied. Proper authentication required." },
      { category: "configuration", kind: "temporary", rule: "relay-denied" },
    ],
    [
      "Exchange: unable to relay",
      { code: "EENVELOPE", responseCode: 550, command: "RCPT TO", response: "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain" },
      { category: "configuration", kind: "temporary", rule: "relay-denied" },
    ],
    [
      "Google Workspace SMTP relay: IP not registered",
      { code: "EENVELOPE", responseCode: 550, command: "MAIL FROM", response: "550-5.7.1 Invalid credentials for relay [192.0.2.25]. The IP address you've\r\n550 5.7.1 registered in your Workspace SMTP Relay service doesn't match the domain - gsmtp" },
      { category: "configuration", kind: "temporary", rule: "relay-denied" },
    ],
    [
      "Exchange Online: client not authenticated (530)",
      { code: "EENVELOPE", responseCode: 530, command: "MAIL FROM", response: "530 5.7.57 Client not authenticated to send mail. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]" },
      { category: "configuration", kind: "temporary", rule: "relay-needs-auth-or-tls" },
    ],
    [
      "Postfix submission wants STARTTLS first (530)",
      { code: "EENVELOPE", responseCode: 530, command: "MAIL FROM", response: "530 5.7.0 Must issue a STARTTLS command first" },
      { category: "configuration", kind: "temporary", rule: "relay-needs-auth-or-tls" },
    ],
    [
      "our sender domain does not resolve (5.1.8)",
      { code: "EENVELOPE", responseCode: 553, command: "MAIL FROM", response: "553 5.1.8 <bounce+x@example.test>: Sender address rejected: Domain not found" },
      { category: "configuration", kind: "permanent", rule: "sender-rejected" },
    ],
    [
      "nodemailer refuses our sender",
      { code: "EENVELOPE", command: "API", message: 'Invalid sender "bounce+x@"' },
      { category: "configuration", kind: "permanent", rule: "invalid-sender" },
    ],
    // unknown
    [
      "a bare 554 that says nothing",
      { code: "EMESSAGE", responseCode: 554, command: "DATA", response: "554 5.0.0 Transaction failed" },
      { category: "unknown", kind: "permanent", rule: "smtp-5xx-other" },
    ],
    [
      "a 4xx that says nothing more",
      { code: "EMESSAGE", responseCode: 451, command: "DATA", response: "451 4.3.0 Temporary lookup failure, try again later" },
      { category: "unknown", kind: "temporary", rule: "smtp-4xx" },
    ],
    ["no code at all", { message: "something odd happened" }, { category: "unknown", kind: "temporary", rule: "unknown" }],
  ];

  it.each(cases)("%s", (_name, fields, expected) => {
    expect(classifySendError(smtpError(fields))).toMatchObject(expected);
  });

  it("has at least one case for every category", () => {
    const covered = new Set(cases.map(([, , expected]) => expected.category));
    expect([...covered].sort()).toEqual(["configuration", "mailbox_full", "network", "policy", "recipient", "unknown"]);
  });

  it("gives every rule a category", () => {
    for (const rule of SEND_ERROR_RULES) expect(rule.category, rule.name).toMatch(/^(recipient|mailbox_full|message_too_large|policy|network|configuration|unknown)$/);
    expect(new Set(SEND_ERROR_RULES.map((rule) => rule.name)).size).toBe(SEND_ERROR_RULES.length);
  });

  it("trusts the enhanced status after the reply code, not a status-looking run inside an address", () => {
    const verdict = classifySendError(
      smtpError({ code: "EMESSAGE", responseCode: 554, command: "DATA", response: "554 Transaction failed for host 10.5.7.1" }),
    );
    expect(verdict).toMatchObject({ rule: "smtp-5xx-other", category: "unknown" });
  });

  it("is unknown for anything that is not an error object", () => {
    expect(classifySendError("boom").category).toBe("unknown");
  });
});
