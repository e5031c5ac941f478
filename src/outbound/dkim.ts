import { createHash, createPrivateKey, createSign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { domainToASCII } from "node:url";
import type { Config } from "../config/config.js";

/**
 * DKIM signing of outbound mail (SPEC §4, RFC 6376): rsa-sha256, relaxed/relaxed. The key is read
 * once per configuration, on first use or when the process calls loadDkimKey() at startup, and
 * parsed once, never per message. The body is hashed as compose() holds it, part by part: the
 * signature is the only thing added to the message, which is never copied for it.
 */
export interface DkimKey {
  readonly domainName: string;
  readonly keySelector: string;
  /** PEM. */
  readonly privateKey: string;
}

/**
 * What the signature covers: addressing, threading and list headers, so none can be changed or
 * dropped in transit without breaking it. Headers a copy does not carry are left out of h=.
 */
export const DKIM_SIGNED_HEADERS = [
  "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
  "List-Id", "List-Unsubscribe", "List-Post", "List-Help", "List-Subscribe", "List-Owner", "List-Archive",
  "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
].join(":");

export class DkimKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DkimKeyError";
  }
}

const keys = new WeakMap<Config, DkimKey | null>();

/** The signing key of this configuration, read from disk the first time; undefined when DKIM is off. */
export function loadDkimKey(config: Config): DkimKey | undefined {
  let key = keys.get(config);
  if (key === undefined) {
    key = readDkimKey(config) ?? null;
    keys.set(config, key);
  }
  return key ?? undefined;
}

function readDkimKey(config: Config): DkimKey | undefined {
  const { selector, private_key: path, domain } = config.dkim;
  if (!selector || !path) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new DkimKeyError(`dkim.private_key: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch {
    throw new DkimKeyError(`dkim.private_key: ${path} is not a PEM private key`);
  }
  // rsa-sha256 is what every verifier knows (ed25519-sha256, RFC 8463, is not yet).
  if (type !== "rsa") throw new DkimKeyError(`dkim.private_key: ${path} is a ${type ?? "unknown"} key; DKIM signing needs an RSA key`);
  return { domainName: domain ?? config.primaryDomain, keySelector: selector, privateKey: pem };
}

/**
 * The DKIM-Signature header field (with its CRLF) for a message whose header block (each field
 * with its CRLF, without the blank line) is `header` and whose body is `body`, in order. Each
 * chunk of the body starts a line or starts with a CRLF; `canonical` tells the chunks that are
 * their own relaxed form already (base64 lines), hashed as they are.
 */
export function dkimSignature(header: string, body: readonly Buffer[], key: DkimKey, canonical: (chunk: Buffer) => boolean = () => false): string {
  const fields = relaxedHeaderFields(header);
  const signed = SIGNED.filter((name) => fields.has(name));
  const tags = [
    "v=1",
    "a=rsa-sha256",
    "c=relaxed/relaxed",
    `d=${domainToASCII(key.domainName) || key.domainName}`,
    "q=dns/txt",
    `s=${key.keySelector}`,
    `bh=${bodyHash(body, canonical)}`,
    // FWS may follow each colon of h= (RFC 6376 §3.5): the list folds there.
    `h=${signed.join(": ")}`,
  ];
  const unsigned = `${foldTags(`DKIM-Signature: ${tags.join("; ")};`)}\r\n b=`;
  const signer = createSign("RSA-SHA256");
  for (const name of signed) signer.update(`${name}:${fields.get(name)}\r\n`, "latin1");
  signer.update(`dkim-signature:${relaxedValue(unsigned.slice(unsigned.indexOf(":") + 1))}`, "latin1");
  const b = signer.sign(privateKeyObject(key), "base64");
  return `${unsigned}${b.replace(/.{1,72}/g, (piece, at: number) => (at === 0 ? piece : `\r\n ${piece}`))}\r\n`;
}

const SIGNED = DKIM_SIGNED_HEADERS.toLowerCase().split(":");

const parsedKeys = new WeakMap<DkimKey, KeyObject>();

function privateKeyObject(key: DkimKey): KeyObject {
  let parsed = parsedKeys.get(key);
  if (!parsed) {
    parsed = createPrivateKey(key.privateKey);
    parsedKeys.set(key, parsed);
  }
  return parsed;
}

/** Each field of the block by its lower-case name, relaxed (RFC 6376 §3.4.2); the last of a name counts. */
function relaxedHeaderFields(header: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const field of header.split(/\r\n(?![ \t])/)) {
    const colon = field.indexOf(":");
    if (colon <= 0) continue;
    fields.set(field.slice(0, colon).trim().toLowerCase(), relaxedValue(field.slice(colon + 1)));
  }
  return fields;
}

function relaxedValue(value: string): string {
  return value.replace(/\r\n/g, "").replace(/[ \t]+/g, " ").trim();
}

/** Folds the tag list at its spaces within 78 octets. */
function foldTags(line: string): string {
  let out = "";
  let current = "";
  for (const word of line.split(" ")) {
    if (current && current.length + 1 + word.length > 78) {
      out += `${current}\r\n`;
      current = ` ${word}`;
    } else current = current ? `${current} ${word}` : word;
  }
  return out + current;
}

/**
 * base64 SHA-256 of the relaxed body (RFC 6376 §3.4.4): runs of blanks made one space, blanks
 * ending a line dropped, empty lines at the end dropped, a non-empty body ending in one CRLF.
 */
function bodyHash(body: readonly Buffer[], canonical: (chunk: Buffer) => boolean): string {
  const hash = createHash("sha256");
  // CRLFs that end the body so far: empty lines only if nothing but CRLFs follows.
  let pending = "";
  let any = false;
  for (const chunk of body) {
    if (canonical(chunk)) {
      let end = chunk.length;
      while (end >= 2 && chunk[end - 2] === 0x0d && chunk[end - 1] === 0x0a) end -= 2;
      if (end === 0) {
        pending += "\r\n".repeat(chunk.length / 2);
        continue;
      }
      if (pending) hash.update(pending, "latin1");
      hash.update(chunk.subarray(0, end));
      pending = "\r\n".repeat((chunk.length - end) / 2);
    } else {
      // A chunk's last line ends where the next chunk's CRLF starts (see compose.ts writeNode).
      const text = chunk.toString("latin1").replace(/[ \t]+(?=\r\n|$)/g, "").replace(/[ \t]+/g, " ");
      let end = text.length;
      while (end >= 2 && text.charCodeAt(end - 2) === 0x0d && text.charCodeAt(end - 1) === 0x0a) end -= 2;
      if (end === 0) {
        pending += text;
        continue;
      }
      if (pending) hash.update(pending, "latin1");
      hash.update(end === text.length ? text : text.slice(0, end), "latin1");
      pending = text.slice(end);
    }
    any = true;
  }
  if (any) hash.update("\r\n", "latin1");
  return hash.digest("base64");
}
