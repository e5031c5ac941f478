import type { DnsResolver } from "../../src/inbound/authenticate.js";

/**
 * Tests never query real DNS (SPEC §3 sender authentication looks up SPF, DKIM and DMARC records).
 * `noDns` answers every query ENOTFOUND at once: a message then has spf=none, dkim=none, dmarc=none.
 */
export const noDns: DnsResolver = async (name, rrtype) => {
  throw Object.assign(new Error(`query${rrtype} ENOTFOUND ${name}`), { code: "ENOTFOUND", hostname: name });
};

/**
 * A fake DNS in which `domains` authorize `ip` by SPF and publish a DMARC policy: mail From such a
 * domain, with the same domain in MAIL FROM and sent from `ip`, passes DMARC (SPF-aligned).
 * Every other name is ENOTFOUND.
 */
export function dmarcPassDns(domains: readonly string[], ip = "127.0.0.1"): DnsResolver {
  const records = new Map<string, string[][]>();
  for (const domain of domains) {
    records.set(`TXT ${domain.toLowerCase()}`, [[`v=spf1 ip4:${ip} -all`]]);
    records.set(`TXT _dmarc.${domain.toLowerCase()}`, [["v=DMARC1; p=reject"]]);
  }
  return async (name, rrtype) => {
    const answer = records.get(`${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, "")}`);
    if (answer === undefined) return noDns(name, rrtype);
    return answer;
  };
}
