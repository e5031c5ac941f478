import { addressNameHeader } from "./user-text.js";

/**
 * RFC 2369/2919 list headers for one recipient's copy. They let clients offer "unsubscribe" (which
 * leaves the conversation) and "reply to list", and mark the copy as list traffic so
 * auto-responders stay quiet. Values are prepared here because MailComposer would otherwise
 * encode the whole List-Id, angle brackets included, when the subject is not ASCII.
 */
export interface ListHeaderInput {
  readonly conversationId: number;
  readonly subject: string;
  readonly primaryDomain: string;
  readonly replyAddress: string;
  readonly leaveAddress: string;
}

export type PreparedHeader = { readonly prepared: true; readonly foldLines: true; readonly value: string };

export function listHeaders(input: ListHeaderInput): Record<string, PreparedHeader | string> {
  return {
    "List-Id": prepared(`${listPhrase(input.subject)} <conversation-${input.conversationId}.${input.primaryDomain}>`),
    "List-Unsubscribe": prepared(`<mailto:${input.leaveAddress}>`),
    "List-Post": prepared(`<mailto:${input.replyAddress}>`),
    Precedence: "list",
    // Outlook/Exchange: no out-of-office or read receipts back into the conversation.
    "X-Auto-Response-Suppress": "All",
  };
}

function prepared(value: string): PreparedHeader {
  return { prepared: true, foldLines: true, value };
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
