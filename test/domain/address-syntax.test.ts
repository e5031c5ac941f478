import { simpleParser, type AddressObject, type EmailAddress } from "mailparser";
import { describe, expect, it } from "vitest";
import { checkAddress, isValidAddress } from "../../src/domain/address-syntax.js";

const SMTPUTF8_REASON = "the local part has non-ASCII characters (SMTPUTF8 addresses are not supported)";

function message(ccLines: string): Buffer {
  return Buffer.from(`From: alice@x.test\r\nTo: team@x.test\r\n${ccLines}\r\nSubject: hi\r\nMessage-ID: <m1@x.test>\r\n\r\nbody\r\n`, "utf8");
}

/** The mailbox entries mailparser yields for Cc, flattening groups the way a recipient list would. */
async function ccEntries(raw: Buffer): Promise<EmailAddress[]> {
  const parsed = await simpleParser(raw);
  const cc: AddressObject[] = parsed.cc === undefined ? [] : Array.isArray(parsed.cc) ? parsed.cc : [parsed.cc];
  return cc.flatMap((object) => object.value).flatMap((entry) => (entry.group ? entry.group : [entry]));
}

describe("checkAddress on what mailparser 3.9 actually yields for odd Cc entries", () => {
  it("handles an internationalised domain, an empty-domain mailbox, a root-dot domain and a normal address", async () => {
    const entries = await ccEntries(message(`Cc: bob@bücher.example, "D" <d@>, foo@bar.com., ok@x.test`));
    // Pinned so the integration knows its input: mailparser keeps the Unicode domain, drops the
    // angle brackets, keeps the trailing dot and does not reject d@.
    expect(entries).toEqual([
      { address: "bob@bücher.example", name: "" },
      { address: "d@", name: "D" },
      { address: "foo@bar.com.", name: "" },
      { address: "ok@x.test", name: "" },
    ]);
    expect(entries.map((entry) => checkAddress(entry.address ?? ""))).toEqual([
      { ok: true, address: "bob@xn--bcher-kva.example" },
      { ok: false, reason: '"d@" has no domain' },
      { ok: true, address: "foo@bar.com" },
      { ok: true, address: "ok@x.test" },
    ]);
  });

  it("handles a folded Cc line whose middle entry comes out as d@", async () => {
    const entries = await ccEntries(message(`Cc: ok@x.test,\r\n d@,\r\n "Carol" <Carol@Example.TEST>`));
    expect(entries).toEqual([
      { address: "ok@x.test", name: "" },
      { address: "d@", name: "" },
      { address: "Carol@Example.TEST", name: "Carol" },
    ]);
    expect(entries.map((entry) => checkAddress(entry.address ?? ""))).toEqual([
      { ok: true, address: "ok@x.test" },
      { ok: false, reason: '"d@" has no domain' },
      { ok: true, address: "carol@example.test" },
    ]);
  });

  it("handles a fold inside a display-name entry and a fold inside the address itself", async () => {
    const entries = await ccEntries(message(`Cc: ok@x.test, "D"\r\n <d@>, e\r\n @, f@y.test`));
    // Unfolding leaves the folding whitespace inside the address when the fold splits it.
    expect(entries.map((entry) => entry.address)).toEqual(["ok@x.test", "d@", "e @", "f@y.test"]);
    expect(entries.map((entry) => checkAddress(entry.address ?? ""))).toEqual([
      { ok: true, address: "ok@x.test" },
      { ok: false, reason: '"d@" has no domain' },
      { ok: false, reason: '"e @" has no domain' },
      { ok: true, address: "f@y.test" },
    ]);
  });

  it("gets a Unicode domain back from mailparser even when the header carried punycode", async () => {
    const entries = await ccEntries(message(`Cc: =?UTF-8?Q?B=C3=B6b?= <bob@xn--bcher-kva.example>, <用户@例子.广告>, Foo@Bar.COM.`));
    expect(entries).toEqual([
      { address: "bob@bücher.example", name: "Böb" },
      { address: "用户@例子.广告", name: "" },
      { address: "Foo@Bar.COM.", name: "" },
    ]);
    expect(entries.map((entry) => checkAddress(entry.address ?? ""))).toEqual([
      { ok: true, address: "bob@xn--bcher-kva.example" },
      { ok: false, reason: SMTPUTF8_REASON },
      { ok: true, address: "foo@bar.com" },
    ]);
  });

  it("yields empty, quote-stripped, route and group entries that checkAddress refuses or flattens", async () => {
    const entries = await ccEntries(
      message(`Cc: plainword, "D" <>, "quoted local"@x.test, <@route:a@x.test>, friends: g@x.test;, undisclosed-recipients:;`),
    );
    expect(entries).toEqual([
      { address: "", name: "plainword" },
      { address: "", name: "D" },
      { address: "quoted local@x.test", name: "" },
      { address: "@route:a@x.test", name: "" },
      { address: "g@x.test", name: "" },
    ]);
    expect(entries.map((entry) => checkAddress(entry.address ?? ""))).toEqual([
      { ok: false, reason: "the address is empty" },
      { ok: false, reason: "the address is empty" },
      { ok: false, reason: '"quoted local@x.test" has a character not allowed in its local part (" ")' },
      { ok: false, reason: '"@route:a@x.test" has more than one "@"' },
      { ok: true, address: "g@x.test" },
    ]);
  });
});

describe("checkAddress: accepted addresses and their normalised form", () => {
  const valid: [raw: string, address: string][] = [
    ["ok@x.test", "ok@x.test"],
    ["  Alice@Example.COM  ", "alice@example.com"],
    ["<bob@x.test>", "bob@x.test"],
    [" < bob@x.test > ", "bob@x.test"],
    ["foo@bar.com.", "foo@bar.com"],
    ["Foo@Bar.COM.", "foo@bar.com"],
    ["bob@bücher.example", "bob@xn--bcher-kva.example"],
    ["bob@BÜCHER.example", "bob@xn--bcher-kva.example"],
    ["bob@bücher.example.", "bob@xn--bcher-kva.example"],
    ["bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"],
    ["bob@XN--BCHER-KVA.example", "bob@xn--bcher-kva.example"],
    ["user@例子.广告", "user@xn--fsqu00a.xn--4rr70v"],
    ["user@例子。广告", "user@xn--fsqu00a.xn--4rr70v"],
    ["strasse@straße.de", "strasse@xn--strae-oqa.de"],
    ["a.b.c@x.test", "a.b.c@x.test"],
    ["reply+abc123@x.test", "reply+abc123@x.test"],
    ["!#$%&'*+/=?^_`{|}~-@x.test", "!#$%&'*+/=?^_`{|}~-@x.test"],
    ["o'brien@x.test", "o'brien@x.test"],
    ["a@sub-domain.x.test", "a@sub-domain.x.test"],
    ["a@123.example", "a@123.example"],
    ["a@x.t3st", "a@x.t3st"],
    ["x@x.co", "x@x.co"],
    [`${"l".repeat(64)}@x.test`, `${"l".repeat(64)}@x.test`],
    [`a@${"d".repeat(63)}.test`, `a@${"d".repeat(63)}.test`],
    // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254
    [`${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(61)}`, `${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(61)}`],
  ];

  it.each(valid)("%j → %j", (raw, address) => {
    expect(checkAddress(raw)).toEqual({ ok: true, address });
    expect(isValidAddress(raw)).toBe(true);
  });

  it("is idempotent on its own output", () => {
    for (const [, address] of valid) expect(checkAddress(address)).toEqual({ ok: true, address });
  });
});

describe("checkAddress: refused addresses and their reasons", () => {
  const invalid: [raw: string, reason: string][] = [
    ["", "the address is empty"],
    ["   ", "the address is empty"],
    ["<>", "the address is empty"],
    ["plainword", '"plainword" has no "@"'],
    ["d@", '"d@" has no domain'],
    ["<D@>", '"D@" has no domain'],
    ["d@.", '"d@." has no domain'],
    ["@x.test", '"@x.test" has nothing before the "@"'],
    ["a@b@x.test", '"a@b@x.test" has more than one "@"'],
    ["a@b..c", '"a@b..c" has an empty part in its domain'],
    ["a@.x.test", '"a@.x.test" has an empty part in its domain'],
    ["foo@bar.com..", '"foo@bar.com.." has an empty part in its domain'],
    ["a@bü..c", '"a@bü..c" has an empty part in its domain'],
    ["a@localhost", '"a@localhost" has no dot in its domain'],
    ["a@localhost.", '"a@localhost." has no dot in its domain'],
    ["a@-x.test", '"a@-x.test" has a domain part starting or ending with "-"'],
    ["a@x-.test", '"a@x-.test" has a domain part starting or ending with "-"'],
    ["a@-bü.test", '"a@-bü.test" has a domain part starting or ending with "-"'],
    ["a@bü-.test", '"a@bü-.test" has a domain part starting or ending with "-"'],
    [`a@${"d".repeat(64)}.test`, `"a@${"d".repeat(64)}.test" has a domain part longer than 63 characters`],
    ["a@x_y.test", '"a@x_y.test" has a character not allowed in its domain ("_")'],
    ["a@bü_c.test", '"a@bü_c.test" has a character not allowed in its domain ("_")'],
    ["a@x!.test", '"a@x!.test" has a character not allowed in its domain ("!")'],
    ["a@bü cher.test", '"a@bü cher.test" has a domain that cannot be converted to ASCII (IDNA)'],
    ["a@xn--zz.test", '"a@xn--zz.test" has a domain that cannot be converted to ASCII (IDNA)'],
    ["a@[127.0.0.1]", '"a@[127.0.0.1]" has an IP address instead of a domain name'],
    ["a@127.0.0.1", '"a@127.0.0.1" has a domain ending in a number (IP addresses are not accepted)'],
    ["a@0x7f.1", '"a@0x7f.1" has a domain ending in a number (IP addresses are not accepted)'],
    ["a@１２７.０.０.１", '"a@１２７.０.０.１" has a domain ending in a number (IP addresses are not accepted)'],
    ["用户@例子.广告", SMTPUTF8_REASON],
    ["用户@x.test", SMTPUTF8_REASON],
    ["josé@x.test", SMTPUTF8_REASON],
    // KELVIN SIGN lowercases to ASCII "k"; it must not slip through as the mailbox k@x.test.
    ["\u212a@x.test", SMTPUTF8_REASON],
    [".a@x.test", '".a@x.test" has a dot at the start or end of its local part'],
    ["a.@x.test", '"a.@x.test" has a dot at the start or end of its local part'],
    ["a..b@x.test", '"a..b@x.test" has two dots in a row in its local part'],
    ["a b@x.test", '"a b@x.test" has a character not allowed in its local part (" ")'],
    ["e @", '"e @" has no domain'],
    ['"a"@x.test', '"\\"a\\"@x.test" has a character not allowed in its local part ("\\"")'],
    ["a,b@x.test", '"a,b@x.test" has a character not allowed in its local part (",")'],
    ["a(b)@x.test", '"a(b)@x.test" has a character not allowed in its local part ("(")'],
    ["<a@x.test", '"<a@x.test" has a character not allowed in its local part ("<")'],
    ["a\r\nb@x.test", '"a\\r\\nb@x.test" has a character not allowed in its local part ("\\r")'],
    [`${"l".repeat(65)}@x.test`, `"${"l".repeat(65)}@x.test" has a local part longer than 64 characters`],
    [
      `${"l".repeat(64)}@${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(62)}`,
      `"${"l".repeat(64)}@${"a".repeat(12)}..." is longer than 254 characters`,
    ],
  ];

  it.each(invalid)("%j", (raw, reason) => {
    expect(checkAddress(raw)).toEqual({ ok: false, reason });
    expect(isValidAddress(raw)).toBe(false);
  });

  it("keeps reasons to one short line whatever the input", () => {
    for (const [raw] of invalid) {
      const result = checkAddress(raw);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.reason).not.toMatch(/[\r\n]/);
        expect(result.reason.length).toBeLessThan(140);
      }
    }
  });
});
