import { createHash } from "node:crypto";
import { simpleParser, type AddressObject, type HeaderValue } from "mailparser";
import { refuse } from "../errors/refusal.js";
import { normalizeEmail } from "../domain/addresses.js";
import { checkAddress } from "../domain/address-syntax.js";
import type { AttachmentInput } from "../domain/posts.service.js";

export interface MailAddress {
  readonly address: string;
  readonly name: string;
}

export interface ParsedMessage {
  readonly from: MailAddress;
  readonly to: readonly MailAddress[];
  readonly cc: readonly MailAddress[];
  readonly subject: string;
  readonly messageId: string | undefined;
  /** The Message-ID, or a digest of the raw bytes when there is none: what deduplication keys on. */
  readonly dedupeKey: string;
  /** In-Reply-To first, then References newest first: the order thread matching tries them. */
  readonly threadIds: readonly string[];
  readonly text: string;
  readonly attachments: readonly AttachmentInput[];
  readonly headers: ReadonlyMap<string, HeaderValue>;
  readonly contentType: string;
  /** Parts of a multipart/report (bounce) that say what failed, as text. */
  readonly deliveryStatus: string | undefined;
}

export async function parseMessage(raw: Buffer): Promise<ParsedMessage> {
  let parsed;
  try {
    parsed = await simpleParser(raw, { skipImageLinks: true, skipTextLinks: true });
  } catch (error) {
    refuse("malformed_message", `Postern could not read this message (${(error as Error).message}).`);
  }
  const author = addressesOf(parsed.from)[0];
  if (!author) refuse("malformed_message", "The message has no From address, so Postern cannot tell who wrote it.");
  // The author becomes a user by this address, so it must be one mail can be sent back to.
  const fromCheck = checkAddress(author.address);
  if (!fromCheck.ok) refuse("malformed_message", `The From address cannot be used: ${fromCheck.reason}.`);
  const from = { address: fromCheck.address, name: author.name };
  const contentType = headerText(parsed.headers.get("content-type")) ?? "text/plain";
  const regular = parsed.attachments.filter((a) => !isReportPart(a.contentType));
  return {
    from,
    to: addressesOf(parsed.to),
    cc: addressesOf(parsed.cc),
    subject: parsed.subject ?? "",
    messageId: parsed.messageId,
    dedupeKey: parsed.messageId ?? `<sha256.${createHash("sha256").update(raw).digest("hex")}@postern.invalid>`,
    threadIds: threadIdsOf(parsed.inReplyTo, parsed.references),
    text: parsed.text ?? "",
    attachments: regular.map((a) => ({
      filename: a.filename ?? null,
      contentType: a.contentType,
      contentId: a.contentId ?? null,
      inline: a.contentDisposition === "inline" && !!a.contentId,
      content: a.content,
    })),
    headers: parsed.headers,
    contentType: contentType.toLowerCase(),
    deliveryStatus: deliveryStatusOf(contentType, parsed.attachments, parsed.text),
  };
}

function addressesOf(field: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const objects = field === undefined ? [] : Array.isArray(field) ? field : [field];
  const out: MailAddress[] = [];
  const visit = (entries: AddressObject["value"]): void => {
    for (const entry of entries) {
      if (entry.group) visit(entry.group);
      else if (entry.address) out.push({ address: normalizeEmail(entry.address), name: entry.name ?? "" });
    }
  };
  for (const object of objects) visit(object.value);
  return out;
}

function threadIdsOf(inReplyTo: string | undefined, references: string | string[] | undefined): string[] {
  const refs = references === undefined ? [] : Array.isArray(references) ? references : references.split(/\s+/);
  const ids = [...(inReplyTo ? inReplyTo.split(/\s+/) : []), ...refs.reverse()]
    .map((id) => id.trim())
    .filter((id) => /^<[^<>\s]+>$/.test(id));
  return [...new Set(ids)];
}

function headerText(value: HeaderValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && "value" in value && typeof value.value === "string") return value.value;
  return undefined;
}

function isReportPart(contentType: string): boolean {
  return /^(message\/(delivery-status|global-delivery-status|disposition-notification|feedback-report)|text\/rfc822-headers)$/i.test(contentType);
}

/**
 * mailparser folds a message/delivery-status part into the text of a multipart/report, so the
 * per-recipient fields are read from there unless the part came out as an attachment.
 */
function deliveryStatusOf(contentType: string, attachments: { contentType: string; content: Buffer }[], text: string | undefined): string | undefined {
  if (!/^multipart\/report/i.test(contentType)) return undefined;
  const part = attachments.find((a) => /^message\/(global-)?delivery-status$/i.test(a.contentType));
  return part ? part.content.toString("utf8") : text;
}

export function header(message: ParsedMessage, name: string): string | undefined {
  return headerText(message.headers.get(name.toLowerCase()));
}
