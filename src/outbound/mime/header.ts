import { domainToASCII } from "node:url";
import { RenderError } from "../render-error.js";
import { addressNameHeader, encodedWords, flattenText } from "../user-text.js";

/**
 * Header fields as they go on the wire (RFC 5322 §2.2): every value folded at its spaces within 78
 * octets where it has spaces to fold at, anything that is not printable ASCII written as RFC 2047
 * encoded words, and no CR or LF of a value ever starting a line of its own.
 */

/** A person as From, To, Cc or Reply-To name them. */
export interface Mailbox {
  /** Shown before the address; plain text, encoded here when it needs to be. */
  readonly name?: string;
  readonly address: string;
}

export type Addresses = string | Mailbox | readonly (string | Mailbox)[];

/** Folded lines stop here when a space allows (RFC 5322 §2.1.1: 78 octets without the CRLF). */
const FOLD_AT = 78;

/** `Name: value` folded, ending in CRLF. */
export function headerField(name: string, value: string): string {
  const words = value.split(" ");
  let out = `${name}:`;
  let line = out.length;
  for (const word of words) {
    // A line of blanks only is not allowed (RFC 5322 §3.2.2): empty words never start a line. A
    // word too long for the line after the field's name starts the next one (FWS may follow the colon).
    if (word !== "" && line + 1 + word.length > FOLD_AT) {
      out += "\r\n";
      line = 0;
    }
    out += ` ${word}`;
    line += 1 + word.length;
  }
  return `${out}\r\n`;
}

/**
 * An unstructured value (Subject, Thread-Topic, an X- header): one line, and encoded words unless
 * it is printable ASCII already (the renderers encode user text with headerText; this keeps any
 * other value from breaking the header).
 */
export function unstructuredValue(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  return encodedWords(flattenText(value));
}

/** A mailbox list: `Name <address>` or the bare address, comma separated. */
export function addressList(addresses: Addresses): string {
  const list: readonly (string | Mailbox)[] = typeof addresses === "string" || !Array.isArray(addresses) ? [addresses as string | Mailbox] : addresses;
  return list
    .map((entry) => {
      const mailbox = typeof entry === "string" ? { address: entry } : entry;
      const address = wireAddress(mailbox.address);
      const name = mailbox.name ? addressNameHeader(mailbox.name) : "";
      return name ? `${name} <${address}>` : address;
    })
    .join(", ");
}

/** The address with its domain in ASCII (IDNA); one that could break the header is refused. */
function wireAddress(address: string): string {
  if (/[\x00-\x20\x7f<>,;"()\\]/.test(address) || address.lastIndexOf("@") <= 0) throw new RenderError(`"${address.slice(0, 100)}" is not an address a header can carry`);
  const ascii = asciiAddress(address);
  if (!ascii) throw new RenderError(`"${address.slice(0, 100)}" has a domain that cannot be written in ASCII`);
  return ascii;
}

/** The address with its domain in ASCII (IDNA), as headers and the SMTP envelope carry it; undefined when the domain has no ASCII form. */
export function asciiAddress(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1);
  if (at < 0 || /^[\x21-\x7e]*$/.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii ? `${address.slice(0, at + 1)}${ascii}` : undefined;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time, in UTC: `Thu, 01 Jan 1970 00:00:00 +0000`. */
export function mailDate(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]}, ${two(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/** Characters RFC 2231 lets stand for themselves in an extended parameter value (attribute-char). */
const ATTRIBUTE_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;
/** Percent-encoded octets in one continuation of filename*: the line stays under 78 octets. */
const CONTINUATION_CHARS = 54;
/** Octets of one encoded word of name=: with ` name="` before it, the line stays under 78. */
const FILENAME_WORD_ROOM = 60;
/** A file name this short in printable ASCII goes as one quoted string. */
const PLAIN_FILENAME = 60;

/**
 * An attachment's name as Content-Type's `name` and Content-Disposition's `filename` parameters.
 * A short printable-ASCII name goes as it is, quoted; any other as RFC 2231 continuations in
 * filename* (percent-encoded UTF-8, each under 78 octets) and as encoded words in name=, which
 * older clients read. Both decode back to exactly the name given.
 */
export function filenameParameters(filename: string): { name: string; filename: string } {
  if (filename.length <= PLAIN_FILENAME && /^[\x20-\x7e]*$/.test(filename) && !/=\?/.test(filename)) {
    const quoted = `"${filename.replace(/[\\"]/g, "\\$&")}"`;
    return { name: `name=${quoted}`, filename: `filename=${quoted}` };
  }
  const segments: string[] = [];
  let current = "";
  for (const byte of Buffer.from(filename, "utf8")) {
    const char = String.fromCharCode(byte);
    const encoded = byte < 0x80 && ATTRIBUTE_CHAR.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    if (current.length + encoded.length > CONTINUATION_CHARS) {
      segments.push(current);
      current = "";
    }
    current += encoded;
  }
  segments.push(current);
  return {
    name: `name="${encodedWords(filename, FILENAME_WORD_ROOM)}"`,
    filename: segments.map((segment, i) => `filename*${i}*=${i === 0 ? "utf-8''" : ""}${segment}`).join("; "),
  };
}
