import { generateKeyPairSync } from "node:crypto";
import dns from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildConfig, ConfigError, type Config } from "../../src/config/config.js";
import { findDelivery } from "../../src/domain/deliveries.repo.js";
import type { Delivery } from "../../src/domain/records.js";
import { DkimKeyError, loadDkimKey } from "../../src/outbound/dkim.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { DOMAIN, seedDirectConversation, seedForwardDelivery, seedPostCopy, seedUser } from "../helpers/seed.js";

const SELECTOR = "postern2025";
let dir: string;
let keyPath: string;
let publicKeyBase64: string;

beforeAll(() => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  dir = mkdtempSync(join(tmpdir(), "postern-dkim-"));
  keyPath = join(dir, "dkim.pem");
  writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }));
  publicKeyBase64 = publicKey.export({ type: "spki", format: "der" }).toString("base64");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let t: TestStore;
let lookups: string[];

beforeEach(async () => {
  t = await createTestStore();
  lookups = [];
  // Nothing may reach real DNS: any lookup outside the injected resolver fails the test.
  for (const name of ["resolve", "resolveTxt", "lookup"] as const) {
    vi.spyOn(dns.promises, name).mockImplementation(() => Promise.reject(new Error(`real DNS queried: ${name}`)));
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  return t.dispose();
});

/** The fake DNS: only SELECTOR._domainkey.DOMAIN has a TXT record, the test's public key. */
function resolverFor(domain: string) {
  return async (name: string, rrtype: string): Promise<string[][]> => {
    lookups.push(`${rrtype} ${name}`);
    if (rrtype === "TXT" && name.toLowerCase() === `${SELECTOR}._domainkey.${domain}`) {
      return [[`v=DKIM1; k=rsa; p=${publicKeyBase64}`]];
    }
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  };
}

async function verify(raw: Buffer, domain = DOMAIN) {
  const result = await dkimVerify(raw, { resolver: resolverFor(domain) });
  return result.results;
}

function signingConfig(extra: Record<string, unknown> = {}): Config {
  return buildConfig({ gateway: { domain: DOMAIN, name: "Postern" }, dkim: { selector: SELECTOR, private_key: keyPath, ...extra } });
}

async function render(delivery: Delivery, config: Config): Promise<Buffer> {
  return (await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)))).raw;
}

describe("DKIM signing", () => {
  it("signs a post copy that verifies as pass, relaxed/relaxed, covering the SPEC §4 headers", async () => {
    const config = signingConfig();
    const { conversation, alice, bob } = await seedDirectConversation(t);
    // A later post: In-Reply-To and References are present to be signed too.
    const { delivery } = await seedPostCopy(t, conversation, alice, bob, { body: "Noon works. Grüße 😀" });
    const raw = await render(delivery, config);

    expect(raw.toString("latin1")).toMatch(/^DKIM-Signature: /);
    const [result] = await verify(raw);
    expect(result?.status.result).toBe("pass");
    expect(result?.signingDomain).toBe(DOMAIN);
    expect(result?.selector).toBe(SELECTOR);
    expect(lookups).toEqual([`TXT ${SELECTOR}._domainkey.${DOMAIN}`]);

    const header = raw.toString("latin1").split(/\r\n(?! )/)[0]?.replace(/\r\n /g, " ") ?? "";
    expect(header).toContain("c=relaxed/relaxed");
    expect(header).toContain("a=rsa-sha256");
    const signed = (/\bh=([^;]+)/.exec(header)?.[1] ?? "").replace(/\s+/g, "").toLowerCase().split(":");
    for (const name of ["from", "to", "subject", "date", "message-id", "reply-to", "in-reply-to", "references", "list-id", "list-unsubscribe", "list-post"]) {
      expect(signed).toContain(name);
    }
  });

  it("fails verification when the body is tampered with", async () => {
    const config = signingConfig();
    const { delivery } = await seedDirectConversation(t, { body: "Shall we meet at noon?" });
    const raw = await render(delivery, config);
    expect((await verify(raw))[0]?.status.result).toBe("pass");

    const text = raw.toString("latin1");
    expect(text).toContain("Shall we meet at noon?");
    const tampered = Buffer.from(text.replace("Shall we meet at noon?", "Shall we meet at one?"), "latin1");
    // mailauth reports a body-hash mismatch as "neutral" with this comment (RFC 6376 §6.3: the signature fails).
    const [result] = await verify(tampered);
    expect(result?.status.result).not.toBe("pass");
    expect(result?.status.result).toBe("neutral");
    expect(result?.status.comment).toBe("body hash did not verify");
  });

  it("fails verification when a signed header is changed", async () => {
    const config = signingConfig();
    const { delivery } = await seedDirectConversation(t);
    const raw = (await render(delivery, config)).toString("latin1");
    const tampered = Buffer.from(raw.replace("Subject: Lunch on Friday?", "Subject: Lunch on Monday?"), "latin1");
    expect((await verify(tampered))[0]?.status.result).toBe("fail");
  });

  it("signs forwards too, with a configured d= domain", async () => {
    const config = signingConfig({ domain: "mail.example.test" });
    const admin = await seedUser(t, "admin@staff.test", "Admin");
    const queued = await seedForwardDelivery(t, admin, Buffer.from("Subject: Your server\r\n\r\nmisconfigured\r\n"), "Your server");
    const delivery = await t.read(({ tx }) => findDelivery(tx, queued.id));
    if (!delivery) throw new Error("forward not queued");
    const raw = await render(delivery, config);
    const [result] = await verify(raw, "mail.example.test");
    expect(result?.status.result).toBe("pass");
    expect(result?.signingDomain).toBe("mail.example.test");
  });

  it("does not sign when DKIM is not configured", async () => {
    const config = buildConfig({ gateway: { domain: DOMAIN } });
    const { delivery } = await seedDirectConversation(t);
    const raw = await render(delivery, config);
    expect(raw.toString("latin1")).not.toMatch(/^DKIM-Signature:/im);
    expect(loadDkimKey(config)).toBeUndefined();
  });

  it("reads the key once per configuration, not per message", async () => {
    const config = signingConfig();
    const first = loadDkimKey(config);
    expect(first?.privateKey).toContain("PRIVATE KEY");
    rmSync(keyPath);
    try {
      // Already loaded: removing the file changes nothing for this configuration.
      expect(loadDkimKey(config)).toBe(first);
      const { delivery } = await seedDirectConversation(t);
      expect((await verify(await render(delivery, config)))[0]?.status.result).toBe("pass");
      // A fresh configuration reads the file again, and names what is wrong.
      expect(() => loadDkimKey(signingConfig())).toThrow(DkimKeyError);
      expect(() => loadDkimKey(signingConfig())).toThrow(/dkim\.private_key: cannot read .*dkim\.pem \(ENOENT\)/);
    } finally {
      writeFileSync(keyPath, first?.privateKey ?? "");
    }
  });

  it("refuses a file that is not an RSA private key", () => {
    const bogus = join(dir, "bogus.pem");
    writeFileSync(bogus, "not a key");
    expect(() => loadDkimKey(signingConfig({ private_key: bogus }))).toThrow(/is not a PEM private key/);
    const ed = join(dir, "ed25519.pem");
    writeFileSync(ed, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(() => loadDkimKey(signingConfig({ private_key: ed }))).toThrow(/needs an RSA key/);
  });
});

describe("[dkim] configuration", () => {
  it("is off by default and defaults the domain to the primary one", () => {
    expect(buildConfig({}).dkim).toEqual({});
    expect(signingConfig().dkim).toEqual({ selector: SELECTOR, private_key: keyPath });
    expect(loadDkimKey(signingConfig())?.domainName).toBe(DOMAIN);
  });

  it("refuses a selector without a private key, and a private key without a selector, naming the key", () => {
    expect(() => buildConfig({ dkim: { selector: SELECTOR } })).toThrow(ConfigError);
    expect(() => buildConfig({ dkim: { selector: SELECTOR } })).toThrow(/dkim\.private_key: .*set both or neither/);
    expect(() => buildConfig({ dkim: { private_key: "config/dkim.pem" } })).toThrow(/dkim\.selector: .*set both or neither/);
  });

  it("refuses unknown keys and malformed selectors", () => {
    expect(() => buildConfig({ dkim: { selector: SELECTOR, private_key: keyPath, canonicalization: "simple" } })).toThrow(/unknown key "dkim\.canonicalization"/);
    expect(() => buildConfig({ dkim: { selector: "bad selector", private_key: keyPath } })).toThrow(/dkim\.selector/);
  });
});
