import type { PostContent } from "./content.js";
import type { ForwardedMessage } from "./parse.js";

/**
 * A message forwarded as an attachment (message/rfc822) is what its forwarder passes on, like an
 * inline forward: the post that starts a conversation shows it after the forwarder's note, with
 * its From/Date/Subject/To block, so the team sees who wrote it without opening the attachment
 * (which stays attached as sent).
 */
export function withForwardedMessages(opening: PostContent, forwarded: readonly ForwardedMessage[]): PostContent {
  if (forwarded.length === 0) return opening;
  const blocks = forwarded.map(textBlock);
  const text = [opening.text.trimEnd(), ...blocks].filter((part) => part.length > 0).join("\n\n");
  const html = opening.html === null ? null : `${opening.html}\n${forwarded.map(htmlBlock).join("\n")}`;
  return { text, html };
}

function fieldsOf(message: ForwardedMessage): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ["From", message.from],
    ["Date", message.date],
    ["Subject", message.subject],
    ["To", message.to],
  ];
  return fields.filter(([, value]) => value.length > 0);
}

function textBlock(message: ForwardedMessage): string {
  const head = ["---------- Forwarded message ----------", ...fieldsOf(message).map(([name, value]) => `${name}: ${value}`)];
  return `${head.join("\n")}\n\n${message.text.trim()}`;
}

function htmlBlock(message: ForwardedMessage): string {
  const head = fieldsOf(message)
    .map(([name, value]) => `<b>${name}:</b> ${escapeHtml(value)}`)
    .join("<br>");
  const body = message.text
    .trim()
    .split(/\n{2,}/)
    .map((paragraph) => `<p>${escapeHtml(paragraph).replace(/\n/g, "<br>")}</p>`)
    .join("");
  return `<div><p>---------- Forwarded message ----------<br>${head}</p><blockquote>${body}</blockquote></div>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}
