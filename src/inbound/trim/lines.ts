/**
 * Whitespace, plus characters that render as nothing: zero-width spaces left by HTML-to-text
 * conversion, and the lone "ᐧ" (U+1427) that Gmail tracking add-ons (Mixmax, Streak) append.
 */
function isInvisible(code: number): boolean {
  return (
    code === 0x20 ||
    (code >= 0x09 && code <= 0x0d) ||
    code === 0xa0 ||
    code === 0x1427 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200d) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x2060 ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

// The same set as isInvisible, for long lines, where one regex scan beats a loop of calls.
const VISIBLE = /[^\s\u1427\u200b-\u200d\u2060]/;
const LONG_LINE = 64;

/**
 * Stops at the first visible character, so a 1 MB line costs at most one pass. Nearly every line
 * shows one among its first characters: only a long run of invisible ones is left to the regex.
 */
function isBlankRange(text: string, start: number, end: number): boolean {
  const looped = Math.min(end, start + LONG_LINE);
  for (let i = start; i < looped; i++) {
    if (!isInvisible(text.charCodeAt(i))) return false;
  }
  return looped === end || !VISIBLE.test(text.slice(looped, end));
}

export function isBlankLine(line: string): boolean {
  return isBlankRange(line, 0, line.length);
}


function withDoubledCapacity(offsets: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const larger = new Int32Array(offsets.length * 2);
  larger.set(offsets);
  return larger;
}

/**
 * A text/plain body seen as lines, without splitting it: each line is a range of one string, and a
 * line's text is only cut out when a pattern needs to read it. This keeps bodies of hundreds of
 * thousands of lines to a few linear scans.
 */
export class BodyLines {
  /** The body with "\n" line endings. */
  readonly text: string;
  readonly count: number;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;

  private constructor(text: string, starts: Int32Array, ends: Int32Array) {
    this.text = text;
    this.count = starts.length;
    this.starts = starts;
    this.ends = ends;
  }

  /** Mail arrives with CRLF (RFC 5322), bare CR from old Mac clients, or LF once decoded. */
  static fromBody(body: string): BodyLines {
    const withoutBom = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
    const text = withoutBom.includes("\r") ? withoutBom.replace(/\r\n?/g, "\n") : withoutBom;
    // One pass over the newlines. The offset arrays start sized for ~32-character lines and
    // double when a body has more, shorter lines.
    let starts = new Int32Array(Math.max(1024, text.length >> 5));
    let ends = new Int32Array(starts.length);
    let count = 0;
    let start = 0;
    for (;;) {
      if (count === starts.length) {
        starts = withDoubledCapacity(starts);
        ends = withDoubledCapacity(ends);
      }
      const newline = text.indexOf("\n", start);
      const end = newline < 0 ? text.length : newline;
      starts[count] = start;
      ends[count] = end;
      count++;
      if (newline < 0) break;
      start = newline + 1;
    }
    return new BodyLines(text, starts.subarray(0, count), ends.subarray(0, count));
  }

  start(i: number): number {
    return this.starts[i] ?? this.text.length;
  }

  end(i: number): number {
    return this.ends[i] ?? this.text.length;
  }

  length(i: number): number {
    return this.end(i) - this.start(i);
  }

  line(i: number): string {
    return this.text.slice(this.start(i), this.end(i));
  }

  isBlank(i: number): boolean {
    return isBlankRange(this.text, this.start(i), this.end(i));
  }

  /** Lines from..to (inclusive) as they appear in the body, joined by "\n". */
  joined(from: number, to: number): string {
    return this.text.slice(this.start(from), this.end(to));
  }
}
