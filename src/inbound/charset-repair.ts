import { isAscii, isUtf8 } from "node:buffer";

/**
 * Mis-declared charsets, recovered the way a careful reader would before mailparser decodes the
 * message. Two mistakes are common and both leave bytes mailparser cannot get back:
 *
 * - A body (or an RFC 2047 encoded word) labelled with a legacy charset (Big5, ISO-8859-1,
 *   windows-1252, …) whose bytes are in fact valid UTF-8 with non-ASCII characters. Legacy text
 *   is almost never valid UTF-8 by accident once it holds a multi-byte sequence, so such a part is
 *   read as UTF-8.
 * - Quoted-printable carrying raw 8-bit bytes (clients that encode only `=` and line ends). The QP
 *   decoder mailparser uses turns its input into a string first, so every raw non-ASCII character
 *   loses its high bits: "一" (U+4E00) becomes a NUL. Such a part is decoded here, byte by byte.
 *
 * A part that needs either fix is rewritten as base64 with the charset that fits; nothing else in
 * the message changes. Only the top header block's encoded words and the text parts of the message
 * itself (not of an attached message/rfc822, which stays as sent) are looked at, in one linear
 * pass: the number of parts was bounded by checkStructure before this runs.
 */
export function repairCharsets(raw: Buffer): Buffer {
  const text = raw.toString("latin1");
  const headerEnd = headerBlockEnd(text, 0);
  const head = repairEncodedWords(text.slice(0, headerEnd));
  const whole = head === text.slice(0, headerEnd) ? text : head + text.slice(headerEnd);
  const edits: Edit[] = [];
  // Encoded words are rewritten in ASCII, so an all-ASCII message stays one: no part has raw 8-bit bytes.
  const eightBit = !isAscii(raw);
  collectPartEdits(whole, 0, whole.length, "text/plain", eightBit, edits, 0);
  if (edits.length === 0) return whole === text ? raw : Buffer.from(whole, "latin1");
  let out = "";
  let at = 0;
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    out += whole.slice(at, edit.start) + edit.replacement;
    at = edit.end;
  }
  return Buffer.from(out + whole.slice(at), "latin1");
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly replacement: string;
}

/** Nested multiparts deeper than this are left as they are (checkStructure bounds the part count). */
const MAX_DEPTH = 20;

/** Charsets whose bytes are not ASCII-compatible: valid UTF-8 there says nothing. */
const NOT_ASCII_COMPATIBLE = /^(utf-?16|utf-?32|ucs-?2|ucs-?4|utf-?7)/i;

function isUtf8Label(charset: string): boolean {
  return /^utf-?8$/i.test(charset);
}

/** Offset of the first byte after the header block that starts at `start` (after its blank line). */
function headerBlockEnd(text: string, start: number): number {
  const match = /\r?\n\r?\n/g;
  match.lastIndex = start;
  // A part may have no headers at all: its body starts right after the delimiter line.
  if (text.startsWith("\r\n", start)) return start + 2;
  if (text.startsWith("\n", start)) return start + 1;
  const found = match.exec(text);
  return found ? found.index + found[0].length : text.length;
}

interface PartHeaders {
  readonly lines: string[];
  readonly type: string;
  readonly params: Map<string, string>;
  readonly rawType: string | undefined;
  readonly encoding: string;
  readonly attachment: boolean;
}

function readHeaders(block: string, defaultType: string): PartHeaders {
  const lines = block.replace(/\r?\n$/, "").split(/\r?\n(?![ \t])/).filter((line) => line.length > 0);
  const field = (name: string): string | undefined => {
    const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
    return line?.slice(name.length + 1).replace(/\r?\n[ \t]+/g, " ").trim();
  };
  const rawType = field("content-type");
  const [typePart = "", ...paramParts] = (rawType ?? defaultType).split(";");
  const params = new Map<string, string>();
  for (const part of paramParts) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return {
    lines,
    type: typePart.trim().toLowerCase() || defaultType,
    params,
    rawType,
    encoding: (field("content-transfer-encoding") ?? "7bit").toLowerCase(),
    attachment: /^attachment/i.test(field("content-disposition") ?? ""),
  };
}

function collectPartEdits(text: string, start: number, end: number, defaultType: string, eightBit: boolean, edits: Edit[], depth: number): void {
  const bodyStart = Math.min(headerBlockEnd(text, start), end);
  const headers = readHeaders(text.slice(start, bodyStart), defaultType);
  if (headers.type.startsWith("multipart/")) {
    const boundary = headers.params.get("boundary");
    if (!boundary || depth >= MAX_DEPTH) return;
    const childDefault = headers.type === "multipart/digest" ? "message/rfc822" : "text/plain";
    for (const [partStart, partEnd] of partsOf(text, bodyStart, end, boundary)) collectPartEdits(text, partStart, partEnd, childDefault, eightBit, edits, depth + 1);
    return;
  }
  if ((headers.type !== "text/plain" && headers.type !== "text/html") || headers.attachment) return;
  const body = text.slice(bodyStart, end);
  const repaired = repairedBody(headers, body, eightBit);
  if (!repaired) return;
  const newline = text.slice(start, bodyStart).includes("\r\n") || body.includes("\r\n") ? "\r\n" : "\n";
  const kept = headers.lines.filter((line) => !/^content-(type|transfer-encoding)\s*:/i.test(line));
  const params = [...headers.params].filter(([name]) => name !== "charset").map(([name, value]) => `; ${name}="${value}"`);
  const block = [...kept, `Content-Type: ${headers.type}; charset="${repaired.charset}"${params.join("")}`, "Content-Transfer-Encoding: base64"];
  const base64 = repaired.bytes.toString("base64").replace(/.{1,76}/g, (line) => line + newline);
  edits.push({ start, end, replacement: block.join(newline) + newline + newline + base64 });
}

/** The [start, end) of each body part between the delimiters of `boundary`, each without the line break before the next delimiter. */
function partsOf(text: string, start: number, end: number, boundary: string): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  const delimiter = `--${boundary}`;
  let partStart: number | undefined;
  let at = start;
  while (at < end) {
    let lineEnd = text.indexOf("\n", at);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const line = text.slice(at, lineEnd).replace(/\r$/, "");
    if (line.startsWith(delimiter)) {
      const rest = line.slice(delimiter.length).trimEnd();
      if (rest === "" || rest === "--") {
        if (partStart !== undefined) {
          const breakLength = text[at - 2] === "\r" ? 2 : 1;
          parts.push([partStart, Math.max(partStart, at - breakLength)]);
        }
        if (rest === "--") return parts;
        partStart = Math.min(lineEnd + 1, end);
      }
    }
    at = lineEnd + 1;
  }
  return parts;
}

/** The bytes and charset a text part should be read with, or undefined when mailparser reads it right. */
function repairedBody(headers: PartHeaders, body: string, eightBit: boolean): { bytes: Buffer; charset: string } | undefined {
  const declared = headers.params.get("charset") ?? "us-ascii";
  if (NOT_ASCII_COMPATIBLE.test(declared)) return undefined;
  const rawEightBit = eightBit && /[\x80-\xff]/.test(body);
  // Seven-bit bytes sent as they are decode to seven-bit bytes: nothing to read as UTF-8.
  if (!rawEightBit && headers.encoding !== "quoted-printable" && headers.encoding !== "base64") return undefined;
  let bytes: Buffer;
  switch (headers.encoding) {
    case "quoted-printable":
      bytes = decodeQuotedPrintable(body);
      break;
    case "base64":
      bytes = Buffer.from(body.replace(/[^A-Za-z0-9+/]/g, ""), "base64");
      break;
    default:
      bytes = Buffer.from(body, "latin1");
  }
  const readsAsUtf8 = !isUtf8Label(declared) && /[\x80-\xff]/.test(bytes.toString("latin1")) && isUtf8(bytes);
  if (readsAsUtf8) return { bytes, charset: "utf-8" };
  if (headers.encoding === "quoted-printable" && rawEightBit) return { bytes, charset: declared };
  return undefined;
}

/** RFC 2045 §6.7 on bytes: `=XX` is that byte, soft line breaks go, anything else (raw 8-bit too) is itself. */
function decodeQuotedPrintable(body: string): Buffer {
  const unfolded = body.replace(/[ \t]+(?=\r?\n)/g, "").replace(/=\r?\n/g, "");
  const out = Buffer.alloc(unfolded.length);
  let length = 0;
  for (let i = 0; i < unfolded.length; i++) {
    const code = unfolded.charCodeAt(i);
    if (code === 0x3d && /^[0-9a-fA-F]{2}$/.test(unfolded.slice(i + 1, i + 3))) {
      out[length++] = parseInt(unfolded.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      out[length++] = code & 0xff;
    }
  }
  return out.subarray(0, length);
}

/** RFC 2047 encoded words in the message's own header block whose bytes are UTF-8 whatever their label says. */
function repairEncodedWords(head: string): string {
  return head.replace(/=\?([^?\s*]+)((?:\*[^?\s]*)?)\?([bBqQ])\?([^?\s]*)\?=/g, (word, charset: string, language: string, kind: string, data: string) => {
    if (isUtf8Label(charset) || NOT_ASCII_COMPATIBLE.test(charset)) return word;
    const bytes =
      kind.toLowerCase() === "b"
        ? Buffer.from(data, "base64")
        : Buffer.from(data.replace(/_/g, " ").replace(/=([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1");
    if (!/[\x80-\xff]/.test(bytes.toString("latin1")) || !isUtf8(bytes)) return word;
    return `=?UTF-8${language}?${kind}?${data}?=`;
  });
}

/**
 * A header parameter sent as raw UTF-8 bytes (`filename="請求書.pdf"`, no RFC 2231 or 2047
 * encoding), which mailparser reads one byte per character: when those bytes form valid UTF-8
 * with non-ASCII characters, that is what the sender wrote. Anything else is returned unchanged.
 */
export function utf8ReadAsLatin1(text: string): string {
  if (!/[\x80-\xff]/.test(text) || /[^\x00-\xff]/.test(text)) return text;
  const bytes = Buffer.from(text, "latin1");
  return isUtf8(bytes) ? bytes.toString("utf8") : text;
}
