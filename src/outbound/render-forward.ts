import type { Config } from "../config/config.js";
import type { Tx } from "../db/store.js";
import { splitAddress, tokenAddress } from "../domain/addresses.js";
import { findMailLogEntry } from "../domain/mail-log.repo.js";
import { mintMessageId } from "../domain/message-ids.js";
import type { Delivery, MailLogEntry } from "../domain/records.js";
import type { MailContent, MailDraft } from "./compose.js";
import { forwardBody } from "./message-body.js";
import { RenderError } from "./render-error.js";
import { displayNameText, headerText, MAX_VIA_LENGTH } from "./user-text.js";

/**
 * Mail to postmaster@ or abuse@ (RFC 5321 §4.5.1, RFC 2142), passed on to an admin with the
 * original attached unchanged so headers can be inspected.
 */
export async function draftForwardDelivery(tx: Tx, config: Config, delivery: Delivery): Promise<MailDraft> {
  const inbound = delivery.inboundId === null ? undefined : await findMailLogEntry(tx, delivery.inboundId);
  if (!inbound) throw new RenderError(`inbound message ${delivery.inboundId ?? "(none)"} no longer exists`);
  const domain = config.primaryDomain;
  const addressedTo = postmasterAddress(inbound, config);
  const subject = inbound.subject?.replace(/\s+/g, " ").trim();
  const body = forwardBody({
    gatewayName: config.gateway.name,
    to: addressedTo,
    from: inbound.fromAddress ?? inbound.mailFrom ?? "an unknown sender",
    receivedAt: new Date(inbound.receivedAt),
    originalIncluded: inbound.raw !== null,
  });
  const mail: MailContent = {
    from: { name: displayNameText(config.gateway.name, MAX_VIA_LENGTH), address: `noreply@${domain}` },
    to: delivery.toAddress,
    subject: headerText(subject ? `Fwd: ${subject}` : `Mail to ${addressedTo}`),
    // System mail (RFC 3834): auto-responders must not answer it.
    headers: { "Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All" },
    text: body.text,
    html: body.html,
    attachments: inbound.raw
      ? [{ filename: "original.eml", contentType: "message/rfc822", disposition: "attachment", content: inbound.raw }]
      : [],
  };
  return {
    envelope: { from: tokenAddress("bounce", delivery.bounceToken, domain), to: [delivery.toAddress] },
    // Derived from the bounce token so every retry carries the same id.
    messageId: mintMessageId(config, "forward", delivery.bounceToken),
    mail,
  };
}

function postmasterAddress(inbound: MailLogEntry, config: Config): string {
  const match = inbound.rcptTo.find((address) => {
    const parts = splitAddress(address.toLowerCase());
    return !!parts && config.domains.includes(parts.domain) && (parts.local === "postmaster" || parts.local === "abuse");
  });
  return match ?? inbound.rcptTo[0] ?? `postmaster@${config.primaryDomain}`;
}
