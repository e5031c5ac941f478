import { RESERVED_LOCAL_PARTS } from "../config/schema.js";
import { TOKEN_PATTERN } from "./tokens.js";

/**
 * accept+, decline+, note+, every+, digest+ and mute+ carry the participant's reply token (they appear only in mail that
 * also carries reply+TOKEN, so they disclose nothing more); private+ carries the bounce token of
 * the copy it appeared in, which names both that copy's recipient and its post's author.
 */
export type TokenKind = "reply" | "leave" | "accept" | "decline" | "bounce" | "note" | "private" | "every" | "digest" | "mute";
const TOKEN_KINDS: readonly TokenKind[] = ["reply", "leave", "accept", "decline", "bounce", "note", "private", "every", "digest", "mute"];

/** What a gateway address means, before anything is looked up in the database. */
export type GatewayAddress =
  | { readonly type: "token"; readonly kind: TokenKind; readonly token: string }
  | { readonly type: "from_address" }
  | { readonly type: "postmaster"; readonly local: "postmaster" | "abuse" }
  | { readonly type: "reserved"; readonly local: string }
  | { readonly type: "local"; readonly local: string }
  | { readonly type: "foreign" };

/** Lowercases the whole address: Postern treats local parts case-insensitively (SPEC §2). */
export function normalizeEmail(address: string): string {
  return address.trim().replace(/^<|>$/g, "").toLowerCase();
}

export function splitAddress(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

export function isReservedLocalPart(local: string): boolean {
  const base = local.toLowerCase().split("+")[0] ?? "";
  return (RESERVED_LOCAL_PARTS as readonly string[]).includes(base);
}

export function classifyAddress(address: string, domains: readonly string[], fromAddress: string): GatewayAddress {
  const normalized = normalizeEmail(address);
  if (normalized === fromAddress) return { type: "from_address" };
  const parts = splitAddress(normalized);
  if (!parts || !domains.includes(parts.domain)) return { type: "foreign" };
  const { local } = parts;
  const plus = local.indexOf("+");
  if (plus > 0) {
    const kind = local.slice(0, plus) as TokenKind;
    const token = local.slice(plus + 1);
    if (TOKEN_KINDS.includes(kind) && TOKEN_PATTERN.test(token)) return { type: "token", kind, token };
    return { type: "reserved", local };
  }
  if (local === "postmaster" || local === "abuse") return { type: "postmaster", local };
  if (isReservedLocalPart(local)) return { type: "reserved", local };
  return { type: "local", local };
}

export function tokenAddress(kind: TokenKind, token: string, domain: string): string {
  return `${kind}+${token}@${domain}`;
}
