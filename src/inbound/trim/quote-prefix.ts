// ">" is what every client puts in front of quoted lines. Supercite-style readers (Emacs Gnus,
// some Usenet and mailing-list clients) prefix the quoted author's initials instead: "C>", "JD>".
// Longer names ("Richard>") are not taken as quotes: they are too easily ordinary text.

const GT = 0x3e;
const MAX_INDENT = 3;
const MAX_INITIALS = 3;

const isIndent = (code: number): boolean => code === 0x20 || code === 0x09;
const isAsciiLetter = (code: number): boolean => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);

/** Whether the line text[start, end) is quoted. Reads a few characters, whatever the line's length. */
export function isQuotedAt(text: string, start: number, end: number): boolean {
  let i = start;
  while (i < end && i - start < MAX_INDENT && isIndent(text.charCodeAt(i))) i++;
  if (i >= end) return false;
  if (text.charCodeAt(i) === GT) return true;
  const initialsStart = i;
  while (i < end && i - initialsStart < MAX_INITIALS && isAsciiLetter(text.charCodeAt(i))) i++;
  if (i === initialsStart || i >= end || text.charCodeAt(i) !== GT) return false;
  if (i + 1 >= end) return true;
  const after = text.charCodeAt(i + 1);
  return isIndent(after) || after === GT;
}

export function isQuotedLine(line: string): boolean {
  return isQuotedAt(line, 0, line.length);
}

/** The line without its quote markers (any depth), for reading a header that was itself quoted. */
export function stripQuotePrefix(line: string): string {
  return line.replace(/^(?:[ \t]*>)+[ \t]?/, "");
}
