import type { ClassifiedReply } from "./classify.js";
import { LineKind, isAuthorText, isMarker, kindAt } from "./line-kind.js";
import { startsWithQuotedReplyHeader } from "./reply-headers.js";
import { isMessageSeparator } from "./separators.js";
import { isBlankLine, type BodyLines } from "./lines.js";
import { isQuotedLine, stripQuotePrefix } from "./quote-prefix.js";

// A rule line ("-----", "______") ends the author's text only when what follows is short enough to
// be a signature or a list footer; a longer tail is more of the author's own writing.
const MAX_LINES_AFTER_CLOSING_RULE = 10;

/** For each index, the first line at or after it that is not blank (`kinds.length` when none). */
function nextNonBlankIndex(reply: ClassifiedReply): Int32Array {
  const { kinds } = reply;
  const next = new Int32Array(kinds.length + 1);
  next[kinds.length] = kinds.length;
  for (let i = kinds.length - 1; i >= 0; i--) {
    next[i] = kinds[i] === LineKind.Blank ? (next[i + 1] ?? kinds.length) : i;
  }
  return next;
}

/**
 * For each index: is there, from there on and before the next marker, a quoted block that the
 * author answers (text right after it)? That is what tells interleaved replies from a reply typed
 * under one full quote.
 */
function answeredQuoteFromIndex(reply: ClassifiedReply, nextNonBlank: Int32Array): Uint8Array {
  const { kinds, quoteBlocks } = reply;
  const n = kinds.length;
  const answered = new Uint8Array(n + 1);
  for (let i = n - 1; i >= 0; i--) {
    const kind = kindAt(kinds, i);
    if (isMarker(kind)) continue; // stays 0
    let value = answered[i + 1] ?? 0;
    if (kind === LineKind.Quoted && quoteBlocks.startOf[i] === i) {
      const after = nextNonBlank[quoteBlocks.endOf[i] ?? n] ?? n;
      if (after < n && isAuthorText(kindAt(kinds, after))) value = 1;
    }
    answered[i] = value;
  }
  return answered;
}

/**
 * Decides, top to bottom, which lines are the author's visible reply. Returns a keep flag per line.
 *
 * - A marker (attribution, header block, separator, "-- ", "Sent from my iPhone") after the author's
 *   text starts the previous message or the signature: everything from there on goes.
 * - The same markers above any author text introduce what the author is answering or forwarding:
 *   the marker goes, the text under it stays (bottom-posting, a forward with nothing typed).
 * - An attribution followed by a quote that the author then answers is an inline reply: the
 *   attribution goes, the quoted lines stay as context for the answers.
 * - Quoted lines left at the end, after the author's text, go.
 */
export function selectVisibleLines(reply: ClassifiedReply, keepForwarded = false): Uint8Array {
  const { body, kinds, markerEnd, quoteBlocks } = reply;
  // A kept forward is left whole from its marker on; the author's part above it is trimmed as usual.
  const n = keepForwarded ? forwardedMessageStart(reply) : kinds.length;
  const keep = new Uint8Array(kinds.length).fill(1);
  const drop = (from: number, to: number): void => {
    keep.fill(0, from, to);
  };
  const kindOf = (i: number): LineKind => kindAt(kinds, i);
  // Only needed when a reply header is met, which most long bodies never reach: built on first use.
  let nextNonBlank: Int32Array | undefined;
  let answeredQuoteFrom: Uint8Array | undefined;
  const nextNonBlankAt = (i: number): number => (nextNonBlank ??= nextNonBlankIndex(reply))[i] ?? n;
  const isAnsweredQuoteFrom = (i: number): boolean =>
    (answeredQuoteFrom ??= answeredQuoteFromIndex(reply, (nextNonBlank ??= nextNonBlankIndex(reply))))[i] === 1;
  const quoteEndAt = (i: number): number => quoteBlocks.endOf[quoteBlocks.startOf[i] ?? i] ?? i + 1;

  const closingRuleEndsText = (rule: number): boolean => {
    // Right under a line of text it underlines a heading or a table header.
    if (isAuthorText(kindOf(rule - 1))) return false;
    let tail = 0;
    for (let i = rule + 1; i < n; i++) {
      const kind = kindOf(i);
      if (isMarker(kind) || kind === LineKind.Quoted) break;
      if (kind !== LineKind.Blank && ++tail > MAX_LINES_AFTER_CLOSING_RULE) return false;
    }
    return true;
  };

  let authorTextSeen = false;
  let firstAuthorText = n;
  let cut = n;
  let i = 0;
  scan: while (i < n) {
    const kind = kindOf(i);
    switch (kind) {
      case LineKind.Blank:
        i++;
        break;
      case LineKind.Text:
      case LineKind.Code:
        if (!authorTextSeen) firstAuthorText = i;
        authorTextSeen = true;
        i++;
        break;
      case LineKind.Quoted: {
        const end = quoteEndAt(i);
        // A reply with nothing typed, only the quoted thread ("> On … wrote:"), has no visible text.
        if (!authorTextSeen && startsWithQuotedReplyHeader(body, i)) drop(i, end);
        i = end;
        break;
      }
      case LineKind.SignatureDelimiter:
      case LineKind.ClientSignature:
        cut = i;
        break scan;
      case LineKind.Rule:
        if (!authorTextSeen) drop(i, i + 1);
        else if (closingRuleEndsText(i)) {
          cut = i;
          break scan;
        }
        i++;
        break;
      case LineKind.Separator:
      case LineKind.HeaderBlock: {
        if (authorTextSeen) {
          cut = i;
          break scan;
        }
        const end = markerEnd.get(i) ?? i;
        drop(i, end + 1);
        i = end + 1;
        break;
      }
      case LineKind.ReplyHeader: {
        const end = markerEnd.get(i) ?? i;
        const next = nextNonBlankAt(end + 1);
        if (kindOf(next) !== LineKind.Quoted) {
          if (authorTextSeen) {
            cut = i;
            break scan;
          }
          drop(i, end + 1);
          i = end + 1;
          break;
        }
        const quoteEnd = quoteEndAt(next);
        const answered = isAuthorText(kindOf(nextNonBlankAt(quoteEnd)));
        if (authorTextSeen && !answered) {
          cut = i;
          break scan;
        }
        drop(i, end + 1);
        if (authorTextSeen) {
          i = next;
          break;
        }
        if (!(answered && isAnsweredQuoteFrom(quoteEnd))) drop(next, quoteEnd);
        i = quoteEnd;
        break;
      }
    }
  }
  drop(cut, n);
  dropTrailingQuotesAndRules(reply, keep, cut, firstAuthorText);
  return keep;
}

/**
 * Where a forwarded message begins: the first separator ("---------- Forwarded message ---------",
 * "Begin forwarded message:", "-----Original Message-----") or Outlook header block, with the rule
 * line Outlook draws above it. A reply header met first means the mail answers something rather than
 * passing it on: nothing is forwarded. `kinds.length` when there is no forward.
 */
function forwardedMessageStart(reply: ClassifiedReply): number {
  const { body, kinds, quoteBlocks } = reply;
  for (let i = 0; i < kinds.length; i++) {
    const kind = kindAt(kinds, i);
    if (kind === LineKind.ReplyHeader) break;
    // Apple Mail's plain text quotes the whole forward, marker included ("> Begin forwarded message:").
    if (kind === LineKind.Quoted && quoteBlocks.startOf[i] === i && startsWithQuotedForward(body, i)) return i;
    if (kind !== LineKind.Separator && kind !== LineKind.HeaderBlock) continue;
    let start = i;
    let above = i - 1;
    while (above >= 0 && kindAt(kinds, above) === LineKind.Blank) above--;
    if (above >= 0 && kindAt(kinds, above) === LineKind.Rule) start = above;
    return start;
  }
  return kinds.length;
}

/** Quoted blocks and rule lines left at the end of the author's text are the tail of the previous message. */
function dropTrailingQuotesAndRules(reply: ClassifiedReply, keep: Uint8Array, cut: number, firstAuthorText: number): void {
  const { kinds, quoteBlocks } = reply;
  let last = cut - 1;
  while (last >= 0) {
    const kind = kindAt(kinds, last);
    if (!keep[last] || kind === LineKind.Blank) {
      last--;
      continue;
    }
    if (kind === LineKind.Rule) {
      keep[last] = 0;
      last--;
      continue;
    }
    const blockStart = quoteBlocks.startOf[last] ?? -1;
    if (blockStart >= 0 && firstAuthorText < blockStart) {
      keep.fill(0, blockStart, last + 1);
      last = blockStart - 1;
      continue;
    }
    break;
  }
}

/** The first non-blank line of a quoted block is a forward marker ("> Begin forwarded message:"). */
function startsWithQuotedForward(body: BodyLines, blockStart: number): boolean {
  for (let i = blockStart; i < blockStart + 3 && i < body.count; i++) {
    const line = body.line(i);
    if (!isQuotedLine(line)) return false;
    const content = stripQuotePrefix(line);
    if (isBlankLine(content)) continue;
    return content.length <= 80 && isMessageSeparator(content);
  }
  return false;
}
