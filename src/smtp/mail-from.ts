import { domainToASCII } from "node:url";
import type { SMTPServerAddress } from "smtp-server";
import { SmtpReply } from "../errors/smtp-reply.js";

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The envelope sender of an internationalised message (RFC 6531, `MAIL FROM:<用户@例子.广告> SMTPUTF8`).
 *
 * A non-ASCII local part has no ASCII form, and Postern can neither store it as a user nor send it
 * a copy (src/domain/address-syntax.ts refuses it too), so it is refused now, at MAIL FROM, with the
 * status RFC 6531 registers for it (553 5.6.7): the sender's server bounces at once instead of
 * sending the whole message first. A non-ASCII domain is the same domain in its ASCII (IDNA) form,
 * so the address is rewritten to that form and accepted.
 */
export function checkMailFrom(address: SMTPServerAddress): SmtpReply | undefined {
  const mailbox = address.address;
  if (!NON_ASCII.test(mailbox)) return undefined;
  const at = mailbox.lastIndexOf("@");
  const local = at < 0 ? mailbox : mailbox.slice(0, at);
  if (NON_ASCII.test(local)) {
    return new SmtpReply(
      553,
      "5.6.7",
      "Postern does not accept internationalised (non-ASCII) addresses before the @; please write from an address in plain ASCII letters.",
      "invalid_input",
    );
  }
  const domain = domainToASCII(mailbox.slice(at + 1));
  if (!domain) {
    return new SmtpReply(553, "5.1.7", "The domain of the sender address is not a valid domain name.", "invalid_input");
  }
  address.address = `${local}@${domain}`;
  return undefined;
}
