import type { LineSpan } from "./line-span.js";

// Markdown fences (``` or ~~~): authors paste code and logs between them, and lines such as "####"
// or "-----" inside are content, never a signature delimiter or a quote marker.
const FENCE = /^[ \t]{0,3}(`{3,}|~{3,})/;

/** Cheap test on text[start, end) before the regex: up to 3 spaces of indentation, then "`" or "~". */
export function startsLikeFence(text: string, start: number, end: number): boolean {
  let at = start;
  while (at - start < 3 && at < end && (text.charCodeAt(at) === 0x20 || text.charCodeAt(at) === 0x09)) at++;
  const code = at < end ? text.charCodeAt(at) : 0;
  return code === 0x60 || code === 0x7e; // "`" or "~"
}

/**
 * Pairs fence lines into closed blocks (fence lines included). `candidates` are the indices of the
 * lines that startsLikeFence accepted, with their text; an unclosed fence makes no block.
 */
export function pairFences(candidates: readonly { index: number; line: string }[]): LineSpan[] {
  const blocks: LineSpan[] = [];
  let openAt = -1;
  let openFence = "";
  for (const { index, line } of candidates) {
    const fence = FENCE.exec(line.slice(0, 64))?.[1];
    if (fence === undefined) continue;
    if (openAt < 0) {
      openAt = index;
      openFence = fence;
    } else if (fence[0] === openFence[0] && fence.length >= openFence.length) {
      blocks.push({ start: openAt, end: index });
      openAt = -1;
    }
  }
  return blocks;
}
