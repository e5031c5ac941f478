/** Base64 lines of 76 characters (RFC 2045 §6.8), 57 input bytes each. */
const LINE_BYTES = 57;
const LINE_CHARS = 76;
/** Input encoded at a time: a bounded scratch string, however large the attachment. */
const CHUNK_BYTES = LINE_BYTES * 1024;

/** Octets of `bytes` base64-encoded in lines joined by CRLF (no CRLF after the last). */
export function base64Length(bytes: number): number {
  if (bytes === 0) return 0;
  return Math.ceil(bytes / 3) * 4 + (Math.ceil(bytes / LINE_BYTES) - 1) * 2;
}

/**
 * Writes `input` base64-encoded into `out` at `offset`, lines joined by CRLF, and answers the
 * octets written (base64Length). Encoded a chunk at a time into the destination: no string or
 * buffer the size of the whole encoding is made on the way.
 */
export function writeBase64(input: Buffer, out: Buffer, offset: number): number {
  let o = offset;
  const scratch = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.ceil(input.length / 3) * 3) / 3 * 4 + 4);
  for (let start = 0; start < input.length; start += CHUNK_BYTES) {
    const n = scratch.write(input.toString("base64", start, Math.min(input.length, start + CHUNK_BYTES)), 0, "latin1");
    for (let p = 0; p < n; p += LINE_CHARS) {
      if (o > offset) {
        out[o++] = 0x0d;
        out[o++] = 0x0a;
      }
      o += scratch.copy(out, o, p, Math.min(n, p + LINE_CHARS));
    }
  }
  return o - offset;
}

/** `input` base64-encoded in CRLF-joined lines, in a buffer of its own. */
export function wrappedBase64(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(base64Length(input.length));
  writeBase64(input, out, 0);
  return out;
}
