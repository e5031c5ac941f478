const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF = Buffer.from("\r\n");
const DOT_BYTE = Buffer.from(".");
const END_AFTER_CRLF = Buffer.from(".\r\n");
const END_WITHOUT_CRLF = Buffer.from("\r\n.\r\n");

/** More pieces than this are joined into one buffer rather than handed to one vectored write. */
const MAX_PIECES = 64;

/**
 * A message as it goes after DATA (RFC 5321 §4.5.2): every line that starts with "." gets a second
 * one, a bare LF becomes CRLF (§2.3.8: only CRLF ends a line on the wire), and the message ends
 * with CRLF "." CRLF.
 *
 * Answered as pieces of the message itself (views, not copies) for one vectored write: a 10 MB
 * copy is not duplicated in memory to be sent. A message with many lines to stuff (more than
 * MAX_PIECES pieces) is joined into one buffer instead, which costs less than that many writes.
 */
export function dataBlock(raw: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  if (raw[0] === DOT) parts.push(DOT_BYTE);
  for (let at = raw.indexOf(LF); at !== -1; at = raw.indexOf(LF, at + 1)) {
    if (at === 0 || raw[at - 1] !== CR) {
      parts.push(raw.subarray(start, at), CRLF);
      start = at + 1;
    }
    if (raw[at + 1] === DOT) {
      parts.push(raw.subarray(start, at + 2), DOT_BYTE);
      start = at + 2;
    }
  }
  parts.push(raw.subarray(start));
  const endsWithLineBreak = raw.length > 0 && raw[raw.length - 1] === LF;
  parts.push(endsWithLineBreak ? END_AFTER_CRLF : END_WITHOUT_CRLF);
  return parts.length > MAX_PIECES ? [Buffer.concat(parts)] : parts;
}
