import { createRequire } from "node:module";

// RFC 3676 format=flowed decoding that keeps quote depth. mailparser hands flowed text parts to
// libmime's decodeFlowed, which joins a soft-broken line with the next one whatever its quote
// prefix, so "> … has anything \n> changed" becomes "> … has anything > changed": the quoted
// paragraph the author kept as context reaches the post garbled. parse.ts installs this decoder in
// its place (see useQuoteAwareFlowedDecoding).

// RFC 3676 4.3: "-- " is a signature separator, never a soft break.
const SIGNATURE_SEPARATOR = "-- ";

interface FlowedLine {
  /** The quote markers as written (">", ">>", "> >"), without the stuffing space. */
  readonly prefix: string;
  readonly depth: number;
  /** The text after the prefix and the stuffing space. */
  readonly content: string;
}

function readLine(line: string): FlowedLine {
  let at = 0;
  let depth = 0;
  while (at < line.length && line.charCodeAt(at) === 0x3e) {
    depth++;
    at++;
  }
  const prefix = line.slice(0, at);
  // A space after the quote markers (or at the start of an unquoted line) is stuffing (RFC 3676 4.4).
  if (line.charCodeAt(at) === 0x20) at++;
  return { prefix, depth, content: line.slice(at) };
}

const isSoftBreak = (content: string): boolean => content.endsWith(" ") && content !== SIGNATURE_SEPARATOR;

/**
 * Decodes a format=flowed body: joins each paragraph's soft-broken lines (those ending in a space)
 * with the lines that follow at the same quote depth, removing the space before the break when
 * `delSp` (DelSp=yes). A change of quote depth ends the paragraph, as RFC 3676 4.5 says.
 * Quoted lines come back as `<markers> <text>`.
 */
export function decodeFlowedText(text: string, delSp = false): string {
  const lines = text.split(/\r?\n/);
  // The newline that ends the body ends its last line; it does not open an empty one.
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const out: string[] = [];
  let current: FlowedLine | undefined;
  let joined = "";
  const flush = (): void => {
    if (!current) return;
    out.push(current.depth === 0 ? joined : joined === "" ? current.prefix : `${current.prefix} ${joined}`);
    current = undefined;
  };
  for (const raw of lines) {
    const line = readLine(raw);
    if (current && current.depth !== line.depth) flush();
    if (!current) {
      current = line;
      joined = "";
    }
    const soft = isSoftBreak(line.content);
    joined += soft && delSp ? line.content.slice(0, -1) : line.content;
    if (!soft) flush();
  }
  flush();
  return out.join("\n");
}

type FlowedDecoder = (text: string, delSp?: boolean) => string;

/**
 * Makes mailparser decode format=flowed parts with decodeFlowedText. Its flowed stream calls
 * `decodeFlowed` on a libmime instance, resolved here from mailparser's own dependency tree so that
 * the instance patched is the one it loads.
 */
export function useQuoteAwareFlowedDecoding(): void {
  const fromHere = createRequire(import.meta.url);
  const fromSplitter = createRequire(createRequire(fromHere.resolve("mailparser")).resolve("@zone-eu/mailsplit/lib/flowed-decoder"));
  const libmime = fromSplitter("libmime") as { Libmime: { prototype: { decodeFlowed: FlowedDecoder } } };
  libmime.Libmime.prototype.decodeFlowed = (text, delSp) => decodeFlowedText(String(text ?? ""), Boolean(delSp));
}
