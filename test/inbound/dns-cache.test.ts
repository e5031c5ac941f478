import { describe, expect, it } from "vitest";
import type { DnsResolver } from "../../src/inbound/authenticate.js";
import { cachedResolver } from "../../src/inbound/dns-cache.js";

/** A fake resolver that records every query it gets and answers from `records` (ENOTFOUND otherwise). */
function recordingDns(records: Map<string, unknown>, failWith?: () => string | undefined) {
  const queries: string[] = [];
  const resolver: DnsResolver = async (name, rrtype) => {
    queries.push(`${rrtype} ${name}`);
    const code = failWith?.();
    if (code) throw Object.assign(new Error(`query${rrtype} ${code} ${name}`), { code });
    const answer = records.get(`${rrtype} ${name}`);
    if (answer === undefined) throw Object.assign(new Error(`query${rrtype} ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return answer;
  };
  return { resolver, queries };
}

describe("cachedResolver", () => {
  it("answers a repeated query from memory until the TTL has passed, then asks again", async () => {
    let clock = 1_000;
    const dns = recordingDns(new Map([["TXT example.test", [["v=spf1 -all"]]]]));
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 10, now: () => clock });

    expect(await cached("example.test", "TXT")).toEqual([["v=spf1 -all"]]);
    expect(await cached("Example.TEST.", "txt")).toEqual([["v=spf1 -all"]]);
    expect(dns.queries).toEqual(["TXT example.test"]);

    clock += 60_001;
    expect(await cached("example.test", "TXT")).toEqual([["v=spf1 -all"]]);
    expect(dns.queries).toHaveLength(2);
  });

  it("keeps a name's absence like an answer, with the resolver's error code", async () => {
    const dns = recordingDns(new Map());
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 10 });
    for (let i = 0; i < 3; i++) {
      const error = await cached("_dmarc.nowhere.test", "TXT").then(() => undefined, (e: unknown) => e);
      // mailauth reads a rejection that is not an Error as a server failure (temperror).
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: "ENOTFOUND", message: "queryTXT ENOTFOUND _dmarc.nowhere.test" });
    }
    expect(dns.queries).toEqual(["TXT _dmarc.nowhere.test"]);
  });

  it("does not keep a temporary failure: the next message asks again", async () => {
    let failing = true;
    const dns = recordingDns(new Map([["TXT example.test", [["v=spf1 -all"]]]]), () => (failing ? "ETIMEOUT" : undefined));
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 10 });
    await expect(cached("example.test", "TXT")).rejects.toMatchObject({ code: "ETIMEOUT" });
    failing = false;
    expect(await cached("example.test", "TXT")).toEqual([["v=spf1 -all"]]);
    expect(dns.queries).toHaveLength(2);
  });

  it("shares one lookup between queries made while it is under way", async () => {
    const dns = recordingDns(new Map([["TXT example.test", [["v=spf1 -all"]]]]));
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 10 });
    const answers = await Promise.all([cached("example.test", "TXT"), cached("example.test", "TXT"), cached("example.test", "TXT")]);
    expect(answers).toEqual([[["v=spf1 -all"]], [["v=spf1 -all"]], [["v=spf1 -all"]]]);
    expect(dns.queries).toHaveLength(1);
  });

  it("gives each caller its own copy, so one that changes its answer does not change the next one's", async () => {
    const dns = recordingDns(new Map([["TXT example.test", [["v=spf1 -all"]]]]));
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 10 });
    const first = (await cached("example.test", "TXT")) as string[][];
    first.shift();
    expect(await cached("example.test", "TXT")).toEqual([["v=spf1 -all"]]);
  });

  it("holds at most maxEntries answers, dropping the oldest first", async () => {
    const records = new Map<string, unknown>([
      ["TXT a.test", ["a"]],
      ["TXT b.test", ["b"]],
      ["TXT c.test", ["c"]],
    ]);
    const dns = recordingDns(records);
    const cached = cachedResolver(dns.resolver, { ttlMs: 60_000, maxEntries: 2 });
    await cached("a.test", "TXT");
    await cached("b.test", "TXT");
    await cached("c.test", "TXT");
    await cached("c.test", "TXT");
    await cached("b.test", "TXT");
    expect(dns.queries).toEqual(["TXT a.test", "TXT b.test", "TXT c.test"]);
    await cached("a.test", "TXT");
    expect(dns.queries).toEqual(["TXT a.test", "TXT b.test", "TXT c.test", "TXT a.test"]);
  });
});
