import { headerFieldKind } from "./header-fields.js";
import { LineKind, kindAt } from "./line-kind.js";
import type { BodyLines } from "./lines.js";
import { isShortEnoughForPatterns } from "./work-limits.js";

export interface HeaderRun {
  /** Inclusive index of the run's last line. */
  readonly end: number;
  readonly fields: number;
  readonly hasFrom: boolean;
}

// A long display name or address list wraps: "From: Human Resources\n<hr@x.org>\nSent: …".
const MAX_CONTINUATION_LINES = 2;

/**
 * Reads consecutive header fields starting at `start` (a plain text line), with the wrapped
 * continuation lines between them. A trailing continuation is included only when a blank line or
 * the end follows, which is how Outlook ends the block ("Subject: a subject that\nwraps\n\nBody").
 */
export function readHeaderRun(body: BodyLines, kinds: Uint8Array, start: number): HeaderRun | undefined {
  let fields = 0;
  let hasFrom = false;
  let end = -1;
  let continuations = 0;
  for (let i = start; i <= body.count; i++) {
    const kind = i < body.count ? kindAt(kinds, i) : LineKind.Blank;
    if (kind === LineKind.Blank) {
      if (continuations > 0) end = i - 1;
      break;
    }
    if (kind !== LineKind.Text || !isShortEnoughForPatterns(body.length(i))) break;
    const field = headerFieldKind(body.line(i));
    if (field !== undefined) {
      fields++;
      hasFrom ||= field === "from";
      end = i;
      continuations = 0;
    } else if (fields > 0 && continuations < MAX_CONTINUATION_LINES) {
      continuations++;
    } else {
      break;
    }
  }
  return fields === 0 ? undefined : { end, fields, hasFrom };
}

/**
 * A run is a quoted message's header block when it names the sender and at least two other fields;
 * right after a separator line ("________", "-----Original Message-----") two fields are enough.
 * Fewer would take the author's own "To: the team" or "Subject: budget" lines for a header.
 */
export function isHeaderBlock(run: HeaderRun, afterSeparator: boolean): boolean {
  if (!run.hasFrom) return false;
  return run.fields >= 3 || (afterSeparator && run.fields >= 2);
}
