import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { MailParser, simpleParser, type AddressObject, type HeaderLines, type HeaderValue, type ParsedMail } from "mailparser";
import addressparser from "nodemailer/lib/addressparser/index.js";
import { refuse } from "../errors/refusal.js";
import { normalizeEmail } from "../domain/addresses.js";
import { checkAddress } from "../domain/address-syntax.js";
import type { AttachmentInput } from "../domain/posts.service.js";
import { repairCharsets, utf8ReadAsLatin1 } from "./charset-repair.js";
import { useQuoteAwareFlowedDecoding } from "./trim/flowed-text.js";

// format=flowed quotes keep their "> " depth when decoded (mailparser's own decoder garbles them).
useQuoteAwareFlowedDecoding();

export interface MailAddress {
  readonly address: string;
  readonly name: string;
}

export interface ParsedMessage {
  readonly from: MailAddress;
  readonly to: readonly MailAddress[];
  readonly cc: readonly MailAddress[];
  readonly replyTo: readonly MailAddress[];
  /** X-Original-From: the author a group or forwarder names when it re-sends mail under its own From. */
  readonly originalFrom: MailAddress | undefined;
  /** Addresses of Delivered-To, then X-Original-To: where relays say the message was first addressed. */
  readonly relayedTo: readonly string[];
  readonly subject: string;
  readonly messageId: string | undefined;
  /** The Message-ID, or a digest of the raw bytes when there is none: what deduplication keys on. */
  readonly dedupeKey: string;
  /** In-Reply-To first, then References newest first: the order thread matching tries them. */
  readonly threadIds: readonly string[];
  readonly text: string;
  /** The HTML part as sent (mailparser's), if the message has one; content.ts trims and sanitizes it. */
  readonly html: string | undefined;
  readonly attachments: readonly AttachmentInput[];
  readonly headers: ReadonlyMap<string, HeaderValue>;
  readonly contentType: string;
  /** Parts of a multipart/report (bounce) that say what failed, as text. */
  readonly deliveryStatus: string | undefined;
  /** The header block of the message a multipart/report is about (text/rfc822-headers or message/rfc822). */
  readonly reportedHeaders?: string | undefined;
  /** Messages forwarded as message/rfc822 attachments (the attachment stays too), read for their text. */
  readonly forwarded: readonly ForwardedMessage[];
  /** A calendar answer it carries (iMIP METHOD:REPLY or COUNTER), as iCalendar text. */
  readonly calendar?: string;
}

/** A message attached as message/rfc822: who wrote it, when, about what, and its text. */
export interface ForwardedMessage {
  readonly from: string;
  readonly to: string;
  readonly date: string;
  readonly subject: string;
  readonly text: string;
}

/** Bounds checked on the raw bytes before mailparser reads them (config [limits]). */
export interface ParseLimits {
  readonly maxMimeParts: number;
  readonly maxHeaders: number;
  /** Bytes of one header block: mailparser's time grows with the square of a long folded field. */
  readonly maxHeaderSize: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxMimeParts: 500, maxHeaders: 1000, maxHeaderSize: 65_536 };

export function parseLimitsOf(config: {
  readonly limits: { readonly max_mime_parts: number; readonly max_headers: number; readonly max_header_size: number };
}): ParseLimits {
  return { maxMimeParts: config.limits.max_mime_parts, maxHeaders: config.limits.max_headers, maxHeaderSize: config.limits.max_header_size };
}

export async function parseMessage(raw: Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): Promise<ParsedMessage> {
  // Before mailparser: a message of thousands of parts or headers ties it up until the SMTP timeout,
  // and a 451 then would have the sender retry the same bomb for days.
  const structure = checkStructure(raw, limits);
  if (structure.fromFields > 1) {
    refuse("multiple_authors", `RFC 5322 allows one From field; this message has ${structure.fromFields}, so Postern cannot tell who wrote it.`);
  }
  let parsed;
  try {
    const repaired = repairCharsets(raw);
    parsed = readPlainTextMessage(repaired) ?? (await simpleParser(repaired, PARSER_OPTIONS));
  } catch (error) {
    refuse("malformed_message", `Postern could not read this message (${(error as Error).message}).`);
  }
  const authors = addressesOf(parsed.from);
  if (authors.length > 1) {
    refuse("multiple_authors", `RFC 5322 allows one From address per author; this message names ${authors.length}, so Postern cannot tell who wrote it.`);
  }
  const author = authors[0];
  if (!author) refuse("malformed_message", "The message has no From address, so Postern cannot tell who wrote it.");
  // The author becomes a user by this address, so it must be one mail can be sent back to.
  const fromCheck = checkAddress(author.address);
  if (!fromCheck.ok) refuse("malformed_message", `The From address cannot be used: ${fromCheck.reason}.`);
  const from = { address: fromCheck.address, name: withoutControls(author.name) };
  const contentType = headerText(parsed.headers.get("content-type")) ?? "text/plain";
  const regular = parsed.attachments.filter((a) => !isReportPart(a.contentType));
  return {
    from,
    to: addressesOf(parsed.to),
    cc: addressesOf(parsed.cc),
    replyTo: addressesOf(parsed.replyTo),
    originalFrom: originalFromOf(parsed.headers.get("x-original-from")),
    relayedTo: relayedTo(parsed.headerLines),
    subject: withoutControls(parsed.subject ?? ""),
    messageId: parsed.messageId,
    dedupeKey: parsed.messageId ?? `<sha256.${createHash("sha256").update(raw).digest("hex")}@postern.invalid>`,
    threadIds: threadIdsOf(parsed.inReplyTo, parsed.references),
    text: withoutControls(parsed.text ?? ""),
    html: typeof parsed.html === "string" ? withoutControls(parsed.html) : undefined,
    attachments: regular.map((a) => ({
      filename: a.filename === undefined ? null : withoutControls(utf8ReadAsLatin1(a.filename)),
      // An empty or broken Content-Type comes out as false: store the part as opaque bytes.
      contentType: usableContentType(a.contentType),
      contentId: a.contentId ?? null,
      inline: a.contentDisposition === "inline" && !!a.contentId,
      content: a.content,
    })),
    headers: parsed.headers,
    contentType: contentType.toLowerCase(),
    deliveryStatus: deliveryStatusOf(contentType, parsed.attachments, parsed.text),
    reportedHeaders: reportedHeadersOf(contentType, parsed.attachments),
    forwarded: await forwardedMessagesOf(regular),
    ...calendarAnswerOf(parsed.attachments),
  };
}

// mailparser's textAsHtml is never read (content.ts builds what a post keeps): not built either.
const PARSER_OPTIONS = { skipImageLinks: true, skipTextLinks: true, skipTextToHtml: true } as const;

/** The parts of mailsplit's MimeNode (mailparser's own MIME reader) the plain-text reading looks at. */
interface MimeNode {
  addHeaderChunk(chunk: Buffer): void;
  parseHeaders(): void;
  readonly headers: { readonly lines: HeaderLines; getList(): HeaderLines };
  readonly contentType: string | false;
  readonly multipart: string | false;
  readonly _boundary: Buffer | false;
  readonly encoding: string;
  readonly charset: string | false;
  readonly flowed: boolean;
  readonly disposition: string | false;
}

// mailsplit comes with mailparser: loaded from mailparser's own dependency tree, the copy it uses.
const MimeNodeOfMailparser = createRequire(createRequire(import.meta.url).resolve("mailparser"))("@zone-eu/mailsplit/lib/mime-node") as new (
  parent: null,
  config: typeof PARSER_OPTIONS,
) => MimeNode;

/** mailsplit refuses a header block larger than this (its MAX_HEAD_SIZE): such a message is left to it. */
const MAILSPLIT_MAX_HEAD_SIZE = 1024 * 1024;

/** Charsets mailparser decodes a text part in as UTF-8, once lowercased and stripped to letters and digits. */
const UTF8_CHARSETS = new Set(["ascii", "usascii", "utf8"]);

/** mailparser's header reading (MailParser.processHeaders): it holds no state of its own message, so one serves every message. */
let headerReader: { processHeaders(lines: HeaderLines): Map<string, HeaderValue> } | undefined;

/**
 * What simpleParser makes of a message that is one text/plain part in UTF-8 or ASCII, sent as it
 * is (not base64, quoted-printable or format=flowed), the common shape of a person's reply: its
 * header block read by mailparser's own code (mailsplit's MimeNode, MailParser.processHeaders),
 * its text the body as mailparser decodes such a part (UTF-8, "\n" line ends). mailparser's stream
 * of parts, one turn of the event loop per step, is skipped. Undefined for any other message, and
 * should the header code throw: simpleParser then reads it, and fails, as it always has.
 * test/inbound/parse-plain-text.test.ts holds the two readings side by side: re-run it when
 * upgrading mailparser (3.9.3) or mailsplit (5.4.8).
 */
export function readPlainTextMessage(raw: Buffer): ParsedMail | undefined {
  const bodyStart = bodyStartOf(raw);
  if (bodyStart === undefined || bodyStart > MAILSPLIT_MAX_HEAD_SIZE) return undefined;
  try {
    const node = new MimeNodeOfMailparser(null, PARSER_OPTIONS);
    node.addHeaderChunk(raw.subarray(0, bodyStart));
    node.parseHeaders();
    const plain =
      node.contentType === "text/plain" &&
      !node._boundary &&
      node.encoding !== "base64" &&
      node.encoding !== "quoted-printable" &&
      !node.flowed &&
      (!node.disposition || node.disposition === "inline") &&
      UTF8_CHARSETS.has((node.charset || "utf-8").toLowerCase().replace(/[^a-z0-9]+/g, ""));
    if (!plain) return undefined;
    headerReader ??= new MailParser(PARSER_OPTIONS) as unknown as NonNullable<typeof headerReader>;
    const headers = headerReader.processHeaders(node.headers.getList());
    const text = raw.toString("utf8", bodyStart).replace(/\r?\n/g, "\n");
    // An empty text part gives no text at all, as in mailparser.
    const mail: ParsedMail = { attachments: [], headers, headerLines: node.headers.lines, html: false, ...(text ? { text, textAsHtml: "" } : {}) };
    // The fields simpleParser copies from the header map once the message has been read.
    for (const key of ["subject", "references", "date", "to", "from", "cc", "bcc", "message-id", "in-reply-to", "reply-to"]) {
      if (headers.has(key)) (mail as unknown as Record<string, unknown>)[key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] = headers.get(key);
    }
    return mail;
  } catch {
    return undefined;
  }
}

/** Past the first empty line (LF or CRLF alone), where mailsplit ends the header block; undefined when there is none. */
function bodyStartOf(raw: Buffer): number | undefined {
  let lineStart = 0;
  for (;;) {
    const lf = raw.indexOf(LF, lineStart);
    if (lf < 0) return undefined;
    if (lf === lineStart || (lf === lineStart + 1 && raw[lineStart] === CR)) return lf + 1;
    lineStart = lf + 1;
  }
}

/** Attached messages read for their text: a few, and only of a size a person forwards. */
const MAX_FORWARDED_READ = 3;
const MAX_FORWARDED_BYTES = 2 * 1024 * 1024;

async function forwardedMessagesOf(attachments: readonly { contentType: string; content: Buffer }[]): Promise<ForwardedMessage[]> {
  const out: ForwardedMessage[] = [];
  for (const part of attachments) {
    if (out.length >= MAX_FORWARDED_READ) break;
    if (!/^message\/(rfc822|global)$/i.test(String(part.contentType)) || part.content.length > MAX_FORWARDED_BYTES) continue;
    try {
      const inner = await simpleParser(repairCharsets(part.content), { ...PARSER_OPTIONS, skipHtmlToText: false });
      const text = (field: AddressObject | AddressObject[] | undefined): string =>
        addressesOf(field)
          .map((m) => (m.name ? `${m.name} <${m.address}>` : m.address))
          .join(", ");
      out.push({
        from: text(inner.from),
        to: text(inner.to),
        // The Date field as its author's client wrote it, not mailparser's Date object.
        date: withoutControls(inner.headerLines.find((l) => l.key === "date")?.line.replace(/^date:\s*/i, "").trim() ?? ""),
        subject: withoutControls(inner.subject ?? ""),
        text: withoutControls(inner.text ?? ""),
      });
    } catch {
      // An attached message mailparser cannot read stays an attachment, and that is all.
    }
  }
  return out;
}

function addressesOf(field: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  if (field === undefined) return out;
  for (const object of Array.isArray(field) ? field : [field]) collectAddresses(object.value, out);
  return out;
}

/** The mailboxes of `entries` in order, a group's members in its place. */
function collectAddresses(entries: AddressObject["value"], out: MailAddress[]): void {
  for (const entry of entries) {
    if (entry.group) collectAddresses(entry.group, out);
    else if (entry.address) out.push({ address: normalizeEmail(entry.address), name: withoutControls(entry.name ?? "") });
  }
}

/**
 * NUL and the other C0 controls (tab, line feed and carriage return excepted), and DEL: no person
 * types them, terminals and some stores choke on them, and a NUL is how a mis-decoded body shows.
 */
export function withoutControls(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "");
}

/** mailparser leaves X-Original-From a string: its first mailbox, with the name's encoded words decoded. */
function originalFromOf(value: HeaderValue | undefined): MailAddress | undefined {
  if (typeof value !== "string") return undefined;
  const [first] = addressparser(value.slice(0, 2000), { flatten: true });
  if (!first?.address) return undefined;
  return { address: normalizeEmail(first.address), name: withoutControls(decodeEncodedWords(first.name)) };
}

function decodeEncodedWords(text: string): string {
  return text.replace(/=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=(?:\s+(?==\?))?/g, (word, charset: string, kind: string, data: string) => {
    const bytes =
      kind.toLowerCase() === "b"
        ? Buffer.from(data, "base64")
        : Buffer.from(data.replace(/_/g, " ").replace(/=([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1");
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      return word;
    }
  });
}

/** At most this many relay header fields are read: a header block full of them decides nothing more. */
const MAX_RELAY_FIELDS = 20;

function relayedTo(lines: readonly { key: string; line: string }[]): string[] {
  const addresses: string[] = [];
  for (const key of ["delivered-to", "x-original-to"]) {
    for (const { line } of lines.filter((l) => l.key === key).slice(0, MAX_RELAY_FIELDS)) {
      const value = line.slice(line.indexOf(":") + 1);
      const match = /<?\s*([^<>\s,;"]+@[^<>\s,;"]+?)\s*>?\s*$/.exec(value.trim());
      if (match?.[1]) addresses.push(normalizeEmail(match[1]));
    }
  }
  return addresses;
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

/** A bounce encloses the original's headers (alone or with the whole message); only the header block is read. */
function reportedHeadersOf(contentType: string, attachments: { contentType: string; content: Buffer }[]): string | undefined {
  if (!/^multipart\/report/i.test(contentType)) return undefined;
  const part = attachments.find((a) => /^(text\/rfc822-headers|message\/(rfc822|global))$/i.test(a.contentType));
  return part?.content.subarray(0, 65_536).toString("utf8").split(/\r?\n\r?\n/, 1)[0];
}

/** The first text/calendar (or .ics) part answering an invitation; other calendar mail stays an attachment. */
function calendarAnswerOf(attachments: { contentType: string; content: Buffer }[]): { calendar?: string } {
  for (const part of attachments) {
    if (!/^(text\/calendar|application\/ics)$/i.test(String(part.contentType))) continue;
    const text = part.content.toString("utf8");
    if (/^METHOD:(REPLY|COUNTER)\s*$/im.test(text)) return { calendar: text };
  }
  return {};
}

export function header(message: ParsedMessage, name: string): string | undefined {
  return headerText(message.headers.get(name.toLowerCase()));
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

function usableContentType(value: unknown): string {
  const type = typeof value === "string" ? value.trim() : "";
  return MEDIA_TYPE.test(type) ? type : "application/octet-stream";
}

export interface RawStructure {
  /** Header fields in every header block (the message's, each part's, each attached message's). */
  readonly headers: number;
  /** MIME parts: the message itself, plus one per boundary delimiter, or the Content-Type fields if more. */
  readonly parts: number;
  /** From fields in the message's own header block. */
  readonly fromFields: number;
}

/**
 * One linear pass over the raw bytes, no MIME decoding: counts header fields and MIME parts and
 * refuses past the limits, stopping at the first line over a limit. Lines are read from the
 * Buffer one at a time (a body line only when it could be a delimiter or a Content-Type field):
 * no copy of the whole message is made.
 */
export function checkStructure(raw: Buffer, limits: ParseLimits): RawStructure {
  const boundaries = new Set<string>();
  let headers = 0;
  let delimiters = 0;
  let contentTypes = 0;
  let fromFields = 0;
  let blockBytes = 0;
  let top = true;
  let inHeader = true;
  // The Content-Type field of the header block being read, unfolded, and the type it named.
  let field: string | undefined;
  let blockType = "";
  const endField = (): void => {
    if (field === undefined) return;
    blockType = (/^content-type\s*:\s*([^;\s]*)/i.exec(field)?.[1] ?? "").toLowerCase();
    const match = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(field);
    const boundary = match?.[1] ?? match?.[2];
    if (boundary) boundaries.add(boundary);
    field = undefined;
  };
  const over = (parts: number): void => {
    if (parts > limits.maxMimeParts) {
      refuse("too_many_mime_parts", `The message has more than ${limits.maxMimeParts} MIME parts (limit limits.max_mime_parts).`);
    }
  };
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf(LF, start);
    if (end === -1) end = raw.length;
    const lineStart = start;
    start = end + 1;
    if (!inHeader && !mayMatterInBody(raw[lineStart])) continue;
    const line = raw.toString("latin1", lineStart, raw[end - 1] === CR && end > lineStart ? end - 1 : end);
    const isContentType = /^content-type\s*:/i.test(line);
    if (isContentType) over(++contentTypes);
    if (inHeader) {
      blockBytes += line.length + 2;
      if (blockBytes > limits.maxHeaderSize) {
        refuse("too_many_headers", `A header block of the message is larger than ${limits.maxHeaderSize} bytes (limit limits.max_header_size).`);
      }
      if (line === "") {
        blockBytes = 0;
        endField();
        top = false;
        // An attached message's body starts with its own header block.
        inHeader = blockType === "message/rfc822" || blockType === "message/global";
        blockType = "";
      } else if (line.startsWith(" ") || line.startsWith("\t")) {
        if (field !== undefined) field += line;
      } else {
        endField();
        if (++headers > limits.maxHeaders) {
          refuse("too_many_headers", `The message has more than ${limits.maxHeaders} header fields (limit limits.max_headers).`);
        }
        if (top && /^from\s*:/i.test(line)) fromFields++;
        if (isContentType) field = line;
      }
    } else if (boundaries.size > 0 && line.startsWith("--") && boundaries.has(line.slice(2).trimEnd())) {
      over(1 + ++delimiters);
      inHeader = true;
      blockType = "";
    }
  }
  return { headers, parts: Math.max(1 + delimiters, contentTypes), fromFields };
}

const LF = 0x0a;
const CR = 0x0d;

/** A body line can only be a boundary delimiter ("--") or a Content-Type field ("C" or "c"). */
function mayMatterInBody(first: number | undefined): boolean {
  return first === 0x2d || first === 0x43 || first === 0x63;
}
