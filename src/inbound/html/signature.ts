import { type Document, type Element, isTag } from "domhandler";
import { hasClass, leadingText, walk } from "./dom.js";

// The mobile clients' one-line signatures, when no id marks them (Apple Mail on iOS puts it in a bare div).
const DEVICE_SIGNATURE =
  /^(Sent from my .{1,40}|Sent from (Yahoo Mail|Mail) for .{1,30}|Get Outlook for (iOS|Android)|Von meinem .{1,40} gesendet|Envoyé de mon .{1,40}|Enviado desde mi .{1,40}|Inviato da .{1,40}|Verzonden met .{1,40}|iPhoneから送信|从我的 ?iPhone ?发送)$/i;

const SIGNATURE_IDS = new Set(["signature", "ms-outlook-mobile-signature", "applemailsignature", "composer_signature"]);

/**
 * The signature blocks the author's client marked: Gmail's (which its text part carries without
 * a "-- " line, so only the HTML tells it apart), Thunderbird's, Outlook's, Apple's and Samsung's.
 */
export function findSignatures(document: Document): Element[] {
  const found = new Set<Element>();
  for (const node of walk(document, (element) => found.has(element))) {
    if (isTag(node) && isSignature(node)) found.add(node);
  }
  return [...found];
}

function isSignature(element: Element): boolean {
  if (hasClass(element, "gmail_signature") || hasClass(element, "gmail_signature_prefix") || hasClass(element, "moz-signature")) return true;
  if ((element.attribs["data-smartmail"] ?? "") === "gmail_signature") return true;
  if (SIGNATURE_IDS.has((element.attribs["id"] ?? "").toLowerCase())) return true;
  if (element.name !== "div" && element.name !== "p" && element.name !== "span") return false;
  const text = leadingText(element, 200).replace(/\s+/g, " ").trim();
  return text.length <= 80 && DEVICE_SIGNATURE.test(text);
}
