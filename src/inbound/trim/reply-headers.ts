import { LineKind, kindAt } from "./line-kind.js";
import type { LineSpan } from "./line-span.js";
import { isBlankLine, type BodyLines } from "./lines.js";
import { isQuotedLine, stripQuotePrefix } from "./quote-prefix.js";
import { hasReplyHeaderKeyword, matchReplyHeader, type ReplyHeaderMatch } from "./reply-header-patterns.js";
import { MAX_HEADER_SPAN_LINES, isShortEnoughForPatterns } from "./work-limits.js";

// Gmail breaks "<jane@x.org>" over lines and leaves the rest quoted ("> wrote:", ">:"): such a
// quoted tail may end a header, but only when it is this short.
const MAX_QUOTED_TAIL_LENGTH = 12;

// How attribution lines open, so that a wrapped header is read from its first line and not from the
// last line that happens to match on its own ("jane@x.org> wrote:" under "On Thu, … Jane <").
// Date-first forms open with a digit or a short weekday ("tir. 18. apr.", "pe 20.", "ср, 30 апр."),
// or a full weekday name and a comma ("понедельник, 6 октября", "Wednesday, 17 November").
const HEADER_OPENING =
  /^[ \t]*(?:-{2,} ?)?(?:(?:On|Le|Am|El|Em|Il|In data|Op|Den|På|W dniu|Dnia|Dne|Kello|At|Pe|We|V|Στις|Την|في|ביום|בתאריך) |在|ב-\d|\d|\p{L}{2,4}[.,]{0,2} \d|\p{L}{5,12}, \d)/u;

/**
 * Cheap test, before any join or pattern: could an attribution end on line i (a text or quoted
 * line short enough for patterns)? Attributions end in ":" (or a full-width one), in "wrote"
 * (Zoho: "wrote ----"), or in ">" (old Gmail's bare address); old Gmail's truncated
 * "2016-03-03 17:21 GMT+01:00 Jane" ends anywhere.
 */
export function couldEndHeader(body: BodyLines, kinds: Uint8Array, i: number): boolean {
  const { text } = body;
  const start = body.start(i);
  let last = body.end(i) - 1;
  while (last >= start && isTrailingSpaceOrMark(text.charCodeAt(last))) last--;
  if (last < start) return false;
  const end = text.charCodeAt(last);
  const endsWithColon = end === 0x3a || end === 0xff1a; // ":" or "："
  if (kindAt(kinds, i) === LineKind.Quoted) {
    // Only as the short remnant of a wrapped header ("> wrote:", ">:").
    if (!endsWithColon) return false;
    const content = stripQuotePrefix(body.line(i)).trim();
    return content.length > 0 && content.length <= MAX_QUOTED_TAIL_LENGTH;
  }
  if (endsWithColon || end === 0x3e) return true; // ">"
  if ((end === 0x65 || end === 0x45) && text.slice(Math.max(start, last - 4), last + 1).toLowerCase() === "wrote") return true;
  if (end === 0x2d && /wrote -+$/i.test(text.slice(Math.max(start, last - 23), last + 1))) return true;
  return startsWithDigit(text, start) && /^\s{0,3}\d{4}[-/.]\d/.test(body.line(i)) && body.line(i).includes("GMT");
}

/** Spaces, and the direction marks that close a right-to-left attribution (":\u202c"). */
function isTrailingSpaceOrMark(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x200e || code === 0x200f || (code >= 0x202a && code <= 0x202e);
}

function startsWithDigit(text: string, start: number): boolean {
  let i = start;
  while (i - start < 3 && text.charCodeAt(i) === 0x20) i++;
  const code = text.charCodeAt(i);
  return code >= 0x30 && code <= 0x39;
}

/**
 * An attribution starts on an unquoted line that carries a date (in any script's digits) or an
 * address, or that opens like one and was wrapped before the date ("Wiadomość napisana przez Jane\n<j@x> w dniu 4 mar 2025, o\ngodz. 09:12:").
 */
function couldStartHeader(line: string): boolean {
  return /\p{Nd}|@/u.test(line) || VERB_FIRST_OPENING.test(line);
}

const VERB_FIRST_OPENING = /^[ \t]*Wiadomość napisana przez /u;

// Direction marks Gmail puts around names and addresses in Arabic and Hebrew attributions.
const BIDI_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function joinHeaderLines(lines: readonly string[]): string {
  return lines
    .map((line, i) => (i === 0 ? line : line.replace(/^[\s>]+/, "")))
    .join(" ")
    .replace(BIDI_CONTROLS, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** Which lines hold a header keyword, tested once per line and only for lines near a candidate. */
class KeywordLines {
  private readonly known: Int8Array; // 0 untested, 1 yes, -1 no

  constructor(private readonly body: BodyLines) {
    this.known = new Int8Array(body.count);
  }

  anyBetween(from: number, to: number): boolean {
    for (let i = Math.max(0, from); i <= to; i++) {
      if (this.known[i] === 0) {
        const fits = isShortEnoughForPatterns(this.body.length(i));
        this.known[i] = fits && hasReplyHeaderKeyword(this.body.line(i)) ? 1 : -1;
      }
      if (this.known[i] === 1) return true;
    }
    return false;
  }
}

/**
 * The lines start..end when they can hold one attribution: the first plain and carrying a date or
 * an address, the middle ones plain or blank, the last possibly a short quoted remnant, all short
 * enough to test.
 */
function spanLines(body: BodyLines, kinds: Uint8Array, start: number, end: number): string[] | undefined {
  if (kindAt(kinds, start) !== LineKind.Text || kindAt(kinds, end) === LineKind.Blank) return undefined;
  const lines: string[] = [];
  for (let i = start; i <= end; i++) {
    const kind = kindAt(kinds, i);
    if (kind === LineKind.Code || !isShortEnoughForPatterns(body.length(i))) return undefined;
    if (kind === LineKind.Quoted && i !== end) return undefined;
    lines.push(body.line(i));
  }
  return couldStartHeader(lines[0] ?? "") ? lines : undefined;
}

function matchSpan(body: BodyLines, kinds: Uint8Array, start: number, end: number): ReplyHeaderMatch | undefined {
  const lines = spanLines(body, kinds, start, end);
  return lines ? matchReplyHeader(joinHeaderLines(lines)) : undefined;
}

function shortestHeaderStart(
  body: BodyLines,
  kinds: Uint8Array,
  earliestStart: number,
  end: number,
): { start: number; open: boolean } | undefined {
  for (let start = end; start >= earliestStart; start--) {
    const match = matchSpan(body, kinds, start, end);
    if (match) return { start, open: match.open };
  }
  return undefined;
}

/**
 * The topmost line above a matched header that opens like an attribution and still matches with
 * it: the header's real start ("On Nov 21, 2014,\nat 10:18,\nJane <j@x.org> wrote:").
 */
function openingLineAbove(
  body: BodyLines,
  kinds: Uint8Array,
  earliestStart: number,
  matchedStart: number,
  end: number,
): number | undefined {
  for (let start = earliestStart; start < matchedStart; start++) {
    const opening = body.text.slice(body.start(start), Math.min(body.end(start), body.start(start) + 40));
    if (HEADER_OPENING.test(opening) && matchSpan(body, kinds, start, end)) return start;
  }
  return undefined;
}

// Gmail wraps a long attribution inside or after the address, leaving a first line that holds the
// bracketed address or ends in "<" ("Jane via Planning <planning@x.org>, 4 Mar 2025\nSal, 09:12 tarihinde şunu yazdı:").
const SENTENCE_END = /[.!?;…][ \t]*$/u;
const HOLDS_ADDRESS_BRACKET = /<[^<>\s]{1,100}@[^<>\s]{1,200}>|<[ \t]*$/;

/** The line right above a matched header when the header was wrapped out of it. */
function addressLineAbove(body: BodyLines, kinds: Uint8Array, earliestStart: number, start: number, end: number): number | undefined {
  const above = start - 1;
  if (above < earliestStart || kindAt(kinds, above) !== LineKind.Text || !isShortEnoughForPatterns(body.length(above))) return undefined;
  const line = body.line(above);
  // A sentence of the author's ends in punctuation; a wrapped attribution never does.
  if (!line.includes("@") || !HOLDS_ADDRESS_BRACKET.test(line) || SENTENCE_END.test(line)) return undefined;
  return matchSpan(body, kinds, above, end) ? above : undefined;
}

/**
 * Finds every unquoted attribution line ("On … wrote:" and its translations), including ones a
 * client wrapped over several lines. Works from candidate end lines: the shortest span that matches
 * wins ("On this day\n\nI wrote something …\nOn 28 Jan 2016, Jane wrote:" yields only the real one),
 * unless a line above it opens like an attribution and completes it.
 * `kinds` holds the base kinds (blank, text, code, quoted); `candidateEnds`, in order, the lines that
 * passed couldEndHeader when they were classified.
 */
export function findReplyHeaders(body: BodyLines, kinds: Uint8Array, candidateEnds: readonly number[]): LineSpan[] {
  const spans: LineSpan[] = [];
  const keywords = new KeywordLines(body);
  let lastOpen = false;
  for (const end of candidateEnds) {
    if (kindAt(kinds, end) === LineKind.Code) continue;
    const previous = spans[spans.length - 1];
    const earliestStart = Math.max(previous ? previous.end + 1 : 0, end - MAX_HEADER_SPAN_LINES + 1);
    if (!keywords.anyBetween(Math.min(earliestStart, previous?.start ?? earliestStart), end)) continue;
    const shortest = shortestHeaderStart(body, kinds, earliestStart, end);
    if (shortest) {
      const opened = openingLineAbove(body, kinds, earliestStart, shortest.start, end) ?? shortest.start;
      const start = addressLineAbove(body, kinds, earliestStart, opened, end) ?? opened;
      spans.push({ start, end });
      lastOpen = shortest.open;
    } else if (isDatelessAttributionAboveQuote(body, kinds, end)) {
      spans.push({ start: end, end });
      lastOpen = false;
    } else if (lastOpen && previous && end - previous.start < MAX_HEADER_SPAN_LINES) {
      // Old Gmail's truncated form ("2016-03-03 17:21 GMT+01:00 Jane") matches without a terminator;
      // when the next lines complete it ("<jane@x.org>:"), the header grows to include them.
      const match = matchSpan(body, kinds, previous.start, end);
      if (match && !match.open) {
        spans[spans.length - 1] = { start: previous.start, end };
        lastOpen = false;
      }
    }
  }
  return spans;
}

// "On Sun, Carol wrote:": clients shorten the date to a weekday, or drop it. Without a date or an
// address such a line is also prose ("On reflection, Bob wrote:"), so it counts only where the
// quoted message it announces follows at once.
const DATELESS_ATTRIBUTION = /^[ \t]*On [^\n]{1,120}\bwrote ?:[ \t]*$/i;

function isDatelessAttributionAboveQuote(body: BodyLines, kinds: Uint8Array, end: number): boolean {
  if (kindAt(kinds, end) !== LineKind.Text || !DATELESS_ATTRIBUTION.test(body.line(end))) return false;
  let next = end + 1;
  if (next < body.count && kindAt(kinds, next) === LineKind.Blank) next++;
  return next < body.count && kindAt(kinds, next) === LineKind.Quoted;
}

/** Does a quoted block open with an attribution, i.e. is it a whole previous message rather than an excerpt? */
export function startsWithQuotedReplyHeader(body: BodyLines, blockStart: number): boolean {
  const unquoted: string[] = [];
  for (let i = blockStart; i < blockStart + 3 && i < body.count; i++) {
    if (!isShortEnoughForPatterns(body.length(i))) break;
    const line = body.line(i);
    if (!isQuotedLine(line)) break;
    const content = stripQuotePrefix(line);
    if (isBlankLine(content)) break;
    unquoted.push(content);
    if (!couldStartHeader(unquoted[0] ?? "")) return false;
    if (matchReplyHeader(joinHeaderLines(unquoted))) return true;
  }
  return false;
}
