import { generateKeyPairSync } from "node:crypto";
import { dkimSign } from "mailauth";
import { beforeAll, describe, expect, it } from "vitest";
import {
  authenticate,
  mayPostWithoutToken,
  refusedUnderEnforce,
  type AuthenticateOptions,
  type AuthenticationInput,
  type DnsResolver,
} from "../../src/inbound/authenticate.js";

/**
 * SPEC §3 sender authentication, against a fake DNS: a Map answers, anything else is ENOTFOUND,
 * and every test checks that nothing asked for a name outside the Map. No real DNS is queried.
 */

type Records = Map<string, string[][]>;

interface FakeDns {
  resolver: DnsResolver;
  /** "TXT name" for every query, in order. */
  queries: string[];
  /** Queries for names the Map does not hold. */
  misses: string[];
}

function dnsError(code: string, rrtype: string, name: string): Error {
  return Object.assign(new Error(`query${rrtype} ${code} ${name}`), { code, hostname: name });
}

function fakeDns(records: Records): FakeDns {
  const queries: string[] = [];
  const misses: string[] = [];
  const resolver: DnsResolver = async (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase()}`;
    queries.push(key);
    const answer = records.get(key);
    if (answer === undefined) {
      misses.push(key);
      throw dnsError("ENOTFOUND", rrtype, name);
    }
    return answer;
  };
  return { resolver, queries, misses };
}

/** A resolver whose every query times out, as dns.promises.resolve reports it. */
function timingOutDns(): FakeDns {
  const queries: string[] = [];
  return {
    queries,
    misses: [],
    resolver: async (name, rrtype) => {
      queries.push(`${rrtype} ${name}`);
      throw dnsError("ETIMEOUT", rrtype, name);
    },
  };
}

function message(extraHeaders: string[] = []): string {
  return [
    ...extraHeaders,
    "From: Alice Sender <alice@sender.test>",
    "To: conversations@postern.test",
    "Subject: Authenticated hello",
    "Date: Mon, 06 Jan 2025 10:00:00 +0000",
    "Message-ID: <hello-1@sender.test>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Hello from sender.test.",
    "",
  ].join("\r\n");
}

let privateKey: string;
let records: Records;

async function signed(raw: string): Promise<Buffer> {
  // mailauth 4 reads the keys from signatureData; the top-level fields are only its type's shape.
  const { signatures, errors } = await dkimSign(raw, {
    signingDomain: "sender.test",
    selector: "selector",
    privateKey,
    canonicalization: "relaxed/relaxed",
    signatureData: [{ signingDomain: "sender.test", selector: "selector", privateKey, canonicalization: "relaxed/relaxed" }],
  });
  expect(errors).toEqual([]);
  expect(signatures).toMatch(/^DKIM-Signature: /);
  return Buffer.from(signatures + raw);
}

function input(raw: Buffer | string, clientIp: string): AuthenticationInput {
  return { raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw), clientIp, helo: "mail.sender.test", mailFrom: "alice@sender.test" };
}

function options(dns: FakeDns, overrides: Partial<AuthenticateOptions> = {}): AuthenticateOptions {
  return { mode: "log", resolver: dns.resolver, trustedAuthservIds: [], mta: "mx.postern.test", ...overrides };
}

beforeAll(() => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  privateKey = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const publicKey = pair.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  records = new Map([
    ["TXT selector._domainkey.sender.test", [[`v=DKIM1; k=rsa; p=${publicKey}`]]],
    ["TXT sender.test", [["v=spf1 ip4:127.0.0.2 -all"]]],
    ["TXT _dmarc.sender.test", [["v=DMARC1; p=reject"]]],
  ]);
});

describe("authenticate: computed with mailauth", () => {
  it("passes SPF, DKIM and DMARC for a signed message from an authorized address", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(await signed(message()), "127.0.0.2"), options(dns));
    expect(result).toEqual({
      spf: "pass",
      dkim: "pass",
      dmarc: "pass",
      fromDomain: "sender.test",
      aligned: true,
      source: "computed",
      summary: "spf=pass dkim=pass dmarc=pass (sender.test)",
    });
    expect(mayPostWithoutToken(result)).toBe(true);
    expect(refusedUnderEnforce(result, "enforce")).toBeUndefined();
    expect(dns.queries).toContain("TXT selector._domainkey.sender.test");
    expect(dns.misses).toEqual([]);
  });

  it("fails an unsigned message from an address SPF does not list, and refuses it under enforce only", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(message(), "127.0.0.9"), options(dns));
    expect(result).toMatchObject({
      spf: "fail",
      dkim: "none",
      dmarc: "fail",
      fromDomain: "sender.test",
      aligned: false,
      source: "computed",
      summary: "spf=fail dkim=none dmarc=fail (sender.test)",
    });
    expect(mayPostWithoutToken(result)).toBe(false);
    const sentence = refusedUnderEnforce(result, "enforce");
    expect(sentence).toMatch(
      /^The domain of your From address \(sender\.test\) failed DMARC authentication, so this gateway cannot accept the message\. /,
    );
    expect(refusedUnderEnforce(result, "log")).toBeUndefined();
    expect(refusedUnderEnforce(result, "off")).toBeUndefined();
    expect(dns.misses).toEqual([]);
  });

  it("passes DMARC on an aligned DKIM signature alone, whatever the connecting address", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(await signed(message()), "127.0.0.9"), options(dns));
    expect(result).toMatchObject({ spf: "fail", dkim: "pass", dmarc: "pass", aligned: true });
    expect(dns.misses).toEqual([]);
  });

  it("fails DKIM for a signed message altered in transit", async () => {
    const dns = fakeDns(records);
    const tampered = (await signed(message())).toString().replace("Authenticated hello", "Altered hello");
    const result = await authenticate(input(tampered, "127.0.0.9"), options(dns));
    expect(result).toMatchObject({ spf: "fail", dkim: "fail", dmarc: "fail", aligned: false });
    expect(dns.misses).toEqual([]);
  });

  it("says none, and refuses nothing, for a domain that publishes no DMARC policy", async () => {
    const dns = fakeDns(new Map([...records].filter(([key]) => !key.startsWith("TXT _dmarc."))));
    const result = await authenticate(input(message(), "127.0.0.9"), options(dns, { mode: "enforce" }));
    expect(result).toMatchObject({ spf: "fail", dmarc: "none", aligned: false });
    expect(refusedUnderEnforce(result, "enforce")).toBeUndefined();
    expect(mayPostWithoutToken(result)).toBe(false);
    expect(dns.misses.every((q) => q.startsWith("TXT _dmarc."))).toBe(true);
  });

  it("returns undefined, looking nothing up, when mode is off", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(await signed(message()), "127.0.0.2"), options(dns, { mode: "off" }));
    expect(result).toBeUndefined();
    expect(dns.queries).toEqual([]);
    expect(mayPostWithoutToken(result)).toBe(false);
    expect(refusedUnderEnforce(result, "enforce")).toBeUndefined();
  });
});

describe("authenticate: DNS failures", () => {
  it("maps a resolver timing out to temperror without throwing, and refuses nothing for it", async () => {
    const dns = timingOutDns();
    const result = await authenticate(input(await signed(message()), "127.0.0.2"), options(dns, { mode: "enforce" }));
    expect(result).toMatchObject({ spf: "temperror", dkim: "temperror", dmarc: "temperror", aligned: false, source: "computed" });
    expect(dns.queries.length).toBeGreaterThan(0);
    expect(refusedUnderEnforce(result, "enforce")).toBeUndefined();
    expect(mayPostWithoutToken(result)).toBe(false);
  });

  it("survives a resolver that rejects with something other than an Error, or throws at once", async () => {
    const odd: DnsResolver = (name) => {
      if (name.startsWith("_dmarc.")) throw new Error("synchronous failure");
      return Promise.reject("SERVFAIL");
    };
    const result = await authenticate(input(await signed(message()), "127.0.0.2"), {
      mode: "log",
      resolver: odd,
      trustedAuthservIds: [],
    });
    expect(result).toMatchObject({ spf: "temperror", dkim: "temperror", dmarc: "temperror", aligned: false });
  });
});

describe("authenticate: a trusted front MTA's Authentication-Results header", () => {
  const passing =
    "Authentication-Results: mx.front.test 1;\r\n spf=pass (sender SPF authorized; really) smtp.mailfrom=alice@sender.test;\r\n" +
    " dkim=pass header.d=sender.test header.s=selector;\r\n dmarc=pass (p=REJECT) header.from=sender.test";

  it("is used when it is the topmost one and its authserv-id is trusted: nothing is looked up", async () => {
    const dns = fakeDns(records);
    const raw = message(["Received: from mx.front.test by postern.test; Mon, 06 Jan 2025 10:00:01 +0000", passing]);
    const result = await authenticate(input(raw, "127.0.0.9"), options(dns, { trustedAuthservIds: ["MX.front.test"] }));
    expect(result).toEqual({
      spf: "pass",
      dkim: "pass",
      dmarc: "pass",
      fromDomain: "sender.test",
      aligned: true,
      source: "trusted-header",
      summary: "spf=pass dkim=pass dmarc=pass (sender.test) per mx.front.test",
    });
    expect(mayPostWithoutToken(result)).toBe(true);
    expect(dns.queries).toEqual([]);
  });

  it("reads a failing verdict from it too, and enforce refuses on it", async () => {
    const dns = fakeDns(records);
    const raw = message(["Authentication-Results: mx.front.test; spf=softfail smtp.mailfrom=sender.test; dkim=none; dmarc=fail header.from=sender.test"]);
    const result = await authenticate(input(raw, "127.0.0.2"), options(dns, { trustedAuthservIds: ["mx.front.test"] }));
    expect(result).toMatchObject({ spf: "softfail", dkim: "none", dmarc: "fail", aligned: false, source: "trusted-header" });
    expect(refusedUnderEnforce(result, "enforce")).toContain("(sender.test)");
    expect(dns.queries).toEqual([]);
  });

  it("is ignored when its authserv-id is not trusted: the results are computed", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(message([passing]), "127.0.0.9"), options(dns, { trustedAuthservIds: ["mx.other.test"] }));
    expect(result).toMatchObject({ spf: "fail", dkim: "none", dmarc: "fail", aligned: false, source: "computed" });
    expect(dns.misses).toEqual([]);
  });

  it("is ignored when no authserv-id is trusted at all", async () => {
    const dns = fakeDns(records);
    const result = await authenticate(input(message([passing]), "127.0.0.9"), options(dns));
    expect(result).toMatchObject({ dmarc: "fail", source: "computed" });
  });

  it("is ignored below an untrusted topmost one, however trusted its own authserv-id", async () => {
    const dns = fakeDns(records);
    const raw = message(["Authentication-Results: attacker.test; spf=pass; dkim=pass; dmarc=pass", passing]);
    const result = await authenticate(input(raw, "127.0.0.9"), options(dns, { trustedAuthservIds: ["mx.front.test"] }));
    expect(result).toMatchObject({ spf: "fail", dkim: "none", dmarc: "fail", aligned: false, source: "computed" });
    expect(mayPostWithoutToken(result)).toBe(false);
    expect(dns.misses).toEqual([]);
  });
});
