import type { Config } from "../config/config.js";
import { newToken, TOKEN_PATTERN } from "./tokens.js";

/**
 * Every Message-ID Postern mints, and the one test of whether a Message-ID is Postern's and of
 * what kind. Threading looks posts up by their stored ids; the loop guard and classification ask
 * here.
 */
export type MessageIdKind = "post" | "forward" | "invitation" | "digest" | "confirmation" | "appointment";
const KINDS: readonly MessageIdKind[] = ["post", "forward", "invitation", "digest", "confirmation", "appointment"];

export interface OwnMessageId {
  /** `legacy`: minted before ids carried their kind (`<postern.TOKEN@DOMAIN>`, posts and forwards). */
  readonly kind: MessageIdKind | "legacy";
  readonly token: string;
}

/**
 * `<postern.KIND.TOKEN@DOMAIN>`. Pass a token derived from the thing being sent (a forward's
 * bounce token) when every retry of it must carry the same id.
 */
export function mintMessageId(config: Config, kind: MessageIdKind, token: string = newToken()): string {
  return `<postern.${kind}.${token}@${config.primaryDomain}>`;
}

/** What this Message-ID is when Postern minted it, in any of its domains; undefined otherwise. */
export function recogniseMessageId(config: Config, messageId: string): OwnMessageId | undefined {
  const match = /^<?postern\.(?:([a-z]+)\.)?([^@.]+)@([^>]+)>?$/i.exec(messageId.trim());
  if (!match) return undefined;
  const [, kind, token = "", domain = ""] = match;
  if (!config.domains.includes(domain.toLowerCase()) || !TOKEN_PATTERN.test(token.toLowerCase())) return undefined;
  if (kind === undefined) return { kind: "legacy", token: token.toLowerCase() };
  const known = KINDS.find((k) => k === kind.toLowerCase());
  return known ? { kind: known, token: token.toLowerCase() } : undefined;
}
