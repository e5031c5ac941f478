import type { DnsResolver } from "./authenticate.js";

export interface DnsCacheOptions {
  /** How long an answer (or a name's absence) is reused. */
  readonly ttlMs: number;
  /** Answers kept at most; the oldest goes first. */
  readonly maxEntries: number;
  readonly now?: () => number;
}

/** A short TTL: dns.promises.resolve gives no TTLs, and a changed SPF or DMARC record must take effect soon. */
export const DEFAULT_DNS_CACHE: DnsCacheOptions = { ttlMs: 60_000, maxEntries: 10_000 };

/** Answers that say the name or record does not exist: as cacheable as a record (RFC 2308), unlike a timeout or a SERVFAIL. */
const NEGATIVE_CODES = new Set(["ENOTFOUND", "ENODATA"]);

type Entry =
  | { readonly expires: number; readonly answer: Promise<unknown>; settled: boolean }
  | { readonly expires: number; readonly absent: { readonly message: string; readonly code: string }; settled: true };

/**
 * Puts a small in-memory cache in front of `resolver` for the SPF, DKIM and DMARC lookups of
 * inbound mail: mail from one domain asks the same few names again and again, and a remote
 * resolver answers each in tens or hundreds of milliseconds while the message holds a
 * processing lane. Answers and NXDOMAIN/NODATA are kept `ttlMs`; any other failure is not kept,
 * so the next message asks again. Queries for a name already being looked up share that lookup.
 * One cache per resolver wrapped (per pipeline), never shared by the process.
 */
export function cachedResolver(resolver: DnsResolver, options: DnsCacheOptions = DEFAULT_DNS_CACHE): DnsResolver {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const remember = (key: string, entry: Entry) => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > options.maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  };

  return async (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, "")}`;
    const cached = entries.get(key);
    if (cached && (!cached.settled || cached.expires > now())) {
      if ("absent" in cached) throw absentError(cached.absent, name);
      // mailauth may change what it is given: each caller gets its own copy.
      return structuredClone(await cached.answer);
    }
    const answer = resolver(name, rrtype);
    const entry: Entry = { expires: now() + options.ttlMs, answer, settled: false };
    remember(key, entry);
    try {
      const value = await answer;
      entry.settled = true;
      return structuredClone(value);
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code === "string" && NEGATIVE_CODES.has(code)) {
        const message = error instanceof Error ? error.message : String(error);
        if (entries.get(key) === entry) remember(key, { expires: entry.expires, absent: { message, code }, settled: true });
      } else if (entries.get(key) === entry) {
        entries.delete(key);
      }
      throw error;
    }
  };
}

/**
 * The error a resolver gives for a missing name, made again for each caller: an Error (mailauth
 * reads anything else as a server failure) without the cost of capturing a stack trace, which
 * nobody reads for an answer that comes from memory.
 */
function absentError(absent: { readonly message: string; readonly code: string }, hostname: string): Error {
  return Object.assign(Object.create(Error.prototype) as Error, { name: "Error", message: absent.message, code: absent.code, hostname });
}
