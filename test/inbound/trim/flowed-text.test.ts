import { describe, expect, it } from "vitest";
import { decodeFlowedText } from "../../../src/inbound/trim/flowed-text.js";

describe("decodeFlowedText (RFC 3676)", () => {
  it("joins a soft-broken quoted paragraph at its own depth, without a stray '>'", () => {
    const text = "> Should the invoice go to the same address, or has anything \n> changed since?\n\nNo.";
    expect(decodeFlowedText(text)).toBe("> Should the invoice go to the same address, or has anything changed since?\n\nNo.");
  });

  it("joins unquoted soft breaks and removes space stuffing", () => {
    expect(decodeFlowedText("Yes please, go \nahead.\n From the start.")).toBe("Yes please, go ahead.\nFrom the start.");
  });

  it("ends a paragraph where the quote depth changes", () => {
    expect(decodeFlowedText(">> deep \n> shallow")).toBe(">> deep \n> shallow");
  });

  it("never joins across the signature separator", () => {
    expect(decodeFlowedText("Thanks\n-- \nAnn")).toBe("Thanks\n-- \nAnn");
  });

  it("removes the space before a soft break with DelSp=yes", () => {
    expect(decodeFlowedText("Zusammen \ngeschrieben", true)).toBe("Zusammengeschrieben");
  });

  it("keeps an empty quoted line as the bare marker", () => {
    expect(decodeFlowedText("> Hi,\n>\n> Bye")).toBe("> Hi,\n>\n> Bye");
  });
});
