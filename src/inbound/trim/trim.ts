import { classifyLines } from "./classify.js";
import { BodyLines } from "./lines.js";
import { selectVisibleLines } from "./select-visible.js";

/**
 * Cuts the kept lines out of the body, without the blank lines around them. Each run of
 * consecutive kept lines is one slice of the body, so a 1 MB body kept whole costs one copy.
 */
function joinKept(body: BodyLines, keep: Uint8Array): string {
  let first = 0;
  let last = body.count - 1;
  while (first <= last && (!keep[first] || body.isBlank(first))) first++;
  while (last >= first && (!keep[last] || body.isBlank(last))) last--;
  const runs: string[] = [];
  let runStart = -1;
  for (let i = first; i <= last + 1; i++) {
    const kept = i <= last && keep[i] === 1;
    if (kept && runStart < 0) runStart = i;
    if (!kept && runStart >= 0) {
      runs.push(body.joined(runStart, i - 1));
      runStart = -1;
    }
  }
  return runs.join("\n").trimEnd();
}

/**
 * The visible reply in a text/plain body: quoted previous messages (any client, any language),
 * forwarded-message blocks and signatures removed; the author's own text, sign-off and inline
 * answers kept. Returns "" when nothing of the author's remains. Line endings come back as "\n".
 */
export interface TrimOptions {
  /**
   * Keep a forwarded message (its marker, who wrote it and when, and its text): for mail that
   * starts a conversation, where the forward is what the author passes on.
   */
  readonly keepForwarded?: boolean;
}

export function trim(text: string, options: TrimOptions = {}): string {
  const body = BodyLines.fromBody(text);
  return joinKept(body, selectVisibleLines(classifyLines(body), options.keepForwarded ?? false));
}
