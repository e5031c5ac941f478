import { promises as dnsPromises } from "node:dns";
import { hostname } from "node:os";
import { authenticate as mailauthAuthenticate, type AuthenticateResult, type DNSResolver } from "mailauth";
import addressparser from "nodemailer/lib/addressparser/index.js";

/**
 * Sender authentication of inbound mail (SPEC §3): SPF, DKIM and DMARC for one message, computed
 * with mailauth from the SMTP session and the raw bytes, or read from the topmost
 * Authentication-Results header when a trusted front MTA's authserv-id wrote it.
 *
 * The policy (off, log or enforce) is applied by the caller with refusedUnderEnforce() and
 * mayPostWithoutToken(); this module only finds out and describes. Every DNS query goes through
 * the resolver the caller passes (tests pass a fake one), and no DNS failure escapes: it becomes
 * temperror in the result.
 */

export type AuthMode = "off" | "log" | "enforce";

export type SpfDkimVerdict = "pass" | "fail" | "softfail" | "neutral" | "none" | "temperror" | "permerror";
export type DmarcVerdict = "pass" | "fail" | "none" | "temperror" | "permerror";

/** Called like dns.promises.resolve(name, rrtype); rejects with an error whose code is ENOTFOUND, ENODATA, ETIMEOUT, ... */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

/** The system's resolver, for production; tests never use it. */
export const systemResolver: DnsResolver = (name, rrtype) => dnsPromises.resolve(name, rrtype);

export interface AuthenticationInput {
  /** The message as received, header block and body. */
  raw: Buffer;
  /** The SMTP client's address (as given by XCLIENT/XFORWARD when the peer is a trusted host). */
  clientIp: string;
  /** The EHLO/HELO name. */
  helo: string;
  /** The MAIL FROM address; empty for the null sender <>. */
  mailFrom: string;
}

export interface AuthenticationResult {
  spf: SpfDkimVerdict;
  /** The best of the message's DKIM signatures: an aligned pass over any pass over the rest; none when unsigned. */
  dkim: SpfDkimVerdict;
  dmarc: DmarcVerdict;
  /** Lowercased domain of the (first) From header address; "" when there is none. */
  fromDomain: string;
  /** DMARC-aligned pass: the From domain is authenticated. */
  aligned: boolean;
  source: "computed" | "trusted-header";
  /** One line for the mail log, e.g. "spf=pass dkim=pass dmarc=pass (example.test)". */
  summary: string;
}

export interface AuthenticateOptions {
  mode: AuthMode;
  resolver: DnsResolver;
  /** authserv-ids whose Authentication-Results header is believed, and only when it is the topmost one. */
  trustedAuthservIds: readonly string[];
  /** This gateway's name in mailauth's comments; defaults to the host name. */
  mta?: string;
}

/**
 * SPF, DKIM and DMARC of one message; undefined when mode is "off". Never throws for DNS trouble
 * (or anything else mailauth runs into): those come back as temperror.
 */
export async function authenticate(
  input: AuthenticationInput,
  options: AuthenticateOptions,
): Promise<AuthenticationResult | undefined> {
  if (options.mode === "off") return undefined;

  const { fields: headers, bodyStart } = readHeaderBlock(input.raw);
  const fromDomain = fromDomainOf(headers);

  const trusted = trustedHeaderResults(headers, options.trustedAuthservIds);
  if (trusted) {
    return finish({ ...trusted.verdicts, fromDomain }, "trusted-header", trusted.authservId);
  }
  // Only a DKIM signature reads the body (its body hash); SPF and DMARC read the header block and
  // the session. An unsigned message's body is not run through mailauth's hashing at all.
  const signed = headers.some((h) => h.name === "dkim-signature");
  const raw = signed ? input.raw : input.raw.subarray(0, bodyStart);
  return finish({ ...(await compute({ ...input, raw }, options)), fromDomain }, "computed");
}

/**
 * Whether mail without a reply token may join a conversation through its threading headers: a
 * Message-ID is no secret, so only when the From domain is authenticated (a DMARC-aligned pass).
 */
export function mayPostWithoutToken(result: AuthenticationResult | undefined): boolean {
  return result !== undefined && result.aligned && result.dmarc === "pass";
}

/**
 * The sentence for a 550 5.7.1 when mode is "enforce" and the From domain fails DMARC; undefined
 * otherwise (including temperror, which is no verdict, and none: the domain publishes no policy).
 */
export function refusedUnderEnforce(result: AuthenticationResult | undefined, mode: AuthMode): string | undefined {
  if (mode !== "enforce" || result === undefined || result.dmarc !== "fail") return undefined;
  const domain = result.fromDomain || "unknown";
  return (
    `The domain of your From address (${domain}) failed DMARC authentication, so this gateway cannot accept the message. ` +
    "Send it through a mail server that domain authorizes (one listed in its SPF record, or one that signs with its DKIM key), " +
    "or ask the domain's administrator to correct its SPF and DKIM records."
  );
}

// ---------------------------------------------------------------------------------------------

interface Verdicts {
  spf: SpfDkimVerdict;
  dkim: SpfDkimVerdict;
  dmarc: DmarcVerdict;
}

function finish(
  verdicts: Verdicts & { fromDomain: string },
  source: AuthenticationResult["source"],
  authservId?: string,
): AuthenticationResult {
  const { spf, dkim, dmarc, fromDomain } = verdicts;
  const aligned = dmarc === "pass";
  const where = fromDomain || "no From domain";
  const via = authservId ? ` per ${authservId}` : "";
  return {
    spf,
    dkim,
    dmarc,
    fromDomain,
    aligned,
    source,
    summary: `spf=${spf} dkim=${dkim} dmarc=${dmarc} (${where})${via}`,
  };
}

const TEMPERROR: Verdicts = { spf: "temperror", dkim: "temperror", dmarc: "temperror" };

/** The host name, read once: it only names this gateway in mailauth's comments. */
let hostName: string | undefined;

async function compute(input: AuthenticationInput, options: AuthenticateOptions): Promise<Verdicts> {
  const resolver = guardedResolver(options.resolver);
  let result: AuthenticateResult;
  try {
    result = await mailauthAuthenticate(input.raw, {
      ip: input.clientIp,
      ...(input.helo ? { helo: input.helo } : {}),
      sender: input.mailFrom,
      // mailauth would ask the system for the host name twice per message (its own and SPF's default).
      mta: options.mta || (hostName ??= hostname()),
      resolver: resolver as DNSResolver,
      // Only what the verdicts need: ARC and BIMI would add queries (BIMI even HTTPS fetches).
      disableArc: true,
      disableBimi: true,
      trustReceived: false,
    });
  } catch {
    return TEMPERROR;
  }

  const spf = result.spf ? spfDkimVerdict(result.spf.status?.result) : "none";

  const signatures = (result.dkim?.results ?? []).map((r) => ({
    verdict: spfDkimVerdict(r.status?.result),
    aligned: Boolean(r.status?.aligned),
  }));
  const dkim = bestDkim(signatures);

  let dmarc: DmarcVerdict;
  if (result.dmarc) {
    dmarc = dmarcVerdict(result.dmarc.status?.result);
  } else {
    // mailauth skips DMARC without exactly one From address: none for no From, permerror for several.
    dmarc = (result.dkim?.headerFrom?.length ?? 0) > 1 ? "permerror" : "none";
  }
  return { spf, dkim, dmarc };
}

/** Passes queries through, turning a rejection that is not an Error into one mailauth can read (temperror). */
function guardedResolver(resolver: DnsResolver): DnsResolver {
  return async (name, rrtype) => {
    try {
      return await resolver(name, rrtype);
    } catch (err) {
      if (err instanceof Error) throw err;
      const wrapped = new Error(`DNS query for ${rrtype} ${name} failed: ${String(err)}`) as Error & { code: string };
      wrapped.code = "ESERVFAIL";
      throw wrapped;
    }
  };
}

const DKIM_RANK: readonly SpfDkimVerdict[] = ["pass", "temperror", "permerror", "fail", "softfail", "neutral", "none"];

function bestDkim(signatures: readonly { verdict: SpfDkimVerdict; aligned: boolean }[]): SpfDkimVerdict {
  if (signatures.length === 0) return "none";
  let best: SpfDkimVerdict = "none";
  for (const s of signatures) {
    if (s.verdict === "pass" && s.aligned) return "pass";
    if (DKIM_RANK.indexOf(s.verdict) < DKIM_RANK.indexOf(best)) best = s.verdict;
  }
  return best;
}

function spfDkimVerdict(value: string | undefined): SpfDkimVerdict {
  switch ((value ?? "").toLowerCase()) {
    case "pass":
      return "pass";
    case "fail":
    case "hardfail":
    case "policy": // DKIM: a signature that verifies but is not acceptable (e.g. a weak key)
      return "fail";
    case "softfail":
      return "softfail";
    case "none":
    case "skipped":
    case "":
      return "none";
    case "temperror":
    case "temperr":
      return "temperror";
    case "permerror":
    case "permerr":
      return "permerror";
    default:
      return "neutral";
  }
}

/** DMARC has no softfail or neutral: those words never come from it, and anything unknown is none. */
function dmarcVerdict(value: string | undefined): DmarcVerdict {
  const verdict = spfDkimVerdict(value);
  return verdict === "pass" || verdict === "fail" || verdict === "temperror" || verdict === "permerror" ? verdict : "none";
}

// --- The header block ---------------------------------------------------------------------------

interface HeaderField {
  /** Lowercased. */
  name: string;
  /** Unfolded, untrimmed on the right. */
  value: string;
}

/** The message's top-level header fields, in order, unfolded, and where its body starts (past the blank line; the end when there is none). */
function readHeaderBlock(raw: Buffer): { fields: HeaderField[]; bodyStart: number } {
  const crlf = raw.indexOf("\r\n\r\n");
  // Only a bare "\n\n" before the CRLF one matters: the body after it is not searched.
  const lf = crlf >= 0 ? raw.subarray(0, crlf + 1).indexOf("\n\n") : raw.indexOf("\n\n");
  let end = raw.length;
  let bodyStart = raw.length;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) [end, bodyStart] = [crlf, crlf + 4];
  else if (lf >= 0) [end, bodyStart] = [lf, lf + 2];
  const text = raw.subarray(0, end).toString("utf8");

  const fields: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      const last = fields[fields.length - 1];
      if (last) last.value += " " + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return { fields, bodyStart };
}

function fromDomainOf(headers: readonly HeaderField[]): string {
  const from = headers.find((h) => h.name === "from");
  if (!from) return "";
  const addresses = addressparser(from.value, { flatten: true });
  const address = addresses.find((a) => a.address.includes("@"))?.address ?? "";
  const at = address.lastIndexOf("@");
  return at >= 0 ? address.slice(at + 1).trim().toLowerCase().replace(/\.$/, "") : "";
}

// --- A trusted Authentication-Results header (RFC 8601) -----------------------------------------

function trustedHeaderResults(
  headers: readonly HeaderField[],
  trustedAuthservIds: readonly string[],
): { authservId: string; verdicts: Verdicts } | undefined {
  if (trustedAuthservIds.length === 0) return undefined;
  // Only the topmost one: anything below it came from further away, where anyone could have written it.
  const topmost = headers.find((h) => h.name === "authentication-results");
  if (!topmost) return undefined;

  const [head, ...resinfos] = splitResults(topmost.value);
  const authservId = (head ?? "").trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!authservId || !trustedAuthservIds.some((id) => id.toLowerCase() === authservId)) return undefined;

  let spf: SpfDkimVerdict | undefined;
  let dmarc: DmarcVerdict | undefined;
  const dkims: SpfDkimVerdict[] = [];
  for (const resinfo of resinfos) {
    const match = /^([a-z0-9_.-]+)\s*=\s*([a-z0-9_-]+)/i.exec(resinfo.trim());
    if (!match) continue;
    const method = match[1]!.toLowerCase();
    const value = match[2]!;
    if (method === "spf" && spf === undefined) spf = spfDkimVerdict(value);
    else if (method === "dkim") dkims.push(spfDkimVerdict(value));
    else if (method === "dmarc" && dmarc === undefined) dmarc = dmarcVerdict(value);
  }
  return {
    authservId,
    verdicts: {
      spf: spf ?? "none",
      // The front MTA's DMARC verdict already says whether a passing signature was aligned.
      dkim: bestDkim(dkims.map((verdict) => ({ verdict, aligned: false }))),
      dmarc: dmarc ?? "none",
    },
  };
}

/** Splits a header value at ";" outside comments and quoted strings, dropping the comments. */
function splitResults(value: string): string[] {
  const parts: string[] = [];
  let current = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && (quoted || depth > 0)) {
      if (depth === 0) current += c + (value[i + 1] ?? "");
      i++;
      continue;
    }
    if (depth > 0) {
      if (c === "(") depth++;
      else if (c === ")") depth--;
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      current += c;
      continue;
    }
    if (c === "(") {
      depth = 1;
      current += " ";
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === ";") {
      parts.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}
