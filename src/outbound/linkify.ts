/**
 * Plain text as HTML with its web and mail addresses made links, as mail clients show a text
 * message. Scanned word by word (never a regular expression over the whole text), so a hostile
 * body of one endless "word" costs one pass.
 */

/** Longer "words" are left as text: no real address is this long, and the scan stays linear. */
const MAX_LINKED_WORD = 2048;

const WEB_START = /https?:\/\/|\bwww\./i;
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+$/;
// Punctuation that ends a sentence rather than the address ("see https://x.test/a.").
const TRAILING = /[.,;:!?'"’”»)\]}>*_]/;
const LEADING = /^[('"“‘«<\[{*_]+/;

export function linkify(text: string): string {
  return text
    .split(/(\s+)/)
    .map((word) => (word.trim() === "" || word.length > MAX_LINKED_WORD ? escapeText(word) : linkWord(word)))
    .join("");
}

function linkWord(word: string): string {
  if (!/https?:\/\//i.test(word) && word.includes("@")) {
    const before = LEADING.exec(word)?.[0] ?? "";
    const { core, after } = splitTrailing(word.slice(before.length));
    if (EMAIL.test(core)) return `${escapeText(before)}${anchor(`mailto:${core}`, core)}${escapeText(after)}`;
    return escapeText(word);
  }
  const web = WEB_START.exec(word);
  if (!web) return escapeText(word);
  const { core, after } = splitTrailing(word.slice(web.index));
  const bare = /^www\./i.test(core);
  const hostStart = bare ? 4 : core.indexOf("//") + 2;
  if (core.length <= hostStart || /[<>"]/.test(core)) return escapeText(word);
  return `${escapeText(word.slice(0, web.index))}${anchor(bare ? `https://${core}` : core, core)}${escapeText(after)}`;
}

/** Trailing punctuation leaves the address, except a ")" closing a "(" inside it (Wikipedia's links). */
function splitTrailing(word: string): { core: string; after: string } {
  let core = word;
  while (core.length > 0 && TRAILING.test(core[core.length - 1] as string)) {
    if (core.endsWith(")") && count(core, "(") >= count(core, ")")) break;
    core = core.slice(0, -1);
  }
  return { core, after: word.slice(core.length) };
}

function count(text: string, char: string): number {
  let n = 0;
  for (const c of text) if (c === char) n++;
  return n;
}

function anchor(href: string, text: string): string {
  return `<a href="${escapeText(href)}" rel="noopener noreferrer">${escapeText(text)}</a>`;
}

function escapeText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
