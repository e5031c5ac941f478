/** What one line of a reply is, as far as trimming is concerned. Stored one byte per line. */
export const LineKind = {
  Blank: 0,
  Text: 1,
  /** Inside a fenced code block: the author's content whatever it looks like. */
  Code: 2,
  Quoted: 3,
  /** Part of an attribution line ("On … wrote:"), which may span several lines. */
  ReplyHeader: 4,
  /** Part of an Outlook-style From:/Sent:/To:/Subject: block. */
  HeaderBlock: 5,
  /** "-----Original Message-----", "Begin forwarded message:", with the header fields under it. */
  Separator: 6,
  /** A line of repeated punctuation ("______", "-----"). */
  Rule: 7,
  /** "-- " */
  SignatureDelimiter: 8,
  /** "Sent from my iPhone" and the like. */
  ClientSignature: 9,
} as const;

export type LineKind = (typeof LineKind)[keyof typeof LineKind];

export function kindAt(kinds: Uint8Array, i: number): LineKind {
  return (kinds[i] ?? LineKind.Blank) as LineKind;
}

/** Kinds that mark where the previous message (or the signature) begins. */
export function isMarker(kind: LineKind): boolean {
  return kind >= LineKind.ReplyHeader && kind !== LineKind.Rule;
}

/** Lines the author typed. */
export function isAuthorText(kind: LineKind): boolean {
  return kind === LineKind.Text || kind === LineKind.Code;
}
