import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { bouncingReason } from "../domain/bounces.service.js";
import type { Delivery, Participant, User } from "../domain/records.js";
import { participantWithUser } from "../domain/render.repo.js";
import { findUserById } from "../domain/users.repo.js";
import type { MailDraft } from "./compose.js";
import { loadDkimKey } from "./dkim.js";
import { draftDigestDelivery } from "./render-digest.js";
import { draftAppointmentDelivery } from "./render-appointment.js";
import { draftForwardDelivery } from "./render-forward.js";
import { draftNoticeDelivery } from "./render-notice.js";
import { RenderError } from "./render-error.js";
import { draftPostDelivery, type PostCopies } from "./render-post.js";

export { compose, type Envelope, type RenderedDelivery } from "./compose.js";
export { loadDkimKey } from "./dkim.js";
export { RenderError } from "./render-error.js";
export { PostCopies } from "./render-post.js";

/**
 * What one outbox row will say, decided when it is sent (not when it is queued) so a retry always
 * reflects the recipient's current tokens. Reads only; compose() makes the bytes afterwards,
 * outside the read. Throws RenderError when the row can never be sent; any other error is a
 * passing problem (a busy database) worth retrying. `copies`: what the copies of the same post
 * claimed with this one read alike, read once for them all.
 */
export async function draftDelivery(tx: Tx, config: Config, delivery: Delivery, copies?: PostCopies): Promise<MailDraft> {
  // A post's copy reads its recipient with their participant row, which it needs next: with the
  // claim's other recipients in the conversation, when the copy came in a claim.
  const conversationId = delivery.kind === "post" ? delivery.conversationId : null;
  const joined =
    conversationId === null
      ? undefined
      : await (copies ? copies.recipient(tx, conversationId, delivery.recipientId) : participantWithUser(tx, conversationId, delivery.recipientId));
  // Queued before the address crossed the bounce threshold: it is not sent either.
  const recipient = joined?.user ?? (await findUserById(tx, delivery.recipientId));
  const bouncing = recipient ? bouncingReason(recipient) : undefined;
  if (bouncing) throw new RenderError(bouncing, "skipped");
  const draft = await draftByKind(tx, config, delivery, recipient, copies, joined?.participant);
  // Every copy, posts and forwards alike, is signed when DKIM is configured.
  const dkim = loadDkimKey(config);
  return dkim ? { ...draft, dkim } : draft;
}

async function draftByKind(
  tx: Tx,
  config: Config,
  delivery: Delivery,
  recipient: User | undefined,
  copies: PostCopies | undefined,
  participant: Participant | undefined,
): Promise<MailDraft> {
  switch (delivery.kind) {
    case "post":
      return draftPostDelivery(tx, config, delivery, { recipient, participant, copies });
    case "forward":
      return draftForwardDelivery(tx, config, delivery);
    case "notice":
      return draftNoticeDelivery(tx, config, delivery);
    case "digest":
      return draftDigestDelivery(tx, config, delivery);
    case "appointment":
      return draftAppointmentDelivery(tx, config, delivery);
  }
}
