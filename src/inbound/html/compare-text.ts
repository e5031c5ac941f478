import { tokensOf } from "./html-text.js";

/**
 * Comparing the text part with what the HTML says. Clients write the two parts differently
 * (wrapping, "[image: …]", link addresses in brackets), so the comparison is on words.
 */

const URL_LIKE = /\b(?:https?:\/\/|mailto:|cid:)\S+/gi;

function wordsOf(text: string): string[] {
  return tokensOf(text.replace(URL_LIKE, " ").toLowerCase());
}

/**
 * The text trimmer and the HTML cut kept the same words, give or take a few: only then do the
 * copies show the author's HTML, so that they never show more (a quote) or less than the text.
 */
export function agreeInWords(text: string, htmlText: string): boolean {
  const fromText = wordsOf(text);
  const fromHtml = wordsOf(htmlText);
  const tolerance = Math.max(3, Math.floor(Math.max(fromText.length, fromHtml.length) / 10));
  return missing(fromText, fromHtml) <= tolerance && missing(fromHtml, fromText) <= tolerance;
}

/** How many words of `a` (counted with repeats) `b` does not have. */
function missing(a: readonly string[], b: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const word of b) counts.set(word, (counts.get(word) ?? 0) + 1);
  let absent = 0;
  for (const word of a) {
    const left = counts.get(word) ?? 0;
    if (left > 0) counts.set(word, left - 1);
    else absent++;
  }
  return absent;
}

const PROBE_LENGTH = 40;
const MAX_PROBES = 8;

function flatten(text: string): string {
  return text.replace(/^[ \t]*(>[ \t]?)+/gm, "").replace(/\s+/g, " ").trim().toLowerCase();
}

/**
 * Whether the trimmed text part still holds what the HTML marked as quoted: then the text part
 * carried the quote without a header the trimmer knows. Probes are the starts of the quote's
 * longest lines, compared with whitespace flattened (the text part is wrapped differently).
 */
export function containsQuoted(trimmed: string, quoted: string): boolean {
  const haystack = flatten(trimmed);
  if (haystack === "") return false;
  const probes = quoted
    .split("\n")
    .map(flatten)
    .filter((line) => line.length >= 20)
    .sort((a, b) => b.length - a.length)
    .slice(0, MAX_PROBES)
    .map((line) => line.slice(0, PROBE_LENGTH));
  return probes.some((probe) => haystack.includes(probe));
}

/**
 * The text part without the signatures the HTML marked (Gmail's comes without a "-- " line, so
 * the text trimmer cannot see it): each is taken off the end of the text when its lines are there.
 */
export function withoutSignatures(text: string, signatures: readonly string[]): string {
  let result = text;
  for (const signature of signatures) result = withoutTrailingLines(result, signature);
  return result;
}

function withoutTrailingLines(text: string, signature: string): string {
  const wanted = wordsOf(signature);
  if (wanted.length === 0) return text;
  const lines = text.split("\n");
  // Whole lines from the end until they hold as many words as the signature (the text part wraps
  // lines its own way), then the words must be the signature's.
  let collected: string[] = [];
  let at = lines.length;
  while (collected.length < wanted.length && at > 0) {
    at--;
    collected = [...wordsOf(lines[at] as string), ...collected];
  }
  if (collected.length !== wanted.length || collected.some((word, i) => word !== wanted[i])) return text;
  // A "--" line of the signature's own (Gmail's gmail_signature_prefix) goes with it.
  at--;
  while (at >= 0 && /^\s*(--\s*)?$/.test(lines[at] as string)) at--;
  return lines.slice(0, at + 1).join("\n").trimEnd();
}
