import type { ParsedMessage } from "./parse.js";
import { trim } from "./trim/trim.js";

/** What one inbound message posts: the text every copy carries, and the author's formatting if they sent HTML. */
export interface PostContent {
  readonly text: string;
  /** Sanitized HTML trimmed like the text, or null: the copies then build their HTML from the text. */
  readonly html: string | null;
}

export interface InboundContent {
  readonly reply: PostContent;
  readonly opening: PostContent;
}

/** Automatic mail posts nothing. */
export const NO_CONTENT: InboundContent = { reply: { text: "", html: null }, opening: { text: "", html: null } };

/**
 * The post a human message makes, both ways: as a reply (quotes and forwards cut) and as the
 * first message of a conversation (a forwarded message is what the author is passing on, so it stays).
 */
export function readContent(message: ParsedMessage): InboundContent {
  const reply = trim(message.text);
  const opening = trim(message.text, { keepForwarded: true });
  return {
    reply: { text: reply, html: null },
    opening: { text: opening.trim() ? opening : message.text, html: null },
  };
}
