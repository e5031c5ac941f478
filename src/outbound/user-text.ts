// Default import: the module is CommonJS and Node cannot see most of its names as ESM exports.
import mimeFuncs from "nodemailer/lib/mime-funcs/index.js";

/**
 * User text (names, subjects) on its way into headers and footers. RFC 5322 §2.1.1 caps a header
 * line at 998 octets, and a name or subject carrying newlines must never start a line of its own:
 * in a footer it could pass for one of Postern's own lines.
 */

/** Display names in From/To and in footers; longer ones end in an ellipsis. */
export const MAX_NAME_LENGTH = 200;
/** The conversation's subject as quoted in a footer (the Subject header keeps it whole, encoded). */
export const MAX_FOOTER_SUBJECT_LENGTH = 200;
/** A group or site name after "via". */
export const MAX_VIA_LENGTH = 100;

/** One line: every run of whitespace or control characters (CR, LF, NEL, U+2028…) becomes one space. */
export function flattenText(text: string): string {
  return text.replace(/[\s\x00-\x1f\x7f-\x9f]+/g, " ").trim();
}

/** At most `max` characters (code points, so no emoji is cut in half), "…" marking a cut. */
export function capText(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join("").trimEnd()}…`;
}

/** A person's name as shown in From, To or a footer: one line, capped. */
export function displayNameText(name: string, max = MAX_NAME_LENGTH): string {
  return capText(flattenText(name), max);
}

/**
 * An unstructured header value (Subject) MailComposer can always fold. It folds only at spaces
 * and leaves plain ASCII alone, so a long URL would make one endless line, and text that merely
 * looks like an RFC 2047 encoded word would be decoded by the reader into something else. Both
 * are sent as encoded words (each well under 78 octets), which decode back to exactly this text.
 */
export function headerText(value: string): string {
  const flat = flattenText(value);
  const unfoldable = /\S{70,}/.test(flat);
  const looksEncoded = /=\?[^?\s]*\?[bq]\?/i.test(flat);
  if (!unfoldable && !looksEncoded) return flat;
  // eslint-disable-next-line no-control-regex
  return mimeFuncs.encodeWord(flat, /^[\x00-\x7f]*$/.test(flat) ? "Q" : "B", 52);
}
