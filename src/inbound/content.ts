import { agreeInWords, containsQuoted, withoutSignatures } from "./html/compare-text.js";
import { flatTextOfHtml, readHtml } from "./html/read-html.js";
import { normalizeContentId } from "./html/sanitize.js";
import type { ParsedMessage } from "./parse.js";
import { trim, type TrimOptions } from "./trim/trim.js";

/** What one inbound message posts: the text every copy carries, and the author's formatting if they sent HTML. */
export interface PostContent {
  readonly text: string;
  /** Sanitized HTML trimmed like the text, or null: the copies then build their HTML from the text. */
  readonly html: string | null;
}

export interface InboundContent {
  readonly reply: PostContent;
  readonly opening: PostContent;
  /** What the author wrote, untrimmed, as text: the text part, or the HTML's text when there is none. */
  readonly untrimmed: string;
}

/** Automatic mail posts nothing. */
export const NO_CONTENT: InboundContent = { reply: { text: "", html: null }, opening: { text: "", html: null }, untrimmed: "" };

// Fwd:, FW:, WG: (German), TR: (French), RV:/ENC: (Spanish, Portuguese), I: (Italian), Doorst: (Dutch), VS:/VB: (Nordic).
const FORWARD_SUBJECT = /^\s*(fwd?|wg|tr|rv|enc|i|doorst|vs|vb|vl|pd|ред|転送)\s*[:：]/i;

/**
 * The post a human message makes, both ways: as a reply (quotes and forwards cut) and as the
 * first message of a conversation (a forwarded message is what the author is passing on, so it stays).
 */
export function readContent(message: ParsedMessage): InboundContent {
  // Each reading is made when first asked for: a message is a reply or an opening, rarely both,
  // and reading HTML (a parse, a sanitize, a trim) is the costly part of either.
  let reply: PostContent | undefined;
  let opening: PostContent | undefined;
  let untrimmed: string | undefined;
  return {
    get reply() {
      return (reply ??= readPost(message, "reply"));
    },
    get opening() {
      return (opening ??= readPost(message, "opening"));
    },
    get untrimmed() {
      if (untrimmed === undefined) {
        const textPart = message.contentType.startsWith("text/html") ? "" : message.text;
        untrimmed = textPart.trim() !== "" || message.html === undefined ? textPart : flatText(message.html);
      }
      return untrimmed;
    },
  };
}

function readPost(message: ParsedMessage, mode: "reply" | "opening"): PostContent {
  const trimOptions: TrimOptions = mode === "opening" ? { keepForwarded: true } : {};
  // A text/html message has no text part: mailparser's text is its own flat conversion of the HTML.
  const textPart = message.contentType.startsWith("text/html") ? "" : message.text;
  const fromHtml =
    message.html === undefined
      ? undefined
      : readHtml(message.html, {
          mode,
          forwardSubject: FORWARD_SUBJECT.test(message.subject),
          inlineImages: new Set(message.attachments.flatMap((a) => (a.inline && a.contentId ? [normalizeContentId(a.contentId)] : []))),
        });

  let post: PostContent;
  if (textPart.trim() === "") {
    post = fromHtml ?? { text: message.html === undefined ? "" : trim(flatText(message.html), trimOptions), html: null };
  } else {
    const trimmed = withoutSignatures(trim(textPart, trimOptions), fromHtml?.signatures ?? []);
    if (fromHtml && fromHtml.quoted.trim() !== "" && containsQuoted(trimmed, fromHtml.quoted)) {
      // The HTML marks a quote that the text part carries unmarked (Outlook and Samsung on phones
      // write the text part without a quote header the trimmer knows): the HTML is the better reading.
      post = fromHtml;
    } else if (fromHtml?.html && fromHtml.forwarded.trim() !== "" && !containsQuoted(trimmed, fromHtml.forwarded)) {
      // The HTML marks a forwarded message the text trimmer took for a quote: it is what the author passes on.
      post = fromHtml;
    } else {
      post = { text: trimmed, html: fromHtml?.html && agreeInWords(trimmed, fromHtml.text) ? fromHtml.html : null };
    }
  }
  if (mode === "opening" && post.text.trim() === "") {
    // A pure forward: trimming took everything, and the whole message is what the author passes on.
    return { text: textPart.trim() ? textPart : message.html === undefined ? "" : flatText(message.html), html: null };
  }
  return post;
}

/** HTML too large or deep to work on as a tree still gives its text. */
function flatText(html: string): string {
  return flatTextOfHtml(html);
}
