import { addressNameHeader } from "./user-text.js";

/**
 * RFC 2369/2919 list headers for one recipient's copy. They let clients offer "unsubscribe" (which
 * leaves the conversation) and "reply to list", and mark the copy as list traffic so
 * auto-responders stay quiet. Values are written out here, the List-Id's phrase encoded on its
 * own: encoding the whole value would hide its angle brackets, and the id with them.
 */
export interface ListHeaderInput {
  readonly conversationId: number;
  readonly subject: string;
  readonly primaryDomain: string;
  readonly replyAddress: string;
  readonly leaveAddress: string;
}

export function listHeaders(input: ListHeaderInput): Record<string, string> {
  return {
    "List-Id": `${listPhrase(input.subject)} <conversation-${input.conversationId}.${input.primaryDomain}>`,
    "List-Unsubscribe": `<mailto:${input.leaveAddress}>`,
    "List-Post": `<mailto:${input.replyAddress}>`,
    Precedence: "list",
    // Outlook/Exchange: no out-of-office or read receipts back into the conversation.
    "X-Auto-Response-Suppress": "All",
  };
}

/** The readable part of List-Id (a phrase): the subject, short, quoted or RFC 2047-encoded so it folds. */
export function listPhrase(subject: string): string {
  const flat = subject.replace(/\s+/g, " ").trim() || "Conversation";
  const chars = [...flat];
  const short = chars.length > 60 ? `${chars.slice(0, 57).join("")}...` : flat;
  const phrase = addressNameHeader(short);
  // Always quoted when not encoded: RFC 2919 readers expect a quoted phrase.
  return phrase.startsWith('"') || phrase.startsWith("=?") ? phrase : `"${phrase}"`;
}
