/**
 * Splits what a relay sends into whole SMTP replies (RFC 5321 §4.2): "250-first\r\n250 last\r\n"
 * is one reply. Lines are joined with "\n", the form nodemailer gave `response` and that
 * src/domain/delivery-errors.ts reads (its code and enhanced status come from the first line).
 */
export class ReplyReader {
  private partial = "";
  private lines: string[] = [];
  /** Characters in `lines`: a reply of endless continuation lines must not grow without bound either. */
  private held = 0;

  /** Feeds bytes as they arrive; returns the replies they completed, in order. */
  push(chunk: Buffer): string[] {
    // latin1 keeps every byte as one character: a relay's non-ASCII text survives to the log.
    this.partial += chunk.toString("latin1");
    const replies: string[] = [];
    let start = 0;
    for (;;) {
      const end = this.partial.indexOf("\n", start);
      if (end === -1) break;
      const line = this.partial.slice(start, end > start && this.partial[end - 1] === "\r" ? end - 1 : end);
      start = end + 1;
      this.lines.push(line);
      this.held += line.length + 1;
      // "250-" continues; "250 " or a bare "250" ends. Anything shorter than a code ends too, so a
      // garbled line is reported rather than waited on.
      if (line.length < 4 || line[3] !== "-" || this.held > MAX_LINE) {
        replies.push(this.lines.join("\n"));
        this.lines = [];
        this.held = 0;
      }
    }
    this.partial = this.partial.slice(start);
    if (this.partial.length > MAX_LINE) {
      // A relay that never ends its line would grow this without bound: report what there is.
      replies.push([...this.lines, this.partial].join("\n"));
      this.lines = [];
      this.held = 0;
      this.partial = "";
    }
    return replies;
  }
}

/** RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; a generous multiple of it, for a line or a whole reply. */
const MAX_LINE = 64 * 1024;

/** The reply's three-digit code, or 0 when it has none. */
export function replyCode(reply: string): number {
  const code = Number(reply.slice(0, 3));
  return /^\d{3}$/.test(reply.slice(0, 3)) ? code : 0;
}

/**
 * The extensions an EHLO reply announces, by upper-case keyword, each with its parameters
 * ("SIZE 10240000" → SIZE: ["10240000"]). The first line is the relay's greeting, not an extension.
 */
export function ehloExtensions(reply: string): Map<string, string[]> {
  const extensions = new Map<string, string[]>();
  for (const line of reply.split("\n").slice(1)) {
    const [keyword, ...parameters] = line.slice(4).trim().split(/\s+/);
    if (keyword) extensions.set(keyword.toUpperCase(), parameters);
  }
  return extensions;
}
