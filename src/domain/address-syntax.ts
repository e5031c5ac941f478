import { domainToASCII, domainToUnicode } from "node:url";

/**
 * Syntax check for one mailbox address taken from a header (To, Cc, From).
 *
 * One odd recipient must not sink a whole message, so instead of throwing this returns either the
 * address in the form Postern stores, or a short reason fit for a log line ("not added: <reason>").
 * It is pure: no DNS lookups, no database, no config.
 */
export type AddressCheck = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly reason: string };

// RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
const MAX_LOCAL_LENGTH = 64;
// RFC 5321 §4.5.3.1.3 caps a path at 256 octets including the angle brackets, leaving 254 for the address.
const MAX_ADDRESS_LENGTH = 254;
// RFC 1035 §2.3.4: a DNS label is at most 63 octets.
const MAX_LABEL_LENGTH = 63;

// RFC 5322 §3.2.3 atext. Only the dot-atom form is accepted: a quoted-string local part ("a b"@x)
// is legal but reaches us with its quotes already stripped by mailparser, so it cannot be told apart
// from garbage, and no real user of a conversation gateway needs one.
const ATEXT = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
// RFC 5321 §4.1.2 sub-domain: letters, digits and hyphens (the LDH rule); no underscores.
const LDH_LABEL = /^[a-z0-9-]+$/;
// UTS #46 §2.3 treats these as label separators as well as ".", so a domain typed with an
// ideographic full stop (例子。广告) is split the same way domainToASCII will split it.
const LABEL_SEPARATORS = /[.\u3002\uff0e\uff61]/;
const NON_ASCII = /[^\x00-\x7f]/;

/** Normalises and validates one mailbox address; see {@link AddressCheck}. */
export function checkAddress(raw: string): AddressCheck {
  const written = stripAngleBrackets(raw.trim());
  const shown = quote(written);
  if (written === "") return fail("the address is empty");

  const at = written.lastIndexOf("@");
  if (at < 0) return fail(`${shown} has no "@"`);
  const rawLocal = written.slice(0, at);
  const rawDomain = written.slice(at + 1);
  if (rawLocal.includes("@")) return fail(`${shown} has more than one "@"`);
  if (rawLocal === "") return fail(`${shown} has nothing before the "@"`);
  if (rawDomain === "") return fail(`${shown} has no domain`);

  // Checked before lowercasing: some non-ASCII letters lowercase to ASCII (U+212A KELVIN SIGN
  // becomes "k"), which would silently turn an SMTPUTF8 mailbox (RFC 6531) into a different one.
  if (NON_ASCII.test(rawLocal)) return fail("the local part has non-ASCII characters (SMTPUTF8 addresses are not supported)");

  // RFC 5321 §2.4 lets the receiving host treat local parts case-sensitively, but mail systems in
  // practice match them case-insensitively and Postern does too (SPEC §2), so one case is stored.
  const local = rawLocal.toLowerCase();
  const localProblem = checkLocal(local);
  if (localProblem) return fail(`${shown} ${localProblem}`);

  const domain = toAsciiDomain(rawDomain.toLowerCase());
  if (!domain.ok) return fail(`${shown} ${domain.problem}`);

  const address = `${local}@${domain.value}`;
  if (address.length > MAX_ADDRESS_LENGTH) return fail(`${shown} is longer than ${MAX_ADDRESS_LENGTH} characters`);
  return { ok: true, address };
}

export function isValidAddress(raw: string): boolean {
  return checkAddress(raw).ok;
}

function checkLocal(local: string): string | undefined {
  if (local.length > MAX_LOCAL_LENGTH) return `has a local part longer than ${MAX_LOCAL_LENGTH} characters`;
  // RFC 5322 §3.2.3 dot-atom: dots only between atoms, never first, last or doubled.
  if (local.startsWith(".") || local.endsWith(".")) return "has a dot at the start or end of its local part";
  if (local.includes("..")) return "has two dots in a row in its local part";
  for (const atom of local.split(".")) {
    if (!ATEXT.test(atom)) return `has a character not allowed in its local part (${quote(firstOutside(atom, ATEXT))})`;
  }
  return undefined;
}

type DomainResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: string };

function toAsciiDomain(domain: string): DomainResult {
  if (domain.startsWith("[")) return { ok: false, problem: "has an IP address instead of a domain name" };

  // A single trailing dot is the DNS root (an absolute name); mail headers sometimes carry it but
  // it names the same host, and RFC 5321 §4.1.2 does not allow it in an SMTP path.
  const labelsWritten = domain.split(LABEL_SEPARATORS);
  if (labelsWritten.length > 1 && labelsWritten[labelsWritten.length - 1] === "") labelsWritten.pop();
  if (labelsWritten.length === 1 && labelsWritten[0] === "") return { ok: false, problem: "has no domain" };
  // Looked for before conversion because domainToASCII keeps empty labels ("bü..c" → "xn--b-eha..c")
  // and the reason should name what the sender wrote.
  if (labelsWritten.includes("")) return { ok: false, problem: "has an empty part in its domain" };
  if (labelsWritten.length < 2) return { ok: false, problem: "has no dot in its domain" };

  let ascii = labelsWritten.join(".");
  // IDNA (RFC 5890/5891 via UTS #46): the wire form of an internationalised domain is its punycode
  // A-label, which is what RFC 5321 requires without SMTPUTF8 and what mailparser undoes on parsing.
  // ASCII domains are left alone unless they carry A-labels: domainToASCII also parses WHATWG hosts,
  // so it would quietly rewrite "0x7f.1" into "127.0.0.1".
  if (NON_ASCII.test(ascii) || ascii.split(".").some((label) => label.startsWith("xn--"))) {
    ascii = domainToASCII(ascii);
    if (ascii === "") return { ok: false, problem: "has a domain that cannot be converted to ASCII (IDNA)" };
  }

  const labels = ascii.split(".");
  if (labels.includes("")) return { ok: false, problem: "has an empty part in its domain" };
  if (labels.length < 2) return { ok: false, problem: "has no dot in its domain" };
  // domainToASCII runs UTS #46 with CheckHyphens off, so "-bü" comes back as "xn---b-yka": the
  // hyphen rule has to be applied to the Unicode labels as well as to the ASCII ones.
  // Only an A-label reads differently in Unicode: a domain without one is its own Unicode form.
  const unicodeLabels = labels.some((label) => /^xn--/i.test(label)) ? domainToUnicode(ascii).split(".") : [];
  for (const label of labels) {
    if (label.length > MAX_LABEL_LENGTH) return { ok: false, problem: `has a domain part longer than ${MAX_LABEL_LENGTH} characters` };
    if (!LDH_LABEL.test(label)) return { ok: false, problem: `has a character not allowed in its domain (${quote(firstOutside(label, LDH_LABEL))})` };
  }
  for (const label of [...labels, ...unicodeLabels]) {
    // RFC 5321 §4.1.2 (Ldh-str ends in Let-dig) and RFC 5891 §4.2.3.1.
    if (label.startsWith("-") || label.endsWith("-")) return { ok: false, problem: 'has a domain part starting or ending with "-"' };
  }
  // RFC 3696 §2: a top-level domain is never all digits. An address ending in one is an IP address
  // written without the RFC 5321 brackets, or a typo; either way there is no such mail domain.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? "")) {
    return { ok: false, problem: "has a domain ending in a number (IP addresses are not accepted)" };
  }
  return { ok: true, value: ascii };
}

function stripAngleBrackets(address: string): string {
  return address.startsWith("<") && address.endsWith(">") && address.length >= 2 ? address.slice(1, -1).trim() : address;
}

function firstOutside(text: string, allowed: RegExp): string {
  for (const char of text) if (!allowed.test(char)) return char;
  return text;
}

/**
 * Quotes text for a log line: JSON escaping keeps CR/LF and other control characters from a hostile
 * header out of the log, and very long input is cut so one address cannot flood it.
 */
function quote(text: string): string {
  const chars = [...text];
  return JSON.stringify(chars.length > 80 ? `${chars.slice(0, 77).join("")}...` : text);
}

function fail(reason: string): AddressCheck {
  return { ok: false, reason };
}
