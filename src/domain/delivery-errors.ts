/**
 * Whether a failed send is worth retrying, and whose problem it is. Pure, and a data table read top
 * to bottom (first match wins), in the spirit of ZoneMTA's bounces.txt: each rule says why it
 * exists, and like ZoneMTA's bounce rules each carries a category.
 *
 * The default is "temporary": losing a post because of an unknown error is worse than retrying it
 * until `give_up_after`.
 */
export type SendErrorKind = "temporary" | "permanent";

/**
 * Whose problem a failed send is, for logs, `errorCategory` and an admin deciding what to fix:
 *  - recipient: the address does not exist or is invalid;
 *  - mailbox_full: the address exists but cannot take mail now (quota);
 *  - message_too_large: the copy is larger than the relay or the receiver accepts;
 *  - policy: refused by the receiver's policy (spam, blocklists, DMARC, greylisting, rate limits);
 *  - network: the relay could not be reached or talked to (DNS, TCP, timeouts, TLS);
 *  - configuration: our own setup is wrong (relay credentials, relaying not allowed, our sender);
 *  - unknown: nothing in the error says.
 */
export type SendErrorCategory = "recipient" | "mailbox_full" | "message_too_large" | "policy" | "network" | "configuration" | "unknown";

export interface SendErrorVerdict {
  readonly kind: SendErrorKind;
  /** Which rule decided, for logs and `lastError`. */
  readonly rule: string;
  /** Whose problem it is; "unknown" when no rule matched. */
  readonly category: SendErrorCategory;
  /** One line for `lastError`: the remote reply when there is one, else the error message. */
  readonly message: string;
}

/** The fields nodemailer puts on its errors (smtp-connection `_formatError`). */
export interface SendErrorFacts {
  readonly code?: string;
  readonly responseCode?: number;
  readonly command?: string;
  readonly response?: string;
  readonly message: string;
}

interface SendErrorRule {
  readonly name: string;
  readonly kind: SendErrorKind;
  readonly category: SendErrorCategory;
  readonly codes?: readonly string[];
  readonly responseCodes?: readonly [min: number, max: number];
  readonly command?: string;
  /** Tested against the reply's enhanced status code (RFC 3463, "5.1.1"); no status, no match. */
  readonly status?: RegExp;
  /** Tested against the remote reply, or the message when there is none. */
  readonly text?: RegExp;
}

const CONNECTION_CODES = [
  "ECONNECTION", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ESOCKET", "EDNS", "ETLS",
  "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "EPROTOCOL", "ESTREAM",
  "EMAXLIMIT", "EREQUIRETLS", "EHLO",
] as const;

/** Postfix "Relay access denied", Sendmail "Relaying denied", Exim "relay not permitted", Exchange "Unable to relay", Google Workspace "Invalid credentials for relay". */
const RELAY_DENIED = /relay(ing)? (access )?(denied|not (permitted|allowed)|prohibited)|unable to relay|not permitted to relay|we do not relay|invalid credentials for relay/i;

/** A mailbox that is not there, said in words by servers that give no enhanced status (qmail, old Exim). */
const NO_SUCH_USER = /user unknown|unknown (user|recipient|mailbox)|no such (user|mailbox|recipient)|(mailbox|user|recipient|account) (does not|doesn't) exist|no mailbox here/i;

/** Refusals that say policy in words but carry no 5.7.x status (or a meaningless 5.0.0). */
const POLICY_TEXT = /spam|blocked|block ?list|black ?list|policy|reputation|dmarc|\bspf\b|\bdkim\b|unsolicited/i;

export const SEND_ERROR_RULES: readonly SendErrorRule[] = [
  // outbound.starttls = "required" and the relay's certificate does not verify, or it offers no STARTTLS: our
  // TLS settings (tls_ca) or the relay's certificate must change; five days of retries would change neither.
  { name: "tls-required", kind: "permanent", category: "configuration", codes: ["ETLSPOLICY"] },
  // The copy is larger than the relay takes (RFC 1870: 552 5.3.4, at MAIL FROM when it read our SIZE=,
  // or after DATA), or larger than the limit the relay announced, which nodemailer checks before MAIL FROM.
  // The same copy will be as large tomorrow. Before mailbox-full: some relays say "exceeds storage allocation".
  { name: "message-too-large", kind: "permanent", category: "message_too_large", responseCodes: [500, 599], status: /^5\.3\.4$/ },
  { name: "message-too-large-at-mail", kind: "permanent", category: "message_too_large", responseCodes: [552, 552], command: "MAIL FROM" },
  { name: "message-too-large-text", kind: "permanent", category: "message_too_large", responseCodes: [500, 599], text: /message (size )?(exceeds|too (big|large))|too (big|large) for|size limit|exceeds (the )?(fixed )?maximum message size/i },
  { name: "message-too-large-announced", kind: "permanent", category: "message_too_large", codes: ["EMESSAGE"], command: "MAIL FROM", text: /^Message size larger than allowed/ },
  // A relay refusing our credentials is our configuration, not the recipient's address: keep the
  // mail until an admin fixes outbound.user/password, even though the reply is 535.
  { name: "relay-auth", kind: "temporary", category: "configuration", codes: ["EAUTH"] },
  // The smarthost will not relay for us (no auth configured, IP not allowed): our config, whatever the 4xx/5xx says; keep the mail until it is fixed.
  { name: "relay-denied", kind: "temporary", category: "configuration", responseCodes: [400, 599], text: RELAY_DENIED },
  // 530 (RFC 4954 "Authentication required", also "Must issue a STARTTLS command first"): the relay wants auth or TLS we did not configure.
  { name: "relay-needs-auth-or-tls", kind: "temporary", category: "configuration", responseCodes: [530, 530] },
  // Full mailboxes empty out; RFC 5321 §4.5.3.1.10 also asks to treat 552 on RCPT like 452.
  { name: "mailbox-full", kind: "temporary", category: "mailbox_full", responseCodes: [500, 599], text: /mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage/i },
  { name: "rcpt-552-as-452", kind: "temporary", category: "mailbox_full", responseCodes: [552, 552], command: "RCPT TO" },
  // Greylisting and rate limiting sometimes come back as 5xx from sloppy servers; they clear up.
  { name: "greylisted", kind: "temporary", category: "policy", responseCodes: [500, 599], text: /greylist|try again later|rate limit|too many (connections|messages)/i },
  // The same said properly as 4xx (postgrey, Gmail's rate limits): already temporary, named so the category says policy. Not "try again later": every 4xx means that.
  { name: "greylisted-4xx", kind: "temporary", category: "policy", responseCodes: [400, 499], text: /greylist|rate limit|too many (connections|messages)|unsolicited/i },
  // x.2.2 is "mailbox full" whatever the words (Gmail "452-4.2.2 ... over quota"): temporary for the same reason as mailbox-full.
  { name: "mailbox-full-status", kind: "temporary", category: "mailbox_full", responseCodes: [400, 599], status: /^[45]\.2\.2$/ },
  // 5.1.7/5.1.8 is our envelope sender (bad syntax, domain does not resolve): our DNS or outbound setup, not the recipient. Still permanent, as every 5xx was.
  { name: "sender-rejected", kind: "permanent", category: "configuration", responseCodes: [500, 599], status: /^5\.1\.[78]$/ },
  // 5.7.x is "security or policy" (spam, blocklists, DMARC, access denied): the receiver will not take this mail from us.
  { name: "policy-5xx", kind: "permanent", category: "policy", responseCodes: [500, 599], status: /^5\.7\.\d+$/ },
  // 5.1.x is "addressing" (no such mailbox, bad address): retrying cannot make the address exist. Kept the old catch-all's name: it is what most 5xx were.
  { name: "smtp-5xx", kind: "permanent", category: "recipient", responseCodes: [500, 599], status: /^5\.1\.\d+$/ },
  // The same, from servers that say it in words only.
  { name: "no-such-user", kind: "permanent", category: "recipient", responseCodes: [500, 599], text: NO_SUCH_USER },
  // Policy in words only ("554 rejected as spam", "5.0.0 ... blocked").
  { name: "policy-5xx-text", kind: "permanent", category: "policy", responseCodes: [500, 599], text: POLICY_TEXT },
  // Any other 5xx is still a permanent refusal, but nothing says whose fault it is.
  { name: "smtp-5xx-other", kind: "permanent", category: "unknown", responseCodes: [500, 599] },
  // A 4xx with nothing more specific above: the server asks us to come back, cause unsaid.
  { name: "smtp-4xx", kind: "temporary", category: "unknown", responseCodes: [400, 499] },
  // nodemailer refused our own sender before talking to anyone: our VERP/outbound setup, and no retry fixes it by itself.
  { name: "invalid-sender", kind: "permanent", category: "configuration", codes: ["EENVELOPE"], command: "API", text: /^Invalid sender\b/ },
  // nodemailer refused the address before talking to anyone: no retry can fix a malformed address.
  { name: "invalid-envelope", kind: "permanent", category: "recipient", codes: ["EENVELOPE"], command: "API" },
  // DNS, TCP, timeouts and TLS between us and the relay: they come back.
  { name: "connection", kind: "temporary", category: "network", codes: CONNECTION_CODES },
];

export function classifySendError(error: unknown): SendErrorVerdict {
  const facts = sendErrorFacts(error);
  const status = enhancedStatus(facts.response);
  const rule = SEND_ERROR_RULES.find((candidate) => matches(candidate, facts, status));
  return {
    kind: rule?.kind ?? "temporary",
    rule: rule?.name ?? "unknown",
    category: rule?.category ?? "unknown",
    message: describeSendError(facts),
  };
}

export function sendErrorFacts(error: unknown): SendErrorFacts {
  if (typeof error !== "object" || error === null) return { message: String(error) };
  const e = error as Record<string, unknown>;
  const text = (value: unknown): string | undefined => (typeof value === "string" && value ? value : undefined);
  const responseCode = typeof e.responseCode === "number" ? e.responseCode : undefined;
  return {
    code: text(e.code),
    responseCode,
    command: text(e.command),
    response: text(e.response),
    message: text(e.message) ?? String(error),
  };
}

/**
 * The RFC 3463 status right after the reply code ("550-5.1.1 ..." or "550 5.1.1 ..."), or qmail's
 * "(#5.1.1)". Only there: a status-looking run elsewhere may be part of an IP address.
 */
function enhancedStatus(response: string | undefined): string | undefined {
  if (!response) return undefined;
  const match = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?![.\d])/.exec(response) ?? /\(#([245]\.\d{1,3}\.\d{1,3})\)/.exec(response);
  return match?.[1];
}

function matches(rule: SendErrorRule, facts: SendErrorFacts, status: string | undefined): boolean {
  if (rule.codes && !(facts.code && rule.codes.includes(facts.code))) return false;
  if (rule.responseCodes) {
    const [min, max] = rule.responseCodes;
    if (facts.responseCode === undefined || facts.responseCode < min || facts.responseCode > max) return false;
  }
  if (rule.command && facts.command !== rule.command) return false;
  if (rule.status && !(status && rule.status.test(status))) return false;
  if (rule.text && !rule.text.test(facts.response ?? facts.message)) return false;
  return true;
}

function describeSendError(facts: SendErrorFacts): string {
  const detail = facts.response ?? facts.message;
  const prefix = [facts.code, facts.command].filter(Boolean).join(" ");
  return oneLine(prefix ? `${prefix}: ${detail}` : detail);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 500 ? `${flat.slice(0, 497)}...` : flat;
}
