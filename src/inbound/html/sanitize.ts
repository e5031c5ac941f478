import sanitizeHtml from "sanitize-html";

/**
 * The author's HTML as every copy may carry it: an allow-list of the markup people write with
 * (links, emphasis, lists, headings, quotes, code, tables, line breaks) and nothing else. No
 * script, event handler, form, frame, object, style sheet, remote image (a tracking pixel) or URL
 * that runs code: the copies go to other people, and Postern would be the one serving it.
 */

/** Beyond this many characters of the author's own HTML, the copies carry the text only: the work stays bounded. */
export const MAX_SANITIZED_HTML_LENGTH = 256_000;

const TAGS = [
  "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "dfn",
  "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
  "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
  "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
];

// A colour, a weight, a slant, a line: values matched whole, so no url(), expression() or
// position can ride along. Anything else the author styled falls back to the reader's defaults.
const COLOUR = [/^#[0-9a-f]{3,8}$/i, /^rgba?\(\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*(,\s*(0|1|0?\.\d+)\s*)?\)$/i, /^[a-z]{3,20}$/i];
const STYLES = {
  color: COLOUR,
  "background-color": COLOUR,
  "font-weight": [/^(normal|bold|bolder|lighter|[1-9]00)$/i],
  "font-style": [/^(normal|italic|oblique)$/i],
  "text-decoration": [/^(none|underline|line-through|overline)$/i],
  "text-align": [/^(left|right|center|justify|start|end)$/i],
};

const SAFE_HREF = /^(https?:\/\/[^\s]+|mailto:[^\s]+)$/i;

export interface SanitizeOptions {
  /** Content-IDs of the inline images the post carries: the only images the HTML may show. */
  readonly inlineImages: ReadonlySet<string>;
}

export function sanitizeAuthorHtml(html: string, options: SanitizeOptions): string {
  return sanitizeHtml(html, {
    allowedTags: TAGS,
    allowedAttributes: {
      "*": ["dir", "lang", "title", "style"],
      a: ["href", "rel"],
      img: ["src", "alt", "width", "height"],
      ol: ["start", "type", "reversed"],
      td: ["colspan", "rowspan", "align", "valign"],
      th: ["colspan", "rowspan", "align", "valign", "scope"],
      col: ["span"],
      colgroup: ["span"],
      p: ["align"],
      div: ["align"],
    },
    allowedStyles: { "*": STYLES },
    allowedSchemes: ["http", "https", "mailto"],
    allowedSchemesByTag: { img: ["cid"] },
    allowedSchemesAppliedToAttributes: ["href", "src", "cite"],
    allowProtocolRelative: false,
    disallowedTagsMode: "discard",
    // What these hold is not text a reader saw; the tags the allow-list drops otherwise keep their text.
    nonTextTags: ["script", "style", "textarea", "option", "noscript", "title", "head", "template", "iframe", "object", "svg", "math", "xml", "select"],
    nestingLimit: 200,
    transformTags: {
      // A link keeps only an absolute web or mail address; relative and scripted ones lose the href.
      a: (tagName, attribs) => {
        const href = (attribs["href"] ?? "").trim();
        const kept: Record<string, string> = SAFE_HREF.test(href) ? { href, rel: "noopener noreferrer" } : {};
        if (attribs["title"]) kept["title"] = attribs["title"];
        if (attribs["dir"]) kept["dir"] = attribs["dir"];
        if (attribs["style"]) kept["style"] = attribs["style"];
        return { tagName, attribs: kept };
      },
    },
    exclusiveFilter: (frame) => frame.tag === "img" && !isInlineImage(frame.attribs["src"], options.inlineImages),
  });
}

function isInlineImage(src: string | undefined, inlineImages: ReadonlySet<string>): boolean {
  const match = /^cid:(.+)$/i.exec((src ?? "").trim());
  if (match === null) return false;
  // RFC 2392: the URL form of a Content-ID is percent-encoded.
  let contentId = match[1] as string;
  try {
    contentId = decodeURIComponent(contentId);
  } catch {
    return false;
  }
  return inlineImages.has(normalizeContentId(contentId));
}

export function normalizeContentId(contentId: string): string {
  return contentId.trim().replace(/^<|>$/g, "").toLowerCase();
}
