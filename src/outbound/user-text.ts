/**
 * User text (names, subjects) on its way into headers and footers. RFC 5322 §2.1.1 caps a header
 * line at 998 octets (78 recommended), and a name or subject carrying newlines must never start a
 * line of its own: in a footer it could pass for one of Postern's own lines.
 *
 * Headers fold only at spaces (mime/header.ts), so text that is not short, plain ASCII goes out as
 * RFC 2047 encoded words made here, each well under 78 octets, split only between code points:
 * any such value folds, and decodes back to exactly the text given.
 */

/** Display names in From/To and in footers; longer ones end in an ellipsis. */
export const MAX_NAME_LENGTH = 200;
/** The conversation's subject as quoted in a footer (the Subject header keeps it whole, encoded). */
export const MAX_FOOTER_SUBJECT_LENGTH = 200;
/** A group or site name after "via". */
export const MAX_VIA_LENGTH = 100;

/** A run of non-blanks this long could not fold within 78 octets once its header name precedes it. */
const LONGEST_PLAIN_RUN = 64;
/**
 * Octets of one encoded word, well under 78 with a header's name before it: 45 bytes of UTF-8 in
 * 60 base64 characters, or 60 characters of Q-encoding, and `=?UTF-8?B?…?=` around them.
 */
const ENCODED_WORD_ROOM = 72;

/** One line: every run of whitespace or control characters (CR, LF, NEL, U+2028…) becomes one space. */
export function flattenText(text: string): string {
  return text.replace(/[\s\x00-\x1f\x7f-\x9f]+/g, " ").trim();
}

/** At most `max` characters (code points, so no emoji is cut in half), "…" marking a cut. */
export function capText(text: string, max: number): string {
  // No more UTF-16 units than that: no more code points either (most names and subjects).
  if (text.length <= max) return text;
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join("").trimEnd()}…`;
}

/** A person's name as shown in From, To or a footer: one line, capped. */
export function displayNameText(name: string, max = MAX_NAME_LENGTH): string {
  return capText(flattenText(name), max);
}

/**
 * An unstructured header value (Subject, Thread-Topic), flattened to one line. Short plain ASCII
 * is left to fold at its spaces; anything else becomes encoded words.
 */
export function headerText(value: string): string {
  const flat = flattenText(value);
  return needsEncoding(flat) ? encodedWords(flat) : flat;
}

/**
 * A display name as it stands before `<address>` (the phrase of RFC 5322 §3.4): an atom run as is,
 * other short printable ASCII quoted, anything else encoded words (RFC 2047 §5 (3)).
 */
export function addressNameHeader(name: string): string {
  const flat = flattenText(name);
  if (needsEncoding(flat)) return encodedWords(flat);
  if (/^[\w ]*$/.test(flat)) return flat;
  const quoted = `"${flat.replace(/[\\"]/g, "\\$&")}"`;
  // Escaping can double a run of quotes or backslashes past what folds.
  return hasLongRun(quoted) ? encodedWords(flat) : quoted;
}

/** Extensions kept whole when a file name is shortened: "report.pdf", "archive.tar.gz". */
const EXTENSION = /(\.[A-Za-z0-9]{1,10}){1,2}$/;
/** A file name as attachments carry it (Content-Type name=, Content-Disposition filename*=). */
export const MAX_FILENAME_LENGTH = 120;

/**
 * An attachment's file name: one line, capped keeping its extension (it is repeated in
 * Content-Type's `name=` and Content-Disposition's `filename`, see mime/header.ts).
 */
export function attachmentFilename(name: string): string {
  const flat = flattenText(name);
  if ([...flat].length <= MAX_FILENAME_LENGTH) return flat;
  const extension = EXTENSION.exec(flat)?.[0] ?? "";
  return `${capText(flat.slice(0, flat.length - extension.length), MAX_FILENAME_LENGTH - extension.length)}${extension}`;
}

/**
 * A MIME type as attachments carry it: `type/subtype` only, else application/octet-stream (a
 * sender's endless or malformed Content-Type would otherwise be repeated in every copy).
 */
export function attachmentContentType(type: string): string {
  const clean = type.trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/.test(clean) ? clean : "application/octet-stream";
}

const LONG_RUN = new RegExp(`\\S{${LONGEST_PLAIN_RUN},}`);

function hasLongRun(text: string): boolean {
  return LONG_RUN.test(text);
}

/**
 * Whether a one-line value must be encoded: non-ASCII, a run of non-blanks too long to fold, or
 * text a reader would take for an encoded word (and decode into something other than what was typed).
 */
function needsEncoding(flat: string): boolean {
  return /[^\x20-\x7e]/.test(flat) || hasLongRun(flat) || /=\?[^?\s]*\?[bq]\?/i.test(flat);
}

/**
 * The text as encoded words separated by spaces (which decoders drop between encoded words): Q
 * for ASCII, readable in the raw message, B otherwise. Words break between code points only, so
 * no word holds half a character (RFC 2047 §5, last paragraph).
 */
export function encodedWords(text: string, room = ENCODED_WORD_ROOM): string {
  if (text === "") return "";
  // The `=?UTF-8?Q?` and `?=` around each word take 12 octets; B fits 3 bytes in 4 characters.
  const qChars = room - 12;
  const bBytes = Math.floor((room - 12) / 4) * 3;
  const ascii = /^[\x00-\x7f]*$/.test(text);
  const words: string[] = [];
  let current = "";
  let size = 0;
  for (const char of text) {
    const cost = ascii ? qEncode(char).length : Buffer.byteLength(char, "utf8");
    if (size + cost > (ascii ? qChars : bBytes) && current !== "") {
      words.push(current);
      current = "";
      size = 0;
    }
    current += char;
    size += cost;
  }
  words.push(current);
  return words.map((word) => (ascii ? `=?UTF-8?Q?${qEncode(word)}?=` : `=?UTF-8?B?${Buffer.from(word, "utf8").toString("base64")}?=`)).join(" ");
}

/** RFC 2047 §4.2 Q-encoding of ASCII, restricted to the characters allowed in a phrase (§5 (3)). */
function qEncode(text: string): string {
  return text.replace(/[^A-Za-z0-9!*+\-/ ]/g, (char) => `=${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`).replace(/ /g, "_");
}
