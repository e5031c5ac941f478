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
  const { text, html } = draft.mail;
  const root = new MailComposer({
    ...draft.mail,
    // Text parts come encoded (see textPart): MailComposer only arranges them and the headers.
    ...(typeof text === "string" && text ? { text: encodedPart(textPart("text/plain", text, large)) } : {}),
    ...(typeof html === "string" && html ? { html: encodedPart(textPart("text/html", html, large)) } : {}),
    messageId: draft.messageId,
    ...(large ? { textEncoding: "base64" as const } : {}),
  }).compile();
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
    // A part MailComposer copies as it is (an attached message) may keep bare LFs (the SMTP client writes them as CRLF): each is a line end too.
    const end = raw.indexOf(0x0a, start);
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

/**
 * A text part, headers and encoded body. The copies of one post differ only in their footer, at
 * the end: the text is encoded in blocks of whole lines, and each block's encoding is remembered
 * by its content, so the post's own text is encoded once for all its copies and never served for
 * any other text. Quoted-printable encodes line by line (RFC 2045 §6.7), so blocks encoded apart
 * join into the encoding of the whole.
 */
export function textPart(type: "text/plain" | "text/html", content: string, forceBase64: boolean): Buffer {
  const blocks = forceBase64 ? [] : textBlocks(content).map(encodedBlock);
  const plain = blocks.every((block) => block.plain);
  let nonLatin = 0;
  let latin = 0;
  for (const block of blocks) {
    nonLatin += block.nonLatin;
    latin += block.latin;
  }
  // As MailComposer chooses: 7bit for short-lined ASCII, else quoted-printable unless the text is mostly not Latin.
  const encoding = forceBase64 || (!plain && nonLatin >= latin) ? "base64" : plain && !blocks.some((block) => block.longLines) ? "7bit" : "quoted-printable";
  const head = `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`;
  if (encoding === "base64") return Buffer.concat([Buffer.from(head), wrappedBase64(Buffer.from(content, "utf8"))]);
  return Buffer.concat([Buffer.from(head), ...blocks.map((block) => (encoding === "7bit" ? block.crlf : block.qp))]);
}

/** MailComposer takes a part already encoded as `raw`, which its types do not list. */
function encodedPart(raw: Buffer): Mail.AttachmentLike {
  return { raw } as Mail.AttachmentLike;
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

function encodedBlock(block: string): EncodedBlock {
  const known = encodedBlocks.get(block);
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
  if (block.length <= MAX_ENCODED_CHARS / 4) {
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

/** Latin letters, and control or non-ASCII characters (UTF-16 units), as MailComposer counts them. */
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

function wrappedBase64(bytes: Buffer): Buffer {
  const encoded = bytes.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += QP_LINE) lines.push(encoded.slice(i, i + QP_LINE));
  return Buffer.from(lines.join("\r\n"), "latin1");
}
