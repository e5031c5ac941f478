// Hostile HTML through the sanitizer: nothing that runs, tracks or submits survives; what the
// author formatted with does.

import { describe, expect, it } from "vitest";
import { sanitizeAuthorHtml } from "../../../src/inbound/html/sanitize.js";

const clean = (html: string, cids: string[] = []) => sanitizeAuthorHtml(html, { inlineImages: new Set(cids) });

describe("sanitizeAuthorHtml: the allow-list", () => {
  it("keeps links, emphasis, lists, headings, quotes, code, tables and line breaks", () => {
    const html =
      '<h2>Plan</h2><p>See <a href="https://x.test/a?b=1&amp;c=2">the plan</a>, <b>bold</b> <i>it</i> <u>u</u><br>next</p>' +
      "<ul><li>one</li></ul><ol start=\"3\"><li>three</li></ol><blockquote>kept quote</blockquote><pre><code>x = 1</code></pre>" +
      '<table><tr><th>a</th><td colspan="2">b</td></tr></table><a href="mailto:bob@x.test">mail</a>';
    const out = clean(html);
    expect(out).toContain('<a href="https://x.test/a?b=1&amp;c=2" rel="noopener noreferrer">the plan</a>');
    expect(out).toContain('<a href="mailto:bob@x.test" rel="noopener noreferrer">mail</a>');
    for (const tag of ["<h2>", "<b>", "<i>", "<u>", "<br />", "<ul>", "<li>", '<ol start="3">', "<blockquote>", "<pre>", "<code>", "<table>", "<th>", '<td colspan="2">']) {
      expect(out).toContain(tag);
    }
  });

  it.each([
    ["a script", '<p>hi</p><script>alert(1)</script>', /script|alert/i],
    ["an event handler", '<p onclick="alert(1)">hi</p><img src="cid:a" onerror="alert(2)">', /onclick|onerror|alert/i],
    ["a javascript: link", '<a href="javascript:alert(1)">x</a><a href=" JaVaScRiPt:alert(1)">y</a><a href="java&#x09;script:alert(1)">z</a>', /javascript|alert|href/i],
    ["a data: link and image", '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a><img src="data:image/png;base64,iVBOR">', /data:|href|<img/i],
    ["a tracking pixel", '<p>hi</p><img src="https://tracker.test/open.gif?u=1" width="1" height="1"><img src="//tracker.test/p.gif">', /tracker|<img/i],
    ["a CSS expression and url()", '<p style="width:expression(alert(1));background:url(https://tracker.test/p.gif);color:red">hi</p><p style="color:url(x)">b</p>', /expression|url\(|tracker|width/i],
    ["an iframe", '<iframe src="https://evil.test/"></iframe><p>hi</p>', /iframe|evil/i],
    ["a form", '<form action="https://evil.test/"><input name="password"><button formaction="https://evil.test">Go</button></form>', /form|input|evil/i],
    ["an svg with onload", '<svg onload="alert(1)"><script>alert(2)</script></svg><p>hi</p>', /svg|onload|alert/i],
    ["a style sheet", "<style>body{background:url(https://tracker.test/p.gif)}</style><p>hi</p>", /style|tracker/i],
    ["a base", '<base href="https://evil.test/"><a href="/login">x</a>', /base|evil|href/i],
    ["a meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.test/"><p>hi</p>', /meta|refresh|evil/i],
    ["an object, embed and link", '<object data="https://evil.test/x.swf"></object><embed src="https://evil.test/e"><link rel="stylesheet" href="https://evil.test/s.css"><p>hi</p>', /object|embed|link|evil/i],
    ["a relative or protocol-relative link", '<a href="//evil.test/">a</a><a href="/relative">b</a>', /href/i],
  ])("removes %s", (_name, html, forbidden) => {
    expect(clean(html, ["a"])).not.toMatch(forbidden);
  });

  it("keeps an inline image the post carries and drops one it does not", () => {
    expect(clean('<img src="cid:ii_1" alt="chart"><img src="cid:other" alt="x">', ["ii_1"])).toBe('<img src="cid:ii_1" alt="chart" />');
  });

  it("keeps harmless colours and weights, nothing else of a style", () => {
    expect(clean('<span style="color:#c00;font-weight:bold;position:fixed;top:0">red</span>')).toBe('<span style="color:#c00;font-weight:bold">red</span>');
  });
});
