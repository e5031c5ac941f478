import { type ChildNode, type Document, type Element, type Text, hasChildren, isTag, isText } from "domhandler";
import { compile } from "html-to-text";
import { remove } from "./dom.js";

/** Words, numbers and runs of CJK characters: what the author wrote, whatever the markup around it. */
const TOKEN = /[\p{L}\p{N}\p{M}]+/gu;

export function tokensOf(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

const BLOCK_TAGS = new Set([
  "address", "article", "aside", "blockquote", "center", "dd", "details", "div", "dl", "dt", "figcaption", "figure",
  "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
  "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "body", "html", "caption",
]);
const PARAGRAPH_TAGS = new Set(["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table"]);

/** A word of the rendering and where it ends in the tree, so a cut after it can be made in the HTML too. */
interface PlacedToken {
  readonly token: string;
  readonly node: Text;
  readonly end: number;
}

export interface Rendering {
  /** Lines as the author's client showed them, blockquotes prefixed with "> ": what trim() reads. */
  readonly text: string;
  readonly tokens: readonly PlacedToken[];
}

/** The tree as plain text, for the text trimmer; every token of it comes from one text node. */
export function renderForTrim(document: Document, unquoted: ReadonlySet<ChildNode> = new Set()): Rendering {
  const lines: string[] = [];
  const tokens: PlacedToken[] = [];
  let line = "";
  let depth = 0;
  let inPre = 0;
  let lineEndsInSpace = false;
  const flush = (force: boolean): void => {
    if (line.trim() !== "" || force) lines.push("> ".repeat(depth) + line.trimEnd());
    line = "";
    lineEndsInSpace = false;
  };
  const blankLine = (): void => {
    flush(false);
    if (lines.length > 0 && lines[lines.length - 1] !== "> ".repeat(depth).trimEnd()) lines.push("> ".repeat(depth).trimEnd());
  };
  // [node, leaving]: an element is visited on the way in and on the way out.
  const stack: [ChildNode, boolean][] = [...document.children].reverse().map((node) => [node, false]);
  while (stack.length > 0) {
    const [node, leaving] = stack.pop() as [ChildNode, boolean];
    if (isText(node)) {
      for (const match of node.data.matchAll(TOKEN)) tokens.push({ token: match[0], node, end: (match.index ?? 0) + match[0].length });
      if (inPre > 0) {
        const parts = node.data.split("\n");
        parts.forEach((part, i) => {
          if (i > 0) flush(true);
          line += part;
        });
      } else {
        // Whether the line ends in a space is tracked, not asked: endsWith would flatten a long line each time.
        const collapsed = node.data.replace(/[\s\u00a0]+/g, " ");
        const piece: string = line === "" || lineEndsInSpace ? collapsed.trimStart() : collapsed;
        if (piece !== "") {
          line += piece;
          lineEndsInSpace = piece.endsWith(" ");
        }
      }
      continue;
    }
    if (!isTag(node)) continue;
    const element: Element = node;
    if (element.name === "br") {
      if (!leaving) flush(true);
      continue;
    }
    const block = BLOCK_TAGS.has(element.name);
    if (leaving) {
      if (block) flush(false);
      if (element.name === "blockquote" && !unquoted.has(element)) depth--;
      if (element.name === "pre") inPre--;
      if (PARAGRAPH_TAGS.has(element.name)) blankLine();
      continue;
    }
    if (block) flush(false);
    if (element.name === "blockquote" && !unquoted.has(element)) depth++;
    if (element.name === "pre") inPre++;
    if (element.name === "li") {
      line += "- ";
      lineEndsInSpace = true;
    }
    if ((element.name === "td" || element.name === "th") && line !== "" && !lineEndsInSpace) {
      line += " ";
      lineEndsInSpace = true;
    }
    stack.push([element, true]);
    if (hasChildren(element)) for (let i = element.children.length - 1; i >= 0; i--) stack.push([element.children[i] as ChildNode, false]);
  }
  flush(false);
  return { text: lines.join("\n"), tokens };
}

/**
 * Makes the tree say what the trimmed text says, when the trimmer cut only a tail (a quote
 * header it knows that no markup marked, as Samsung's "-------- Original message --------"):
 * everything after the last word it kept goes. Returns false when the trimmer cut anything else
 * (a bottom-posted quote, a block in the middle): the HTML then cannot be trusted to match.
 */
export function cutAfterKept(document: Document, rendering: Rendering, trimmed: string): boolean {
  const kept = tokensOf(trimmed);
  if (kept.length > rendering.tokens.length) return false;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== rendering.tokens[i]?.token) return false;
  if (kept.length === rendering.tokens.length) return true;
  if (kept.length === 0) {
    for (const child of [...document.children]) remove(child);
    return true;
  }
  const last = rendering.tokens[kept.length - 1] as PlacedToken;
  // The punctuation closing the last word stays with it ("Amir." keeps its full stop), also when
  // markup ends before it ("<b>today</b>.").
  const tail = closingPunctuation(last.node.data.slice(last.end));
  last.node.data = last.node.data.slice(0, last.end + tail.length);
  let end: Text = last.node;
  if (last.end + tail.length === last.node.data.length) {
    const next = nextText(last.node);
    const more = next ? closingPunctuation(next.data) : "";
    if (next && more) {
      next.data = more;
      end = next;
    }
  }
  removeAfter(end);
  return true;
}

function closingPunctuation(text: string): string {
  return /^[^\s\p{L}\p{N}\p{M}]*/u.exec(text)?.[0] ?? "";
}

/** The next text node in document order that has any text, over inline markup boundaries. */
function nextText(node: ChildNode): Text | undefined {
  let current: ChildNode | null = node;
  while (current) {
    let sibling: ChildNode | null = current.next;
    while (sibling) {
      const first = firstText(sibling);
      if (first) return first;
      // A block element between them is a new line, not the end of the sentence.
      if (isTag(sibling) && !INLINE.has(sibling.name)) return undefined;
      sibling = sibling.next;
    }
    const parent: ChildNode | null = current.parent as ChildNode | null;
    if (!parent || parent.type === "root" || (isTag(parent) && !INLINE.has(parent.name))) return undefined;
    current = parent;
  }
  return undefined;
}

const INLINE = new Set(["a", "b", "strong", "i", "em", "u", "span", "font", "small", "big", "code", "s", "strike", "sub", "sup", "mark"]);

function firstText(node: ChildNode): Text | undefined {
  if (isText(node)) return node.data === "" ? undefined : node;
  if (!isTag(node) || !INLINE.has(node.name)) return undefined;
  for (const child of node.children) {
    const found = firstText(child);
    if (found) return found;
  }
  return undefined;
}

function removeAfter(node: ChildNode): void {
  let current: ChildNode = node;
  for (;;) {
    while (current.next) remove(current.next);
    const parent = current.parent;
    if (!parent || parent.type === "root") return;
    current = parent as Element;
  }
}

const IMAGE_FORMATTER = "postImage";

/** The post's text from its HTML: links keep their address, images their name, nothing is wrapped. */
const plainText = compile({
  wordwrap: false,
  limits: { maxInputLength: 2_000_000, maxDepth: 200, maxChildNodes: 20_000, ellipsis: "…" },
  formatters: {
    [IMAGE_FORMATTER]: (element, _walk, builder) => {
      const alt = String(element.attribs?.["alt"] ?? "").trim();
      if (alt) builder.addInline(`[image: ${alt}]`);
    },
  },
  selectors: [
    { selector: "a", options: { hideLinkHrefIfSameAsText: true, linkBrackets: ["<", ">"], noAnchorUrl: true } },
    { selector: "img", format: IMAGE_FORMATTER },
    ...["h1", "h2", "h3", "h4", "h5", "h6"].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: "table", format: "dataTable", options: { uppercaseHeaderCells: false, maxColumnWidth: 120 } },
    { selector: "ul", options: { itemPrefix: " - " } },
  ],
});

export function htmlAsText(html: string): string {
  return plainText(html)
    .replace(/[ \t\u00a0]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
