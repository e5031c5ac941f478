// Bounds on per-line pattern work, so that trim() stays linear on hostile bodies
// (a 1 MB line without a newline, 100k short lines, megabytes of quoted text).

/**
 * Quote headers, Outlook fields, separators and signatures are only looked for on lines up to this
 * length. Real attribution lines stay well under it (the longest Gmail ones are ~250 characters with
 * a long display name and address); longer lines are always the author's text.
 */
export const MAX_PATTERN_LINE_LENGTH = 400;

/** Gmail, Outlook and Apple Mail wrap a long "On … wrote:" line over at most 3 lines; 5 leaves room for blank lines in between. */
export const MAX_HEADER_SPAN_LINES = 5;

/**
 * How many candidate lines (ending in ":" or "wrote") the quote-header search examines. A real
 * reply has a handful; a body built to have hundreds of thousands would otherwise cost one join
 * and a few regexes per line per span length.
 */
export const MAX_HEADER_CANDIDATES = 2000;

export function isShortEnoughForPatterns(lineLength: number): boolean {
  return lineLength <= MAX_PATTERN_LINE_LENGTH;
}

/**
 * How many of the author's text lines are examined for separators, signatures and Outlook header
 * blocks. Real replies have far fewer; past this many, the rest is kept as the author's text:
 * trimming may then leave a quote in, but never cuts what the author wrote.
 */
export const MAX_MARKER_SCAN_LINES = 5000;
