import { type ChildNode, type Document, isText } from "domhandler";
import { trim } from "../trim/trim.js";
import { removeInvisible } from "./clean.js";
import { fromHere, MAX_TREE_DEPTH, parseHtml, pruneBlankEdges, remove, removeFromHere, serialize, treeDepth, walk } from "./dom.js";
import { cutAfterKept, htmlAsText, renderForTrim } from "./html-text.js";
import { findQuoteBlocks, type QuoteBlock } from "./quote-blocks.js";
import { MAX_SANITIZED_HTML_LENGTH, sanitizeAuthorHtml } from "./sanitize.js";
import { findSignatures } from "./signature.js";

/** HTML read as a tree up to this many characters (parsing is linear; 2 MB takes a few hundred ms). */
export const MAX_SOURCE_HTML_LENGTH = 2_000_000;

export interface HtmlReadOptions {
  /** "opening": the message starts a conversation, so a forwarded message in it stays. */
  readonly mode: "reply" | "opening";
  /** The subject says Fwd:/FW:, so Outlook's header block starts a forward rather than a quote. */
  readonly forwardSubject: boolean;
  readonly inlineImages: ReadonlySet<string>;
}

export interface HtmlReading {
  /** The author's text, from the HTML with quotes and signatures cut. */
  readonly text: string;
  /** The same cut, sanitized; null when the HTML could not be cut to match the text trimmer. */
  readonly html: string | null;
  /** The text of the quoted blocks that were cut: if the text part still holds it, the text part is not to be trusted. */
  readonly quoted: string;
  /** The text of the forwarded messages kept (when the message starts a conversation). */
  readonly forwarded: string;
  /** The text of each signature the HTML marked, to take out of the text part as well. */
  readonly signatures: readonly string[];
}

/**
 * The post an HTML body makes: quote blocks and signatures the client marked are cut from the
 * tree, then whatever the text trimmer still finds at the end (a quote header no markup marked).
 * Undefined when the HTML is too large or too deep to work on: the text part (or a flat
 * conversion) is used then.
 */
export function readHtml(source: string, options: HtmlReadOptions): HtmlReading | undefined {
  if (source.length > MAX_SOURCE_HTML_LENGTH) return undefined;
  const document = parseHtml(source);
  if (treeDepth(document) > MAX_TREE_DEPTH) return undefined;
  removeInvisible(document);

  const signatureNodes = findSignatures(document);
  const signatures = signatureNodes.map((node) => textOfNodes([node]));
  for (const node of signatureNodes) remove(node);

  const blocks = findQuoteBlocks(document, { forwardSubject: options.forwardSubject });
  const inline = inlineContexts(document, blocks);
  const cut = blocks.filter((block) => (options.mode === "reply" || block.kind === "quote") && !inline.has(block));
  const forwarded = blocks
    .filter((block) => !cut.includes(block))
    .map((block) => textOfNodes(block.toEnd ? [...block.nodes.slice(0, -1), ...fromHere(block.nodes[block.nodes.length - 1] as ChildNode)] : block.nodes))
    .join("\n");
  const quotedParts: string[] = [];
  for (const block of cut) {
    const removed = block.toEnd ? [...block.nodes.slice(0, -1), ...removeFromHere(block.nodes[block.nodes.length - 1] as ChildNode)] : block.nodes;
    quotedParts.push(textOfNodes(removed));
    for (const node of block.nodes) remove(node);
  }
  const quoted = quotedParts.join("\n");

  // A forward kept in a blockquote (Apple Mail's) is the message passed on, not a quote to trim.
  const rendering = renderForTrim(document, new Set(blocks.filter((block) => !cut.includes(block)).flatMap((block) => block.nodes)));
  const trimmed = trim(rendering.text, options.mode === "opening" ? { keepForwarded: true } : {});
  if (!cutAfterKept(document, rendering, trimmed)) return { text: trimmed, html: null, quoted, forwarded, signatures };
  pruneBlankEdges(document);
  const kept = serialize(document);
  // A post this long is not worth its formatting: the copies carry its text.
  if (kept.length > MAX_SANITIZED_HTML_LENGTH) return { text: trimmed, html: null, quoted, forwarded, signatures };
  const html = sanitizeAuthorHtml(kept, { inlineImages: options.inlineImages }).trim();
  const text = htmlAsText(html);
  return { text, html: text.trim() || /<img\b/i.test(html) ? html : null, quoted, forwarded, signatures };
}

/** Cheap, line-true text of some nodes (what was cut, a signature): for comparing with the text part. */
function textOfNodes(nodes: readonly ChildNode[]): string {
  return renderForTrim({ children: [...nodes] } as unknown as Document).text;
}

/** The text of HTML too large or too deep to work on as a tree, bounded like the tree. */
export function flatTextOfHtml(source: string): string {
  const document = parseHtml(source.slice(0, MAX_SOURCE_HTML_LENGTH));
  removeInvisible(document);
  return renderForTrim(document).text;
}

/**
 * The blockquotes with the author's own words on both sides: the context of inline answers,
 * meant to stay. Quoted before or after everything the author wrote, a quote is the old message.
 * One walk counts the author's text before each block and after it.
 */
function inlineContexts(document: Document, blocks: readonly QuoteBlock[]): Set<QuoteBlock> {
  const candidates = blocks.filter((block) => block.maybeInline);
  if (candidates.length === 0) return new Set();
  const inBlocks = new Set<ChildNode>(blocks.flatMap((block) => block.nodes));
  const startsOf = new Map<ChildNode, QuoteBlock>(candidates.map((block) => [block.nodes[0] as ChildNode, block]));
  const endsOf = new Map<ChildNode, QuoteBlock>(candidates.map((block) => [block.nodes[block.nodes.length - 1] as ChildNode, block]));
  const textBefore = new Map<QuoteBlock, number>();
  const textUpToEnd = new Map<QuoteBlock, number>();
  let authorText = 0;
  for (const node of walk(document, (element) => inBlocks.has(element))) {
    const starting = startsOf.get(node);
    if (starting) textBefore.set(starting, authorText);
    if (isText(node) && node.data.trim() !== "" && !inBlocks.has(node)) authorText++;
    const ending = endsOf.get(node);
    if (ending) textUpToEnd.set(ending, authorText);
  }
  return new Set(candidates.filter((block) => (textBefore.get(block) ?? 0) > 0 && authorText - (textUpToEnd.get(block) ?? authorText) > 0));
}
