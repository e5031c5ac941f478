// Postern's own reply-trimming fixture set (test/fixtures/trim-clients/): every client's quote
// header, forward marker and sign-off tag in 24 languages, plus the hard shapes. The target is at
// least 95% exact under the shared corpus's normalisation; the figure is printed.

import { describe, expect, it } from "vitest";
import { trim } from "../../../src/inbound/trim/trim.js";
import { breakdown, buildTrimCases, normalise, scoreTrimCases } from "../../fixtures/trim-clients/cases.js";

const cases = buildTrimCases();

describe("trim: Postern's client fixture set", () => {
  it("covers every client in at least 20 languages", () => {
    const languagesByClient = new Map<string, Set<string>>();
    for (const c of cases) {
      const languages = languagesByClient.get(c.client) ?? new Set<string>();
      languages.add(c.language);
      languagesByClient.set(c.client, languages);
    }
    for (const client of [
      "gmail-web", "gmail-android", "gmail-ios", "outlook-desktop", "outlook-web", "outlook-ios", "outlook-android",
      "apple-mail-macos", "apple-mail-ios", "thunderbird", "yahoo", "samsung-email", "blackberry",
    ]) {
      expect(languagesByClient.get(client)?.size ?? 0, client).toBeGreaterThanOrEqual(20);
    }
    expect(cases.length).toBeGreaterThan(1000);
  });

  it("trims at least 95% of the cases exactly", () => {
    const score = scoreTrimCases(trim, cases);
    const percent = (100 * score.exact) / score.total;
    const below = [...breakdown(score, cases, "client"), ...breakdown(score, cases, "language")];
    process.stdout.write(
      `trim client fixtures: ${score.exact}/${score.total} exact (${percent.toFixed(1)}%)` +
        (below.length ? `; below 100%: ${below.join(", ")}` : "") +
        "\n",
    );
    expect(percent).toBeGreaterThanOrEqual(95);
  });

  it("keeps the author's sign-off in every reply case", () => {
    for (const c of cases.filter((c) => c.shape === "reply")) {
      const lastLine = c.expected.split("\n").at(-1) ?? "";
      expect(normalise(trim(c.input, c.options)), c.name).toContain(lastLine);
    }
  });
});

describe("trim: keepForwarded", () => {
  const note = "Hi team, this customer wrote to me directly, can someone pick it up?\n\nThanks,\nAnn";
  const forward = [
    "---------- Forwarded message ---------",
    "From: Carol Diaz <carol@customer.test>",
    "Date: Tue, Mar 4, 2025 at 9:12 AM",
    "Subject: Order 1234 is late",
    "To: Ann Lee <ann@example.com>",
    "",
    "Hello, order 1234 has not arrived.",
    "",
    "Carol",
  ].join("\n");

  it("keeps the note and the whole forwarded message, and drops the author's signature above it", () => {
    const input = `${note}\n\n-- \nAnn Lee | Example Corp\n\n${forward}`;
    expect(trim(input, { keepForwarded: true })).toBe(`${note}\n\n${forward}`);
  });

  it("keeps who wrote a pure forward, and when", () => {
    expect(trim(`Sent from my iPhone\n\n${forward}`, { keepForwarded: true })).toBe(forward);
  });

  it("keeps an Outlook forward with the rule line above its header block", () => {
    const outlook = "________________________________\nFrom: Carol Diaz <carol@customer.test>\nSent: Tuesday, March 4, 2025 9:12 AM\nTo: Ann Lee\nSubject: Order 1234\n\nHello, order 1234 has not arrived.";
    expect(trim(`${note}\n\n${outlook}`, { keepForwarded: true })).toBe(`${note}\n\n${outlook}`);
  });

  it("still trims a reply: an attribution is not a forward", () => {
    const input = `${note}\n\nOn Tue, Mar 4, 2025 at 9:12 AM Carol <carol@customer.test> wrote:\n> Hello\n\n${forward}`;
    expect(trim(input, { keepForwarded: true })).toBe(note);
  });

  it("without the option drops the forwarded message from a reply, as before", () => {
    expect(trim(`${note}\n\n${forward}`)).toBe(note);
  });
});
