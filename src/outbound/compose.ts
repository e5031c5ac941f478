import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type Mail from "nodemailer/lib/mailer/index.js";
import { dkimSign, type DkimKey } from "./dkim.js";

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

export async function compose(draft: MailDraft): Promise<RenderedDelivery> {
  const built = await new MailComposer({ ...draft.mail, messageId: draft.messageId }).compile().build();
  const raw = draft.dkim ? await dkimSign(built, draft.dkim) : built;
  return { envelope: draft.envelope, raw, messageId: draft.messageId };
}
