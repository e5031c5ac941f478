import { randomBytes } from "node:crypto";
import { dkimSignature, type DkimKey } from "./dkim.js";
import { wrappedBase64, base64Length, writeBase64 } from "./mime/base64.js";
import { addressList, filenameParameters, headerField, mailDate, unstructuredValue, type Addresses } from "./mime/header.js";
import { sharedPart } from "./mime/shared-parts.js";
import { RenderError } from "./render-error.js";

export type { Addresses, Mailbox } from "./mime/header.js";

/** SMTP envelope of one delivery: VERP sender, exactly one recipient. */
export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
}

/** A file the copy carries. */
export interface DraftAttachment {
  /** As shown to the reader; encoded here as needed (see filenameParameters). */
  readonly filename?: string;
  /** `type/subtype`, already checked (user-text.ts attachmentContentType). */
  readonly contentType: string;
  readonly content: Buffer;
  readonly disposition: "inline" | "attachment";
  /** Content-ID without brackets: beside an HTML part, the file goes in multipart/related with it. */
  readonly cid?: string;
  /**
   * Names this content for the process's life (a sent post's attachment never changes): the copies
   * carrying the same key share one encoding of it instead of each encoding it again.
   */
  readonly shareKey?: string;
}

/** An iMIP invitation (RFC 6047): a text/calendar alternative, and the same as an .ics file. */
export interface DraftCalendar {
  readonly method: string;
  readonly filename: string;
  readonly content: string;
}

/**
 * The message as the renderers decide it. Header values are text as they go out: user text comes
 * through user-text.ts (flattened, encoded words where needed); compose() folds every header and
 * encodes whatever value is still not printable ASCII.
 */
export interface MailContent {
  readonly from: Addresses;
  readonly to: Addresses;
  readonly cc?: Addresses;
  readonly replyTo?: Addresses;
  readonly subject: string;
  /** Now when absent. */
  readonly date?: Date;
  readonly inReplyTo?: string;
  readonly references?: readonly string[];
  /** Further header fields, in order (Thread-Index, List-Id, Auto-Submitted…). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly text?: string;
  readonly html?: string;
  readonly attachments?: readonly DraftAttachment[];
  readonly calendar?: DraftCalendar;
}

/** What the renderers decide; compose() turns it into bytes. */
export interface MailDraft {
  readonly envelope: Envelope;
  /** With angle brackets, as stored on the post. */
  readonly messageId: string;
  readonly mail: MailContent;
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
 * Text parts past this many characters go as base64: quoted-printable takes far longer to write
 * and reads no better at that size. Ordinary posts stay quoted-printable, which stays readable in
 * the raw message.
 */
const LARGE_TEXT = 512 * 1024;

/**
 * The message's bytes: its headers, then its MIME tree (RFC 2045/2046), written directly. Text
 * parts come from the per-block cache (textPart), attachments from the per-post cache of encoded
 * parts (sharedPart): what a copy makes of its own is its header block, its footer's encoding and
 * the boundaries, and everything is copied once into the final buffer.
 */
export async function compose(draft: MailDraft): Promise<RenderedDelivery> {
  const { mail } = draft;
  const head = topHeaders(mail, draft.messageId);
  const tree: Buffer[] = [];
  writeNode(mimeTree(mail), tree, new Boundaries());
  const chunks = [Buffer.from(head, "latin1"), ...tree];
  assertLinesBounded(chunks);
  if (!draft.dkim) return { envelope: draft.envelope, raw: joined(chunks), messageId: draft.messageId };
  // The root's own header lines (its Content-Type) open its first chunk, up to the blank line.
  const root = tree[0] ?? Buffer.alloc(0);
  const blank = root.indexOf("\r\n\r\n");
  if (blank < 0) throw new RenderError("the message's MIME tree has no header block");
  const body = [root.subarray(blank + 4), ...tree.slice(1)];
  const signature = Buffer.from(dkimSignature(head + root.toString("latin1", 0, blank + 2), body, draft.dkim, (chunk) => canonicalParts.has(chunk)), "latin1");
  assertLinesBounded([signature]);
  return { envelope: draft.envelope, raw: joined([signature, ...chunks]), messageId: draft.messageId };
}

function topHeaders(mail: MailContent, messageId: string): string {
  let head = headerField("From", addressList(mail.from));
  head += headerField("To", addressList(mail.to));
  if (mail.cc) head += headerField("Cc", addressList(mail.cc));
  if (mail.replyTo) head += headerField("Reply-To", addressList(mail.replyTo));
  head += unstructuredField("Subject", mail.subject);
  head += dateField(mail.date ?? new Date());
  const ownId = wireMessageId(messageId);
  if (!ownId) throw new RenderError(`"${messageId.slice(0, 100)}" is not a Message-ID a header can carry`);
  head += headerField("Message-ID", ownId);
  // Someone else's id that a header cannot carry is left out rather than costing the copy.
  const parent = mail.inReplyTo && wireMessageId(mail.inReplyTo);
  if (parent) head += headerField("In-Reply-To", parent);
  if (mail.references) head += referencesField(mail.references);
  for (const name in mail.headers) {
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new RenderError(`"${name.slice(0, 60)}" is not a header field name`);
    head += unstructuredField(name, mail.headers[name] as string);
  }
  return `${head}MIME-Version: 1.0\r\n`;
}

/**
 * The copies of a post come one after another with the same Subject, Date, Thread-Index, List-Id…:
 * each field remembers its last value and line, so a copy writes again only what is its own.
 */
const lastFields = new Map<string, { value: string; line: string }>();
const MAX_LAST_FIELDS = 64;

function unstructuredField(name: string, value: string): string {
  const last = lastFields.get(name);
  if (last?.value === value) return last.line;
  const line = headerField(name, unstructuredValue(value));
  if (last) {
    last.value = value;
    last.line = line;
  } else if (lastFields.size < MAX_LAST_FIELDS) lastFields.set(name, { value, line });
  return line;
}

let lastDate = { time: Number.NaN, line: "" };

function dateField(date: Date): string {
  const time = date.getTime();
  if (time !== lastDate.time) lastDate = { time, line: headerField("Date", mailDate(date)) };
  return lastDate.line;
}

/** The References field of a list of ids, by the list: the copies of a post share their threading's. */
const referencesFields = new WeakMap<readonly string[], string>();

function referencesField(ids: readonly string[]): string {
  let line = referencesFields.get(ids);
  if (line === undefined) {
    // Someone else's id that a header cannot carry is left out rather than costing the copy.
    const wire = ids.map(wireMessageId).filter((id): id is string => id !== undefined);
    line = wire.length ? headerField("References", wire.join(" ")) : "";
    referencesFields.set(ids, line);
  }
  return line;
}

/** An id (Message-ID, Content-ID) as `<…>` of printable ASCII; undefined when it is not one. */
function wireMessageId(id: string): string | undefined {
  const bare = id.trim().replace(/^<|>$/g, "");
  return /^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$/.test(bare) ? `<${bare}>` : undefined;
}

/** `type/subtype`, else application/octet-stream: a type that would break its header never reaches it. */
function wireContentType(type: string): string {
  return /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/i.test(type) ? type : "application/octet-stream";
}

/** A MIME entity: a leaf (its header lines, a blank line and its body) or a multipart of others. */
type MimeNode = { readonly leaf: readonly Buffer[] } | { readonly multipart: string; readonly children: readonly MimeNode[] };

/**
 * The structure nodemailer's MailComposer gave the same mail, which clients show well: text, HTML (in
 * multipart/related with the images it shows by cid) and calendar as alternatives, the other
 * files and the calendar's .ics beside them in multipart/mixed.
 */
function mimeTree(mail: MailContent): MimeNode {
  const text = mail.text || undefined;
  const html = mail.html || undefined;
  const large = (text?.length ?? 0) + (html?.length ?? 0) > LARGE_TEXT;
  const attachments = mail.attachments ?? [];
  const shownByCid = (file: DraftAttachment) => !!file.cid && wireMessageId(file.cid) !== undefined;
  const related = html ? attachments.filter(shownByCid) : [];
  const attached = html ? attachments.filter((file) => !shownByCid(file)) : attachments;

  const alternatives: MimeNode[] = [];
  if (text) alternatives.push({ leaf: textPartChunks("text/plain; charset=utf-8", text, large, true) });
  if (html) {
    const htmlNode = { leaf: textPartChunks("text/html; charset=utf-8", html, large, true) };
    alternatives.push(related.length ? { multipart: 'multipart/related; type="text/html"', children: [htmlNode, ...related.map(attachmentNode)] } : htmlNode);
  }
  if (mail.calendar) {
    alternatives.push({ leaf: textPartChunks(`text/calendar; charset=utf-8; method=${mail.calendar.method}`, mail.calendar.content, false, false) });
  }
  const body: MimeNode[] = alternatives.length > 1 ? [{ multipart: "multipart/alternative", children: alternatives }] : alternatives;
  const files = attached.map(attachmentNode);
  if (mail.calendar) {
    files.push(attachmentNode({ filename: mail.calendar.filename, contentType: "application/ics", content: Buffer.from(mail.calendar.content, "utf8"), disposition: "attachment" }));
  }
  if (files.length === 0 && body.length === 1) return body[0] as MimeNode;
  if (files.length === 0) return { leaf: textPartChunks("text/plain; charset=utf-8", "", false, false) };
  return { multipart: "multipart/mixed", children: [...body, ...files] };
}

/** Parts whose every line is known to be short (base64 under headers made here): not scanned again. */
const boundedParts = new WeakSet<Buffer>();
/** Parts that are their own relaxed canonical form (RFC 6376 §3.4.4): DKIM hashes them as they are. */
const canonicalParts = new WeakSet<Buffer>();

function attachmentNode(file: DraftAttachment): MimeNode {
  if (file.contentType === "message/rfc822") return { leaf: attachedMessage(file) };
  const params = file.filename ? filenameParameters(file.filename) : undefined;
  const cid = file.cid && wireMessageId(file.cid);
  const head =
    headerField("Content-Type", `${wireContentType(file.contentType)}${params ? `; ${params.name}` : ""}`) +
    (cid ? headerField("Content-ID", cid) : "") +
    headerField("Content-Disposition", `${file.disposition}${params ? `; ${params.filename}` : ""}`) +
    "Content-Transfer-Encoding: base64\r\n\r\n";
  const make = (): Buffer => {
    const part = Buffer.allocUnsafe(head.length + base64Length(file.content.length));
    const at = part.write(head, 0, "latin1");
    writeBase64(file.content, part, at);
    boundedParts.add(part);
    if (!/[ \t]{2}|[ \t]\r\n|\t/.test(head)) canonicalParts.add(part);
    return part;
  };
  return { leaf: [file.shareKey ? sharedPart(`${file.shareKey}\0${file.content.length}\0${head}`, make) : make()] };
}

/**
 * A message attached whole (RFC 2046 §5.2.1: 7bit or 8bit, never re-encoded), its line ends made
 * CRLF: a bare LF would be rewritten on the way, after the signature was made.
 */
function attachedMessage(file: DraftAttachment): Buffer[] {
  const params = file.filename ? filenameParameters(file.filename) : undefined;
  let content = file.content;
  for (let lf = content.indexOf(0x0a); lf !== -1; lf = content.indexOf(0x0a, lf + 1)) {
    if (lf === 0 || content[lf - 1] !== 0x0d) {
      content = Buffer.from(content.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
      break;
    }
  }
  const eightBit = content.some((byte) => byte >= 0x80);
  const head =
    headerField("Content-Type", `message/rfc822${params ? `; ${params.name}` : ""}`) +
    `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}\r\n` +
    headerField("Content-Disposition", `${file.disposition}${params ? `; ${params.filename}` : ""}`) +
    "\r\n";
  return [Buffer.from(head, "latin1"), content];
}

/**
 * Boundaries of one copy: random, so no text of the post can hold one, and opening with "=_",
 * which neither quoted-printable nor base64 ever writes.
 */
class Boundaries {
  private readonly prefix = `=_postern_${randomChunk(9).toString("base64url")}_`;
  private count = 0;

  next(): string {
    return `${this.prefix}${++this.count}`;
  }
}

/** Random bytes drawn a page at a time: one call into the CSPRNG for hundreds of copies, not one each. */
let randomPool = Buffer.alloc(0);
let randomAt = 0;

function randomChunk(length: number): Buffer {
  if (randomAt + length > randomPool.length) {
    randomPool = randomBytes(4096);
    randomAt = 0;
  }
  randomAt += length;
  return randomPool.subarray(randomAt - length, randomAt);
}

/**
 * The node's bytes, appended to `out`. A delimiter's CRLF belongs to it (RFC 2046 §5.1.1), so
 * every chunk starts a line: lines can be checked chunk by chunk.
 */
function writeNode(node: MimeNode, out: Buffer[], boundaries: Boundaries): void {
  if ("leaf" in node) {
    out.push(...node.leaf);
    return;
  }
  const boundary = boundaries.next();
  out.push(Buffer.from(`${headerField("Content-Type", `${node.multipart}; boundary="${boundary}"`)}\r\n--${boundary}\r\n`, "latin1"));
  node.children.forEach((child, i) => {
    if (i > 0) out.push(Buffer.from(`\r\n--${boundary}\r\n`, "latin1"));
    writeNode(child, out, boundaries);
  });
  out.push(Buffer.from(`\r\n--${boundary}--\r\n`, "latin1"));
}

function joined(chunks: readonly Buffer[]): Buffer {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const chunk of chunks) at += chunk.copy(out, at);
  return out;
}

/**
 * The last word on line length: the renderers build every header so it folds, and a line that
 * still comes out too long would be re-folded by a relay, changing it (and breaking DKIM). Refusing
 * to send it marks the delivery failed with the reason instead. Chunks each start a line (see
 * writeNode); encoded attachments made here are short-lined by construction and skipped.
 */
function assertLinesBounded(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) {
    if (boundedParts.has(chunk)) continue;
    let start = 0;
    while (start < chunk.length) {
      // An attached message may keep a bare CR; a bare LF ends a line as well.
      const end = chunk.indexOf(0x0a, start);
      const stop = end === -1 ? chunk.length : end > start && chunk[end - 1] === 0x0d ? end - 1 : end;
      if (stop - start > MAX_LINE_OCTETS) {
        const opening = chunk.subarray(start, start + 40).toString("latin1");
        throw new RenderError(`a line of the message ("${opening}…") is ${stop - start} octets, over the ${MAX_LINE_OCTETS} RFC 5322 allows`);
      }
      start = end === -1 ? chunk.length : end + 1;
    }
  }
}

/**
 * A text part, headers and encoded body. The copies of one post differ only in their footer, at
 * the end: the text is encoded in blocks of whole lines, and each block's encoding is remembered
 * by its content, so the post's own text is encoded once for all its copies and never served for
 * any other text. Quoted-printable encodes line by line (RFC 2045 §6.7), so blocks encoded apart
 * join into the encoding of the whole.
 */
export function textPart(type: "text/plain" | "text/html", content: string, forceBase64: boolean): Buffer {
  return Buffer.concat(textPartChunks(`${type}; charset=utf-8`, content, forceBase64, true));
}

/**
 * textPart as chunks, copied once into the message. `remember` false for text no other copy
 * carries (a recipient's own invitation), which would only push the post's blocks out.
 */
function textPartChunks(contentType: string, content: string, forceBase64: boolean, remember: boolean): Buffer[] {
  const blocks = forceBase64 ? [] : textBlocks(content).map((block) => encodedBlock(block, remember));
  const plain = blocks.every((block) => block.plain);
  let nonLatin = 0;
  let latin = 0;
  for (const block of blocks) {
    nonLatin += block.nonLatin;
    latin += block.latin;
  }
  // As nodemailer chose: 7bit for short-lined ASCII, else quoted-printable unless the text is mostly not Latin.
  const encoding = forceBase64 || (!plain && nonLatin >= latin) ? "base64" : plain && !blocks.some((block) => block.longLines) ? "7bit" : "quoted-printable";
  const head = Buffer.from(`${headerField("Content-Type", contentType)}Content-Transfer-Encoding: ${encoding}\r\n\r\n`, "latin1");
  if (encoding === "base64") {
    const encoded = wrappedBase64(Buffer.from(content, "utf8"));
    boundedParts.add(encoded);
    canonicalParts.add(encoded);
    return [head, encoded];
  }
  return [head, ...blocks.map((block) => (encoding === "7bit" ? block.crlf : block.qp))];
}

/**
 * Past this many characters a block ends at the next line break: small enough that the part of
 * the post sharing a block with the footer, encoded per copy, is short.
 */
const BLOCK_CHARS = 512;

function textBlocks(content: string): string[] {
  const blocks: string[] = [];
  let start = 0;
  while (start < content.length) {
    const end = content.indexOf("\n", start + BLOCK_CHARS);
    const stop = end === -1 ? content.length : end + 1;
    blocks.push(content.slice(start, stop));
    start = stop;
  }
  return blocks;
}

interface EncodedBlock {
  /** ASCII without control characters: fit for 7bit. */
  readonly plain: boolean;
  readonly longLines: boolean;
  readonly latin: number;
  readonly nonLatin: number;
  /** The block with CRLF line ends, for 7bit. */
  readonly crlf: Buffer;
  readonly qp: Buffer;
}

/** Blocks encoded lately, by their text; bounded by the characters they hold. */
const encodedBlocks = new Map<string, EncodedBlock>();
let encodedChars = 0;
const MAX_ENCODED_CHARS = 4 * 1024 * 1024;

function encodedBlock(block: string, remember: boolean): EncodedBlock {
  const known = remember ? encodedBlocks.get(block) : undefined;
  if (known) {
    // Most recently used last: the oldest go first when the cache is full.
    encodedBlocks.delete(block);
    encodedBlocks.set(block, known);
    return known;
  }
  // A CR without its LF would reach the relay as a bare CR, which SMTP forbids: quoted-printable writes it as =0D.
  const plain = !/[\x00-\x08\x0b\x0c\x0e-\x1f\u0080-\uffff]|\r(?!\n)/.test(block);
  const bytes = Buffer.from(block, "utf8");
  const encoded: EncodedBlock = {
    plain,
    longLines: /^.{77,}/m.test(block),
    ...(plain ? { latin: 0, nonLatin: 0 } : letterCounts(block)),
    crlf: plain ? Buffer.from(block.replace(/\r?\n/g, "\r\n"), "latin1") : Buffer.alloc(0),
    qp: quotedPrintable(bytes),
  };
  // Short-lined by construction (7bit is chosen only without long lines): not scanned again per copy.
  boundedParts.add(encoded.qp);
  if (!encoded.longLines) boundedParts.add(encoded.crlf);
  if (remember && block.length <= MAX_ENCODED_CHARS / 4) {
    encodedBlocks.set(block, encoded);
    encodedChars += block.length;
    while (encodedChars > MAX_ENCODED_CHARS) {
      const oldest = encodedBlocks.keys().next().value as string;
      encodedBlocks.delete(oldest);
      encodedChars -= oldest.length;
    }
  }
  return encoded;
}

/** Latin letters, and control or non-ASCII characters (UTF-16 units), as nodemailer counted them. */
function letterCounts(text: string): { latin: number; nonLatin: number } {
  let latin = 0;
  let nonLatin = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) latin++;
    else if (c >= 0x80 || c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f)) nonLatin++;
  }
  return { latin, nonLatin };
}

const HEX = Buffer.from("0123456789ABCDEF", "latin1");
/** Encoded lines stop at 76 characters, the soft break's "=" included. */
const QP_LINE = 76;

/**
 * RFC 2045 quoted-printable, one line at a time: printable ASCII as itself, space and tab too
 * unless they end a line, everything else as =XX, soft breaks before 76 characters. Line ends
 * come out as CRLF.
 */
export function quotedPrintable(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(input.length * 3 + Math.ceil((input.length * 3) / (QP_LINE - 3)) * 3 + 2);
  let o = 0;
  let column = 0;
  const end = input.length;
  for (let i = 0; i < end; i++) {
    const c = input[i] as number;
    if (c === 0x0a || (c === 0x0d && input[i + 1] === 0x0a)) {
      if (c === 0x0d) i++;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      column = 0;
      continue;
    }
    const next = input[i + 1];
    const lineEnds = i + 1 === end || next === 0x0a || (next === 0x0d && input[i + 2] === 0x0a);
    const literal = (c >= 0x21 && c <= 0x7e && c !== 0x3d) || ((c === 0x20 || c === 0x09) && !lineEnds);
    const width = literal ? 1 : 3;
    // Room for this character and, unless the line ends here, the soft break's "=".
    if (column + width > (lineEnds ? QP_LINE : QP_LINE - 1)) {
      out[o++] = 0x3d;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      column = 0;
    }
    if (literal) out[o++] = c;
    else {
      out[o++] = 0x3d;
      out[o++] = HEX[c >> 4] as number;
      out[o++] = HEX[c & 0x0f] as number;
    }
    column += width;
  }
  return out.subarray(0, o);
}
