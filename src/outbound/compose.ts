import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type Mail from "nodemailer/lib/mailer/index.js";

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
}

/** A delivery ready for a transport. */
export interface RenderedDelivery {
  readonly envelope: Envelope;
  readonly raw: Buffer;
  readonly messageId: string;
}

export async function compose(draft: MailDraft): Promise<RenderedDelivery> {
  const raw = await new MailComposer({ ...draft.mail, messageId: draft.messageId }).compile().build();
  return { envelope: draft.envelope, raw, messageId: draft.messageId };
}
