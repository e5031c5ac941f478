// A line of repeated punctuation ("________", "-----", "=====", "***"): Outlook's separator above the
// quoted header block, mailing-list footers, and signatures set off from the body.
const RULE = /^[ \t]*[-_=+~#*]{2,}[ \t]*$/;

// Exactly three: how people type a Markdown thematic break between parts of their own text.
const MARKDOWN_BREAK = /^[ \t]{0,3}(?:---|\*\*\*|___)[ \t]*$/;

const RULE_CHARACTERS = new Set([..."-_=+~#*"].map((c) => c.charCodeAt(0)));

export function isRuleLine(line: string): boolean {
  let first = 0;
  while (line.charCodeAt(first) === 0x20 || line.charCodeAt(first) === 0x09) first++;
  return RULE_CHARACTERS.has(line.charCodeAt(first)) && RULE.test(line) && !MARKDOWN_BREAK.test(line);
}
