/** The folded header block of a composed message and of every MIME part, each physical line in octets. */
export function headerLines(raw: Buffer): string[] {
  const lines = raw.toString("latin1").split("\r\n");
  const headers: string[] = [];
  let inHeader = true;
  for (const line of lines) {
    if (inHeader && line === "") inHeader = false;
    else if (inHeader) headers.push(line);
    else if (/^--\S+$/.test(line)) inHeader = true;
  }
  return headers;
}
