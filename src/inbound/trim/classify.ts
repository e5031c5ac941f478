import { pairFences, startsLikeFence } from "./code-fences.js";
import { headerFieldKind, type HeaderFieldKind } from "./header-fields.js";
import { isHeaderBlock, readHeaderRun } from "./header-blocks.js";
import { LineKind, kindAt } from "./line-kind.js";
import type { BodyLines } from "./lines.js";
import { isQuotedAt } from "./quote-prefix.js";
import { findQuoteBlocks, type QuoteBlocks } from "./quote-blocks.js";
import { couldEndHeader, findReplyHeaders } from "./reply-headers.js";
import { isRuleLine } from "./rules.js";
import { isBareMessageMarker, isMessageSeparator } from "./separators.js";
import { isClientSignatureTag, isSignatureDelimiter } from "./signatures.js";
import { MAX_HEADER_CANDIDATES, MAX_MARKER_SCAN_LINES, isShortEnoughForPatterns } from "./work-limits.js";

export interface ClassifiedReply {
  readonly body: BodyLines;
  /** One LineKind per line. */
  readonly kinds: Uint8Array;
  /** For the first line of a multi-line marker (reply header, header block, separator), its last line. */
  readonly markerEnd: ReadonlyMap<number, number>;
  readonly quoteBlocks: QuoteBlocks;
}

interface BaseClassification {
  readonly kinds: Uint8Array;
  /** Lines an attribution could end on, in order, at most MAX_HEADER_CANDIDATES of them. */
  readonly headerEndCandidates: number[];
}

/**
 * Blank, code, quoted or text: what a line is before any marker is looked for, and which lines
 * the quote-header search should look at. One pass over the lines.
 */
function classifyBase(body: BodyLines): BaseClassification {
  const { text } = body;
  const kinds = new Uint8Array(body.count);
  const fenceCandidates: { index: number; line: string }[] = [];
  const headerEndCandidates: number[] = [];
  for (let i = 0; i < body.count; i++) {
    const start = body.start(i);
    const end = body.end(i);
    if (isQuotedAt(text, start, end)) kinds[i] = LineKind.Quoted;
    else if (body.isBlank(i)) continue; // LineKind.Blank is 0
    else {
      kinds[i] = LineKind.Text;
      if (startsLikeFence(text, start, end)) fenceCandidates.push({ index: i, line: body.line(i) });
    }
    if (
      headerEndCandidates.length < MAX_HEADER_CANDIDATES &&
      isShortEnoughForPatterns(end - start) &&
      couldEndHeader(body, kinds, i)
    ) {
      headerEndCandidates.push(i);
    }
  }
  for (const { start, end } of pairFences(fenceCandidates)) kinds.fill(LineKind.Code, start, end + 1);
  return { kinds, headerEndCandidates };
}

function markSpan(kinds: Uint8Array, markerEnd: Map<number, number>, kind: LineKind, start: number, end: number): void {
  kinds.fill(kind, start, end + 1);
  markerEnd.set(start, end);
}

function previousNonBlank(kinds: Uint8Array, index: number): LineKind | undefined {
  for (let i = index - 1; i >= 0; i--) {
    const kind = kindAt(kinds, i);
    if (kind !== LineKind.Blank) return kind;
  }
  return undefined;
}

/** Kind of a plain line that is not part of a multi-line marker. */
function singleLineMarker(line: string): LineKind | undefined {
  if (isSignatureDelimiter(line)) return LineKind.SignatureDelimiter;
  if (isRuleLine(line)) return LineKind.Rule;
  if (isClientSignatureTag(line)) return LineKind.ClientSignature;
  return undefined;
}

export function classifyLines(body: BodyLines): ClassifiedReply {
  const { kinds, headerEndCandidates } = classifyBase(body);
  const markerEnd = new Map<number, number>();

  for (const { start, end } of findReplyHeaders(body, kinds, headerEndCandidates)) {
    markSpan(kinds, markerEnd, LineKind.ReplyHeader, start, end);
  }

  // A line's field kind is read once: as the line under the one being looked at, then kept for
  // the line's own turn.
  let readLine = -1;
  let readKind: HeaderFieldKind | undefined;

  let scanned = 0;
  for (let i = 0; i < body.count && scanned < MAX_MARKER_SCAN_LINES; i++) {
    if (kinds[i] !== LineKind.Text || !isShortEnoughForPatterns(body.length(i))) continue;
    scanned++;
    const line = body.line(i);
    const ownKindRead = readLine === i;
    const ownKind = readKind;

    const next = i + 1;
    let fieldsFollow = false;
    if (kinds[next] === LineKind.Text && isShortEnoughForPatterns(body.length(next))) {
      readLine = next;
      readKind = headerFieldKind(body.line(next));
      fieldsFollow = readKind !== undefined;
    }
    if (isMessageSeparator(line) || (fieldsFollow && isBareMessageMarker(line))) {
      // The separator takes the header fields printed under it, so that a forward with nothing
      // typed above it can drop both and keep the forwarded body.
      const end = (fieldsFollow ? readHeaderRun(body, kinds, next)?.end : undefined) ?? i;
      markSpan(kinds, markerEnd, LineKind.Separator, i, end);
      i = end;
      continue;
    }

    const single = singleLineMarker(line);
    if (single !== undefined) {
      kinds[i] = single;
      continue;
    }

    if ((ownKindRead ? ownKind : headerFieldKind(line)) === undefined) continue;
    const run = readHeaderRun(body, kinds, i);
    if (run && isHeaderBlock(run, previousNonBlank(kinds, i) === LineKind.Rule)) {
      markSpan(kinds, markerEnd, LineKind.HeaderBlock, i, run.end);
      i = run.end;
    }
  }

  return { body, kinds, markerEnd, quoteBlocks: findQuoteBlocks(body, kinds) };
}
