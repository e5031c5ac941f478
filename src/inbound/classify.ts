import type { Config } from "../config/config.js";
import { recogniseMessageId } from "../domain/message-ids.js";
import { classifyAddress } from "../domain/addresses.js";
import { header, type ParsedMessage } from "./parse.js";

export type Classification =
  | { readonly kind: "human" }
  | {
      readonly kind: "automatic";
      readonly reason: string;
      /**
       * The only sign was `Precedence: list`: a mailing list, or a group (Google Groups, a
       * forwarder) passing a person's mail on to an inbox, which apply.ts tells apart.
       */
      readonly listOnly?: true;
    }
  | { readonly kind: "loop"; readonly reason: string };

// Out-of-office subjects as common clients and languages write them: the phrase opens the subject
// and is followed by a colon or nothing ("Automatic reply: Budget", "Out of Office"). Anchoring
// matters: "Re: Out of office coverage next week" is a person writing, and must be posted.
const OUT_OF_OFFICE_PHRASES = [
  "auto(matic)?[ -]?(reply|response)", "autoreply", "out of (the )?office", "out of office (reply|autoreply)", "on vacation", "vacation reply",
  "abwesenheitsnotiz", "automatische antwort", "abwesend",
  "r[ée]ponse automatique", "absence du bureau", "absent\\(e\\)|absent",
  "respuesta autom[áa]tica", "fuera de la oficina",
  "risposta automatica", "fuori ufficio",
  "resposta autom[áa]tica", "fora do escrit[óo]rio", "aus[êe]ncia",
  "automatisch antwoord", "afwezig",
  "automatiskt svar", "fr[åa]nvarande",
  "autosvar", "frav[æa]rende",
  "automaattinen vastaus", "poissa toimistolta",
  "odpowied[źz] automatyczna",
  "автоответ", "автоматический ответ", "вне офиса",
  "自動応答", "自動返信", "不在通知", "自动回复", "自動回覆",
];
const OUT_OF_OFFICE_SUBJECT = new RegExp(`^(${OUT_OF_OFFICE_PHRASES.join("|")})\\s*(:|：|$)`, "i");

/**
 * Decides whether a person wrote this. Automatic mail is never posted and never answered (no
 * auto-reply ping-pong, no backscatter); mail Postern itself sent, come back, is a loop.
 */
export function classifyMessage(config: Config, message: ParsedMessage, envelopeFrom: string | false): Classification {
  if (message.messageId && recogniseMessageId(config, message.messageId)) {
    return { kind: "loop", reason: "loop: this message was sent by Postern itself" };
  }
  const fromKind = classifyAddress(message.from.address, config.domains, config.fromAddress);
  // Postern never writes From postmaster@ or abuse@ (its own mail is caught by its Message-ID
  // above), but the MTA in front of it does, for its reports: those are automatic, not loops, so
  // that postmaster@ still forwards them to the admins.
  if (fromKind.type === "postmaster") return { kind: "automatic", reason: `automatic: sent by ${message.from.address}, a mail server's address` };
  if (fromKind.type !== "foreign" && fromKind.type !== "local") {
    return { kind: "loop", reason: `loop: From is Postern's own address ${message.from.address}` };
  }
  if (!envelopeFrom) return { kind: "automatic", reason: "automatic: empty return path (a bounce or notification)" };
  const sender = message.from.address.split("@")[0] ?? "";
  if (/^(mailer-daemon|postmaster)$/i.test(sender) || /^mailer-daemon@/i.test(envelopeFrom)) {
    return { kind: "automatic", reason: "automatic: sent by a mail server (MAILER-DAEMON)" };
  }
  const autoSubmitted = header(message, "auto-submitted")?.trim().toLowerCase();
  if (autoSubmitted && !autoSubmitted.startsWith("no")) {
    return { kind: "automatic", reason: `automatic: Auto-Submitted: ${autoSubmitted}` };
  }
  for (const name of ["x-autoreply", "x-autorespond", "x-autoresponder"]) {
    const value = header(message, name)?.trim().toLowerCase();
    if (value !== undefined && !/^(no|false|0)$/.test(value)) return { kind: "automatic", reason: `automatic: ${name} header` };
  }
  const precedence = header(message, "precedence")?.trim().toLowerCase();
  if (precedence && /^(bulk|junk|auto_reply)$/.test(precedence)) {
    return { kind: "automatic", reason: `automatic: Precedence: ${precedence}` };
  }
  if (message.contentType.startsWith("multipart/report")) {
    return { kind: "automatic", reason: "automatic: a delivery or read report" };
  }
  if (OUT_OF_OFFICE_SUBJECT.test(message.subject.trim())) {
    return { kind: "automatic", reason: "automatic: out-of-office subject" };
  }
  if (precedence === "list") return { kind: "automatic", reason: "automatic: Precedence: list", listOnly: true };
  return { kind: "human" };
}
