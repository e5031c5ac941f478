import { type ChildNode, type Document, type Element, isComment, isTag } from "domhandler";
import { remove, walk } from "./dom.js";

/** What a mail client never shows: gone before anything reads the text, so hidden text is never posted. */
const INVISIBLE_TAGS = new Set([
  "head", "title", "style", "script", "noscript", "template", "meta", "link", "base",
  "xml", "iframe", "frame", "frameset", "object", "embed", "applet", "audio", "video", "canvas", "svg", "math",
  "form", "input", "select", "textarea", "button", "option", "datalist",
]);

// Preheaders of marketing mail and Outlook's hidden parts: invisible in the author's client, so not
// part of what they wrote. The sanitizer drops styles, which would otherwise reveal them.
const HIDDEN_STYLE = /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all)\b/i;

function isInvisible(element: Element): boolean {
  return INVISIBLE_TAGS.has(element.name) || "hidden" in element.attribs || HIDDEN_STYLE.test(element.attribs["style"] ?? "");
}

export function removeInvisible(document: Document): void {
  const doomed = new Set<ChildNode>();
  for (const node of walk(document, (element) => doomed.has(element))) {
    if (isTag(node) ? isInvisible(node) : isComment(node) || node.type === "directive" || node.type === "cdata") doomed.add(node);
  }
  for (const node of doomed) remove(node);
  // Word's paragraphs (Outlook desktop) have no margins: each is a line, not a paragraph.
  for (const node of walk(document)) if (isTag(node) && node.name === "p" && /\bMsoNormal\b/.test(node.attribs["class"] ?? "")) node.name = "div";
}

