import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type Mail from "nodemailer/lib/mailer/index.js";
import { dkimSign, type DkimKey } from "./dkim.js";
import { RenderError } from "./render-error.js";
import { addressNameHeader } from "./user-text.js";

/** SMTP envelope of one delivery: VERP sender, exactly one recipient. */
export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
}

/** What the renderers decide; compose() turns it into bytes. */
export interface MailDraft {
  readonly envelope: Envelope;
  /** With angle brackets, as stored on the post. */
  readonly messageId: string;
  readonly mail: Mail.Options;
  /** Sign the composed bytes with this key (SPEC §4: DKIM, optional). */
  readonly dkim?: DkimKey;
}

/** A delivery ready for a transport. */
export interface RenderedDelivery {
  readonly envelope: Envelope;
  readonly raw: Buffer;
  readonly messageId: string;
}

/** RFC 5322 §2.1.1: no line of a message, headers included, over 998 octets without its CRLF. */
export const MAX_LINE_OCTETS = 998;

/**
 * Text parts past this many characters go as base64: nodemailer's quoted-printable encoder takes
 * about 14 s and 1.3 GB to write a 25 MB post (text and HTML), base64 under a second and a third
 * of that. Ordinary posts stay quoted-printable, which stays readable in the raw message.
 */
const LARGE_TEXT = 512 * 1024;

export async function compose(draft: MailDraft): Promise<RenderedDelivery> {
  const large = textLength(draft.mail.text) + textLength(draft.mail.html) > LARGE_TEXT;
  const root = new MailComposer({ ...draft.mail, messageId: draft.messageId, ...(large ? { textEncoding: "base64" as const } : {}) }).compile();
  // MailComposer writes a printable-ASCII display name as one quoted string, which cannot fold
  // however long, and may split a character between encoded words: names are encoded here instead.
  (root as unknown as { _encodeAddressName(name: string): string })._encodeAddressName = addressNameHeader;
  const built = await root.build();
  const raw = draft.dkim ? await dkimSign(built, draft.dkim) : built;
  assertLinesBounded(raw);
  return { envelope: draft.envelope, raw, messageId: draft.messageId };
}

/**
 * The last word on line length: the renderers build every header so it folds, and a line that
 * still comes out too long would be re-folded by a relay, changing it (and breaking DKIM). Refusing
 * to send it marks the delivery failed with the reason instead.
 */
function assertLinesBounded(raw: Buffer): void {
  let start = 0;
  let lineNumber = 1;
  while (start < raw.length) {
    // MailComposer leaves a 7bit text part's bare LFs as they are (the SMTP client writes them as CRLF): each is a line end too.
    const end = raw.indexOf("\n", start);
    const stop = end === -1 ? raw.length : end > start && raw[end - 1] === 0x0d ? end - 1 : end;
    if (stop - start > MAX_LINE_OCTETS) {
      const opening = raw.subarray(start, start + 40).toString("latin1");
      throw new RenderError(`line ${lineNumber} of the message ("${opening}…") is ${stop - start} octets, over the ${MAX_LINE_OCTETS} RFC 5322 allows`);
    }
    start = end === -1 ? raw.length : end + 1;
    lineNumber++;
  }
}

function textLength(content: unknown): number {
  return typeof content === "string" ? content.length : Buffer.isBuffer(content) ? content.length : 0;
}
