import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import DKIM from "nodemailer/lib/dkim/index.js";
import type { Config } from "../config/config.js";

/**
 * DKIM signing of outbound mail (SPEC §4) with nodemailer's signer: rsa-sha256, relaxed/relaxed.
 * The key is read once per configuration, on first use or when the process calls loadDkimKey()
 * at startup, never per message.
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
  // nodemailer signs rsa-sha256 only.
  if (type !== "rsa") throw new DkimKeyError(`dkim.private_key: ${path} is a ${type ?? "unknown"} key; DKIM signing needs an RSA key`);
  return { domainName: domain ?? config.primaryDomain, keySelector: selector, privateKey: pem };
}

/** The message with a DKIM-Signature header prepended. */
export async function dkimSign(raw: Buffer, key: DkimKey): Promise<Buffer> {
  const signed = new DKIM({ ...key, headerFieldNames: DKIM_SIGNED_HEADERS }).sign(raw);
  const chunks: Buffer[] = [];
  for await (const chunk of signed) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}
