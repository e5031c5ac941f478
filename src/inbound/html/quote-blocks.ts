import { type ChildNode, type Document, type Element, isTag, isText } from "domhandler";
import { hasClass, leadingText, walk } from "./dom.js";

/**
 * The quoted earlier message, as mail clients mark it in the HTML they send. Markup, unlike the
 * attribution line of the text part, does not change with the client's language.
 */
export interface QuoteBlock {
  /** A forwarded message (kept when the message starts a conversation) or a quoted reply. */
  readonly kind: "quote" | "forward";
  /** The elements making up the block, in document order (an attribution line, then the quote). */
  readonly nodes: readonly ChildNode[];
  /** Outlook marks only where the quote starts: everything after the first node is quoted too. */
  readonly toEnd: boolean;
  /** A blockquote can be an inline answer's context: cut it only when the author wrote on one side of it. */
  readonly maybeInline: boolean;
}

// Gmail's and Yahoo's forward markers are a line between dashes in every language
// ("---------- Forwarded message ---------", "---------- Weitergeleitete Nachricht ---------").
const DASHED_MARKER = /^\s*-{3,}[^-\n]{3,60}-{3,}/;
// Apple Mail's marker, in the languages its own fixtures and users show.
const APPLE_FORWARD = /^\s*(Begin forwarded message|Anfang der weitergeleiteten Nachricht|Début du message réexpédié|Inicio del mensaje reenviado|Inizio messaggio inoltrato|Begin doorgestuurd bericht|Início da mensagem reencaminhada|Vidarebefordrat mejl|転送されたメッセージ|转发的邮件|轉寄的郵件)\s*[:：]/i;
const ATTRIBUTION_END = /[:：]\s*$/;
const MAX_ATTRIBUTION_LENGTH = 300;

const OUTLOOK_MARKER_IDS = new Set(["divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"]);

export function findQuoteBlocks(document: Document, options: { readonly forwardSubject: boolean }): QuoteBlock[] {
  const blocks: QuoteBlock[] = [];
  const taken = new Set<Element>();
  let outlookMarker: Element | undefined;
  for (const node of walk(document, (element) => taken.has(element))) {
    if (!isTag(node)) continue;
    const block = blockAt(node);
    if (block === "outlook") outlookMarker ??= node;
    else if (block) {
      taken.add(node);
      blocks.push(block);
    }
  }
  if (outlookMarker) {
    const rule = previousElement(outlookMarker);
    blocks.push({
      kind: options.forwardSubject ? "forward" : "quote",
      // Outlook on the web draws a rule above the header block.
      nodes: rule?.name === "hr" ? [rule, outlookMarker] : [outlookMarker],
      toEnd: true,
      maybeInline: false,
    });
  }
  return blocks;
}

function blockAt(element: Element): QuoteBlock | "outlook" | undefined {
  const id = (element.attribs["id"] ?? "").toLowerCase();
  if (OUTLOOK_MARKER_IDS.has(id) || isOutlookHeaderBlock(element)) return "outlook";
  if (element.name !== "blockquote" && (hasClass(element, "gmail_quote_container") || hasClass(element, "gmail_quote"))) {
    const attribution = findFirst(element, (e) => hasClass(e, "gmail_attr"));
    const marker = attribution ? leadingText(attribution, 200) : leadingText(element, 200);
    if (DASHED_MARKER.test(marker)) return { kind: "forward", nodes: [element], toEnd: false, maybeInline: false };
    // Answers written inside the container: its blockquotes are then looked at one by one.
    if (hasOwnText(element)) return undefined;
    return { kind: "quote", nodes: [element], toEnd: false, maybeInline: false };
  }
  // Yahoo prefixes its classes and ids per message ("ydp5a6b7c8dyahoo_quoted").
  if (/yahoo_quoted(\s|$)/.test(element.attribs["class"] ?? "") || id.includes("yahoo_quoted_")) {
    return { kind: DASHED_MARKER.test(leadingText(element, 200)) ? "forward" : "quote", nodes: [element], toEnd: false, maybeInline: false };
  }
  if (hasClass(element, "moz-forward-container")) return { kind: "forward", nodes: [element], toEnd: false, maybeInline: false };
  if (element.name === "blockquote" && ((element.attribs["type"] ?? "").toLowerCase() === "cite" || hasClass(element, "gmail_quote"))) {
    const kind = APPLE_FORWARD.test(leadingText(element, 200)) ? "forward" : "quote";
    const attribution = attributionBefore(element);
    return { kind, nodes: attribution ? [attribution, element] : [element], toEnd: false, maybeInline: kind === "quote" };
  }
  return undefined;
}

/**
 * Outlook desktop's header block: a div with a rule on top holding "From:", "Sent:", "To:",
 * "Subject:" in bold, in whatever language. Two bold labels ending in a colon tell it apart from
 * a box the author drew.
 */
function isOutlookHeaderBlock(element: Element): boolean {
  if (element.name !== "div" || !/border-top\s*:\s*solid/i.test(element.attribs["style"] ?? "")) return false;
  let labels = 0;
  let seen = 0;
  for (const node of walk(element)) {
    if (++seen > 200) return false;
    if (isTag(node) && node.name === "b" && isLabel(leadingText(node, 40))) labels++;
    if (labels >= 2) return true;
  }
  return false;
}

function isLabel(text: string): boolean {
  const label = text.trim();
  return label.length <= 30 && ATTRIBUTION_END.test(label);
}

/** Thunderbird's "On …, … wrote:" (moz-cite-prefix) or Apple Mail's, just before the quote. */
function attributionBefore(quote: Element): Element | undefined {
  const previous = previousElement(quote);
  if (!previous || previous.name === "blockquote") return undefined;
  if (hasClass(previous, "moz-cite-prefix")) return previous;
  const text = leadingText(previous, MAX_ATTRIBUTION_LENGTH + 1).trim();
  return text.length > 0 && text.length <= MAX_ATTRIBUTION_LENGTH && ATTRIBUTION_END.test(text) ? previous : undefined;
}

/** The previous element sibling, over blank text and line breaks. */
function previousElement(element: Element): Element | undefined {
  for (let node = element.prev; node; node = node.prev) {
    if (isText(node) && node.data.trim() === "") continue;
    if (isTag(node) && node.name === "br") continue;
    return isTag(node) ? node : undefined;
  }
  return undefined;
}

function findFirst(root: Element, test: (element: Element) => boolean): Element | undefined {
  for (const node of walk(root)) if (isTag(node) && test(node)) return node;
  return undefined;
}

/** Gmail puts inline answers inside its quote container, between the blockquotes. */
function hasOwnText(container: Element): boolean {
  for (const node of walk(container, (e) => e.name === "blockquote" || hasClass(e, "gmail_attr"))) {
    if (isText(node) && node.data.trim() !== "") return true;
  }
  return false;
}
