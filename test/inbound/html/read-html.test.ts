// Each quote-block and signature kind clients mark in HTML, cut from the post; what the author
// wrote, and inline answers, stay.

import { describe, expect, it } from "vitest";
import { readHtml } from "../../../src/inbound/html/read-html.js";

const read = (html: string, mode: "reply" | "opening" = "reply", forwardSubject = false) =>
  readHtml(html, { mode, forwardSubject, inlineImages: new Set() })!;

const ANSWER = "<div>The dates work for us.</div><div>Bob</div>";
const OLD = "Could you confirm the rollout dates before Friday?";

describe("readHtml: quote blocks", () => {
  it.each([
    ["Gmail's gmail_quote", `${ANSWER}<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, Alice wrote:<br></div><blockquote class="gmail_quote">${OLD}</blockquote></div>`],
    ["Apple Mail's blockquote type=cite", `${ANSWER}<div><br><blockquote type="cite"><div>On 3 Mar 2025, at 16:02, Alice wrote:</div><div>${OLD}</div></blockquote></div>`],
    ["Thunderbird's moz-cite-prefix", `${ANSWER}<div class="moz-cite-prefix">On 03/03/2025 16:02, Alice wrote:<br></div><blockquote type="cite">${OLD}</blockquote>`],
    ["Thunderbird bottom-posted", `<div class="moz-cite-prefix">On 03/03/2025 16:02, Alice wrote:<br></div><blockquote type="cite">${OLD}</blockquote>${ANSWER}`],
    ["Outlook's divRplyFwdMsg", `${ANSWER}<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Alice<br><b>Sent:</b> Monday</div><div>${OLD}</div>`],
    ["Outlook desktop's border-top header", `<div class="WordSection1"><p class="MsoNormal">The dates work for us.</p><p class="MsoNormal">Bob</p><div style="border:none;border-top:solid #E1E1E1 1.0pt"><p><b>Von:</b> Alice<br><b>Gesendet:</b> Montag</p></div><p>${OLD}</p></div>`],
    ["Yahoo's yahoo_quoted", `${ANSWER}<div id="ydp1yahoo_quoted_99" class="ydp1yahoo_quoted"><div>On Monday, Alice wrote:</div><div>${OLD}</div></div>`],
  ])("cuts %s", (_name, html) => {
    const reading = read(html);
    expect(reading.text).toBe("The dates work for us.\nBob");
    expect(reading.html).toContain("The dates work for us.");
    expect(reading.html).not.toContain("Friday");
    expect(reading.html).not.toContain("wrote");
    expect(reading.quoted).toContain("rollout dates");
  });

  it("keeps the full stop after formatting that ends right before the quote", () => {
    const reading = read('<p>It leaves <b>today</b>.</p><div class="gmail_quote">On Sun, Carol wrote:<blockquote>Hello</blockquote></div>');
    expect(reading?.html).toBe("<p>It leaves <b>today</b>.</p>");
    expect(reading?.text).toBe("It leaves today.");
  });

  it("keeps a blockquote with the author's answers on both sides (inline answers)", () => {
    const html = `<div>Hi Alice,</div><blockquote type="cite">Can you do Monday?</blockquote><div>Yes, Monday works.</div><blockquote type="cite">And the room?</blockquote><div>Room 4.</div>`;
    const reading = read(html);
    expect(reading.html).toContain("Can you do Monday?");
    expect(reading.html).toContain("Yes, Monday works.");
    // The last quote has nothing of the author's after it... but "Room 4." follows, so it stays too.
    expect(reading.html).toContain("And the room?");
  });

  it("cuts a quote header no markup marks, as the text trimmer does (Samsung's Original message)", () => {
    const html = `<div dir="auto">Keys tomorrow.</div><div>Amir</div><div><div>-------- Original message --------</div><div>From: Alice &lt;a@x.test&gt;</div><div>Date: 03/03/2025</div><div>Subject: Keys</div></div>${OLD}`;
    const reading = read(html);
    expect(reading.text).toBe("Keys tomorrow.\nAmir");
    expect(reading.html).not.toContain("Original message");
  });

  it("keeps a Gmail forward in an opening message and cuts it from a reply", () => {
    const html = `<div>See below.</div><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: Carol &lt;c@x.test&gt;<br>Subject: Order<br></div><div>Order 7731 is confirmed.</div></div>`;
    expect(read(html, "reply").text).toBe("See below.");
    const opening = read(html, "opening");
    expect(opening.html).toContain("Order 7731 is confirmed.");
    expect(opening.forwarded).toContain("Forwarded message");
  });

  it("keeps Apple Mail's Begin forwarded message in an opening message", () => {
    const html = `<div>Please confirm.</div><blockquote type="cite"><div>Begin forwarded message:</div><div><b>From: </b>Grace</div><div>Thursday 8 to 10?</div></blockquote>`;
    expect(read(html, "opening", true).html).toContain("Thursday 8 to 10?");
    expect(read(html, "reply", true).html).not.toContain("Thursday");
  });

  it("keeps Outlook's header block in an opening message whose subject says it is a forward", () => {
    const html = `<div>FYI</div><hr><div id="divRplyFwdMsg"><b>From:</b> Peter<br><b>Sent:</b> Monday</div><div>The pallet arrived crushed.</div>`;
    expect(read(html, "opening", true).forwarded).toContain("The pallet arrived crushed.");
    expect(read(html, "opening", false).html).not.toContain("pallet");
  });
});

describe("readHtml: signatures", () => {
  it.each([
    ["Gmail's gmail_signature", '<div class="gmail_signature" data-smartmail="gmail_signature">Bob Customer<br>Head of Ops</div>'],
    ["Gmail's data-smartmail alone", '<div data-smartmail="gmail_signature">Bob Customer<br>Head of Ops</div>'],
    ["Thunderbird's moz-signature", '<pre class="moz-signature">-- \nBob Customer\nHead of Ops</pre>'],
    ["Outlook's #Signature", '<div id="Signature"><div>Bob Customer</div><div>Head of Ops</div></div>'],
    ["Outlook mobile's signature", '<div id="ms-outlook-mobile-signature">Get <a href="https://aka.ms/x">Outlook for iOS</a></div>'],
    ["Apple's Sent from my iPhone", '<div dir="ltr"><br><div dir="ltr">Sent from my iPhone</div></div>'],
  ])("cuts %s", (_name, signature) => {
    const reading = read(`<div>Thanks for the update.</div>${signature}`);
    expect(reading.text).toBe("Thanks for the update.");
    expect(reading.html).toBe("<div>Thanks for the update.</div>");
    expect(reading.signatures.join(" ")).toMatch(/Bob Customer|Outlook|iPhone/);
  });
});

describe("readHtml: bounds", () => {
  it("gives up on HTML nested deeper than a client writes, without exhausting the stack", () => {
    expect(readHtml("<div>".repeat(100_000) + "deep", { mode: "reply", forwardSubject: false, inlineImages: new Set() })).toBeUndefined();
  });

  it("removes text the author's client hid (preheaders, hidden parts)", () => {
    const reading = read('<div style="display:none">Preheader text</div><div hidden>hidden</div><p>Visible.</p>');
    expect(reading.text).toBe("Visible.");
  });
});
