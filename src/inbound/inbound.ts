import type { DomainContext } from "../domain/context.js";
import type { AuthenticationResult } from "./authenticate.js";
import type { Classification } from "./classify.js";
import type { InboundContent } from "./content.js";
import type { ParsedMessage } from "./parse.js";

/** One inbound message once parsed, classified and trimmed: everything decided before the transaction. */
export interface PreparedInbound {
  readonly envelopeFrom: string;
  readonly rcptTo: readonly string[];
  readonly message: ParsedMessage;
  readonly classification: Classification;
  /**
   * What the message posts, as a reply, as an opening and untrimmed (content.ts): each reading is
   * made when a handler first asks for it. Automatic mail has NO_CONTENT.
   */
  readonly content: InboundContent;
  /** SPF/DKIM/DMARC (SPEC §3), computed before the transaction; undefined when [auth] mode is "off". */
  readonly auth?: AuthenticationResult | undefined;
}

/** What a handler did with a message it did not refuse. */
export interface AppliedOutcome {
  readonly outcome: "accepted" | "ignored" | "bounce" | "duplicate";
  readonly reason: string;
  readonly conversationId?: number;
  readonly postId?: number;
}

/** What every handler gets: the transaction, the message, and its mail-log entry. */
export interface InboundContext extends DomainContext {
  readonly inbound: PreparedInbound;
  readonly inboundId: number;
}
