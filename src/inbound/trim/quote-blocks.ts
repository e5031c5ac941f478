import { LineKind, kindAt } from "./line-kind.js";
import type { BodyLines } from "./lines.js";

export interface QuoteBlocks {
  /** For each line inside a quoted block, the index of the block's first line; -1 elsewhere. */
  readonly startOf: Int32Array;
  /** For the first line of each block, the index one past its last quoted line. */
  readonly endOf: Int32Array;
}

// Clients that re-wrap a quoted message leave the overflow of a long quoted line unprefixed
// ("> Lorem ipsum … pharetra d\nignissim odio?\n>"). One or two plain lines squeezed directly
// between quoted lines belong to the quote when the quoted line above them is as long as the
// ~72-78 columns clients wrap at; under a short line they are an inline answer.
const MAX_UNPREFIXED_OVERFLOW = 2;
const MIN_WRAPPED_LINE_LENGTH = 60;

function overflowLength(kinds: Uint8Array, from: number): number {
  for (let i = from; i <= from + MAX_UNPREFIXED_OVERFLOW && i < kinds.length; i++) {
    const kind = kindAt(kinds, i);
    if (kind === LineKind.Quoted) return i - from;
    if (kind !== LineKind.Text) return 0;
  }
  return 0;
}

/**
 * Groups quoted lines into blocks: blank lines between quoted lines and unprefixed overflow lines
 * stay inside a block; the block ends at its last quoted line.
 */
export function findQuoteBlocks(body: BodyLines, kinds: Uint8Array): QuoteBlocks {
  const startOf = new Int32Array(kinds.length).fill(-1);
  const endOf = new Int32Array(kinds.length).fill(-1);
  let i = 0;
  while (i < kinds.length) {
    if (kinds[i] !== LineKind.Quoted) {
      i++;
      continue;
    }
    const start = i;
    let lastQuoted = i;
    let j = i + 1;
    while (j < kinds.length) {
      const kind = kindAt(kinds, j);
      if (kind === LineKind.Quoted) {
        lastQuoted = j;
        j++;
      } else if (kind === LineKind.Blank) {
        j++;
      } else if (
        kind === LineKind.Text &&
        j === lastQuoted + 1 &&
        body.length(lastQuoted) >= MIN_WRAPPED_LINE_LENGTH &&
        overflowLength(kinds, j) > 0
      ) {
        j += overflowLength(kinds, j);
      } else {
        break;
      }
    }
    startOf.fill(start, start, lastQuoted + 1);
    endOf[start] = lastQuoted + 1;
    i = lastQuoted + 1;
  }
  return { startOf, endOf };
}
