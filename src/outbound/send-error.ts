/**
 * Whether a failed send is worth retrying. Pure, and a data table read top to bottom (first match
 * wins), in the spirit of ZoneMTA's bounces.txt: each rule says why it exists.
 *
 * The default is "temporary": losing a post because of an unknown error is worse than retrying it
 * until `give_up_after`.
 */
export type SendErrorKind = "temporary" | "permanent";

export interface SendErrorVerdict {
  readonly kind: SendErrorKind;
  /** Which rule decided, for logs and `lastError`. */
  readonly rule: string;
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
  readonly codes?: readonly string[];
  readonly responseCodes?: readonly [min: number, max: number];
  readonly command?: string;
  /** Tested against the remote reply, or the message when there is none. */
  readonly text?: RegExp;
}

const CONNECTION_CODES = [
  "ECONNECTION", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ESOCKET", "EDNS", "ETLS",
  "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "EPROTOCOL", "ESTREAM",
  "EMAXLIMIT", "EREQUIRETLS", "EHLO",
] as const;

export const SEND_ERROR_RULES: readonly SendErrorRule[] = [
  // A relay refusing our credentials is our configuration, not the recipient's address: keep the
  // mail until an admin fixes outbound.user/password, even though the reply is 535.
  { name: "relay-auth", kind: "temporary", codes: ["EAUTH"] },
  // Full mailboxes empty out; RFC 5321 §4.5.3.1.10 also asks to treat 552 on RCPT like 452.
  { name: "mailbox-full", kind: "temporary", responseCodes: [500, 599], text: /mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage/i },
  { name: "rcpt-552-as-452", kind: "temporary", responseCodes: [552, 552], command: "RCPT TO" },
  // Greylisting and rate limiting sometimes come back as 5xx from sloppy servers; they clear up.
  { name: "greylisted", kind: "temporary", responseCodes: [500, 599], text: /greylist|try again later|rate limit|too many (connections|messages)/i },
  { name: "smtp-5xx", kind: "permanent", responseCodes: [500, 599] },
  { name: "smtp-4xx", kind: "temporary", responseCodes: [400, 499] },
  // nodemailer refused the address before talking to anyone: no retry can fix a malformed address.
  { name: "invalid-envelope", kind: "permanent", codes: ["EENVELOPE"], command: "API" },
  { name: "connection", kind: "temporary", codes: CONNECTION_CODES },
];

export function classifySendError(error: unknown): SendErrorVerdict {
  const facts = sendErrorFacts(error);
  const rule = SEND_ERROR_RULES.find((candidate) => matches(candidate, facts));
  return {
    kind: rule?.kind ?? "temporary",
    rule: rule?.name ?? "unknown",
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

function matches(rule: SendErrorRule, facts: SendErrorFacts): boolean {
  if (rule.codes && !(facts.code && rule.codes.includes(facts.code))) return false;
  if (rule.responseCodes) {
    const [min, max] = rule.responseCodes;
    if (facts.responseCode === undefined || facts.responseCode < min || facts.responseCode > max) return false;
  }
  if (rule.command && facts.command !== rule.command) return false;
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
