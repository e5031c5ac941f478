// The per-line checks the trimmer runs on every line of a reply: cheap first tests must never
// change what they answer.
import { describe, expect, it } from "vitest";
import { isBlankLine } from "../../../src/inbound/trim/lines.js";
import { isClientSignatureTag } from "../../../src/inbound/trim/signatures.js";

describe("isBlankLine", () => {
  const invisible = [" ", "\t", "\u00a0", "\u200b", "\u1427", "\u3000", "\ufeff"];

  it.each([0, 1, 63, 64, 65, 200])("is blank for %i invisible characters", (length) => {
    const line = Array.from({ length }, (_, i) => invisible[i % invisible.length]).join("");
    expect(isBlankLine(line)).toBe(true);
  });

  it.each([0, 63, 64, 65, 199])("is not blank with a visible character at %i of 200", (at) => {
    const line = Array.from({ length: 200 }, (_, i) => (i === at ? "x" : invisible[i % invisible.length])).join("");
    expect(isBlankLine(line)).toBe(false);
  });
});

describe("isClientSignatureTag: tags in other languages", () => {
  it.each([
    "Trimis de pe iPhone",
    "Trimis de pe iPhone <https://example.test/app>",
    "iPhone'umdan gönderildi",
    "Outlook für Android herunterladen",
    "Microsoft Outlook für iOS herunterladen",
    "Στάλθηκε από το Samsung μου",
    "נשלח מה-iPhone שלי",
  ])("takes %s for a tag", (line) => {
    expect(isClientSignatureTag(line)).toBe(true);
  });

  it.each([
    "Trimis de pe laptop",
    "Trimis de pe un Samsung foarte vechi pe care l-am primit de la bunica mea",
    "Outlook für Windows herunterladen",
    "Get the Android build from the shared folder",
    "iPhone and Android builds are ready",
    "1XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
  ])("keeps %s as text", (line) => {
    expect(isClientSignatureTag(line)).toBe(false);
  });
});
