import { linkify } from "./linkify.js";
import { capText, displayNameText, flattenText, MAX_FOOTER_SUBJECT_LENGTH, MAX_VIA_LENGTH } from "./user-text.js";

/**
 * The text of a post's copy: the post itself, then a short footer. SPEC §1: outbound mail must
 * not read like a bare notification from an unfamiliar system, so the footer says who wrote, that
 * replying answers the conversation, where else one can write, and how to leave.
 */
export interface PostBodyInput {
  readonly body: string;
  /** Participants whose mail stopped because it kept bouncing, named once to the others (SPEC §3). */
  readonly notReceiving?: readonly string[];
  /** The author's own formatting (sanitized, trimmed HTML), used for the HTML part instead of the text. */
  readonly html?: string | null;
  readonly authorName: string;
  readonly conversationSubject: string;
  /** "Support" for an inbox conversation, else the site name. */
  readonly via: string;
  readonly leaveAddress: string;
  /**
   * This copy is an internal note: it says so before anything else (so nobody answers it in
   * public by mistake), and names the reader's reply address for answering the conversation.
   */
  readonly note?: { readonly replyAddress: string };
  /** A group member's copy of a public post in an inbox conversation: where they write internal notes. */
  readonly noteAddress?: string;
  /** every+, digest+ and mute+ addresses: how the reader receives this conversation (SPEC §6). */
  readonly modeAddresses?: { readonly every: string; readonly digest: string; readonly mute: string };
  /** Where the reader answers the author alone (SPEC §2, private+TOKEN@). */
  readonly privateAddress?: string;
  /**
   * Inline images of the original. Those the author's HTML does not show (all of them, when the
   * HTML is rebuilt from the text) are shown after the text: an unreferenced part of
   * multipart/related is hidden by some clients.
   */
  readonly inlineImages?: readonly { readonly cid: string; readonly alt: string }[];
}

export interface BodyParts {
  readonly text: string;
  readonly html: string;
}

/** One footer sentence; the addresses in it, if any, become mailto links in HTML. */
interface FooterLine {
  readonly text: string;
  readonly address?: string;
  readonly addresses?: readonly string[];
}

export function postBody(input: PostBodyInput): BodyParts {
  const body = input.body.trim();
  // Names and subjects are user text: flattened to one line and capped, so none can start a
  // line of its own and pass for one of the footer's lines below.
  const author = displayNameText(input.authorName) || "Someone";
  const subject = capText(flattenText(input.conversationSubject), MAX_FOOTER_SUBJECT_LENGTH);
  const via = displayNameText(input.via, MAX_VIA_LENGTH);
  const banner = input.note ? `[Internal note] Only the members of ${via} see this message; the person the conversation is with does not.` : undefined;
  const footer: FooterLine[] = input.note
    ? [
        { text: `${author} wrote this internal note in the conversation "${subject}" (${via}).` },
        { text: `Reply to this email to add another internal note; only the members of ${via} receive it.` },
        line("To answer in the conversation instead, so that everyone in it receives it, send an email to", input.note.replyAddress),
      ]
    : [
        { text: `${author} wrote this in the conversation "${subject}" (${via}).` },
        { text: "Reply to this email to answer in the conversation; your reply goes to its participants." },
        ...(input.noteAddress ? [line(`To write an internal note that only the members of ${via} see, send it to`, input.noteAddress)] : []),
      ];
  if (input.privateAddress) footer.push(line(`To answer ${author} privately, so that only they receive it, send it to`, input.privateAddress));
  const modes = input.modeAddresses;
  if (modes) {
    footer.push({
      text: `Receive this conversation: every message ${modes.every}, in a digest ${modes.digest}, or muted ${modes.mute}.`,
      addresses: [modes.every, modes.digest, modes.mute],
    });
  }
  footer.push(line("To leave the conversation, send an email to", input.leaveAddress));
  const stopped = (input.notReceiving ?? []).map((name) => displayNameText(name) || "Someone");
  if (stopped.length > 0) {
    const who = stopped.length === 1 ? `${stopped[0]} is` : `${stopped.slice(0, -1).join(", ")} and ${stopped[stopped.length - 1]} are`;
    footer.unshift({ text: `${who} not receiving mail from this conversation any more: mail to their address kept bouncing.` });
  }

  // "-- " is the signature separator: clients grey it out, and reply trimming drops it when quoted.
  const text = `${banner ? `${banner}\n\n` : ""}${body}\n\n-- \n${footer.map((f) => f.text).join("\n")}\n`;
  const html = htmlDocument(
    (banner ? `<p style="background:#fff4d6;border-left:4px solid #e0a800;padding:6px 10px"><strong>${escapeHtml(banner)}</strong></p>\n` : "") +
      `${postHtml(body, input.html)}\n${images(unreferenced(input.inlineImages ?? [], input.html))}<hr style="border:none;border-top:1px solid #ddd;margin:24px 0 8px">\n` +
      `<p style="color:#666;font-size:12px;line-height:1.5">` +
      footer.map(footerHtml).join("<br>\n") +
      `</p>`,
  );
  return { text, html };
}

function line(lead: string, address: string): FooterLine {
  return { text: `${lead} ${address}.`, address };
}

function footerHtml(footerLine: FooterLine): string {
  const addresses = footerLine.addresses ?? (footerLine.address ? [footerLine.address] : []);
  let rest = footerLine.text;
  let html = "";
  // Right to left, each address the last occurrence: user text (a name) earlier in the line cannot take the link.
  for (const address of [...addresses].reverse()) {
    const at = rest.lastIndexOf(address);
    if (at < 0) continue;
    html = `<a href="mailto:${escapeHtml(address)}">${escapeHtml(address)}</a>${escapeHtml(rest.slice(at + address.length))}${html}`;
    rest = rest.slice(0, at);
  }
  return escapeHtml(rest) + html;
}

export function forwardBody(input: { readonly gatewayName: string; readonly to: string; readonly from: string; readonly receivedAt: Date; readonly originalIncluded: boolean }): BodyParts {
  const lines = [
    `${input.gatewayName} received a message addressed to ${input.to} from ${input.from} on ${input.receivedAt.toUTCString()}.`,
    input.originalIncluded
      ? "The original message is attached unchanged."
      : "The original message was not kept, so it cannot be attached.",
    "You receive this because you are an administrator of this gateway.",
  ];
  const text = `${lines.join("\n\n")}\n`;
  return { text, html: htmlDocument(lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("\n")) };
}

/**
 * The post in the copy's HTML: the author's own (sanitized when it arrived), or the text with its
 * paragraphs and line breaks, web and mail addresses made links.
 */
function postHtml(body: string, html: string | null | undefined): string {
  if (html?.trim()) return `<div>${html}</div>`;
  // Every copy of a post links the same text: once per text, remembered by the text itself.
  let linked = linkedBodies.get(body);
  if (linked === undefined) {
    linked = linkedParagraphs(body);
    if (body.length <= MAX_LINKED_CHARS / 4) {
      linkedBodies.set(body, linked);
      linkedChars += body.length;
      while (linkedChars > MAX_LINKED_CHARS) {
        const oldest = linkedBodies.keys().next().value as string;
        linkedBodies.delete(oldest);
        linkedChars -= oldest.length;
      }
    }
  }
  return linked;
}

const linkedBodies = new Map<string, string>();
let linkedChars = 0;
const MAX_LINKED_CHARS = 2 * 1024 * 1024;

function unreferenced(list: readonly { readonly cid: string; readonly alt: string }[], html: string | null | undefined): { cid: string; alt: string }[] {
  if (!html?.trim()) return [...list];
  const shown = new Set<string>();
  for (const match of html.matchAll(/\ssrc="cid:([^"]+)"/gi)) shown.add(contentIdKey(match[1] as string));
  return list.filter((image) => !shown.has(contentIdKey(image.cid)));
}

function contentIdKey(cid: string): string {
  let key = cid;
  try {
    key = decodeURIComponent(cid);
  } catch {
    // Not percent-encoded after all: compared as written.
  }
  return key.trim().replace(/^<|>$/g, "").toLowerCase();
}

function images(list: readonly { readonly cid: string; readonly alt: string }[]): string {
  return list
    .map((image) => `<p><img src="cid:${escapeHtml(image.cid)}" alt="${escapeHtml(image.alt)}" style="max-width:100%"></p>\n`)
    .join("");
}

/** Blank lines separate paragraphs, single newlines are line breaks: what the author saw. */
export function paragraphs(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .split(/\n{2,}/)
    .filter((block) => block.trim() !== "")
    .map((block) => `<p>${block.split("\n").map(escapeHtml).join("<br>\n")}</p>`)
    .join("\n");
}

/** As paragraphs(), with web and mail addresses made links: a post that came as plain text. */
export function linkedParagraphs(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .split(/\n{2,}/)
    .filter((block) => block.trim() !== "")
    .map((block) => `<p>${block.split("\n").map(linkify).join("<br>\n")}</p>`)
    .join("\n");
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// No remote resources, no external CSS: nothing that tracks a reader or breaks offline.
export function htmlDocument(content: string): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n<body style="font-family:sans-serif;font-size:14px">\n${content}\n</body></html>\n`;
}
