/**
 * A reply that says nothing but "unsubscribe", "remove me" or "stop" is its author asking to leave
 * the conversation, the way people answer list mail and text messages: it is never posted to the
 * others. Only the whole text counts (after quotes and signature were trimmed, or the subject when
 * the body is empty); "stop" inside a longer message is an ordinary post.
 */

// Lower case, without accents' variants spelled out where clients commonly drop them.
const REQUESTS = [
  // English
  "unsubscribe", "unsubscribe me", "unsub", "remove me", "remove me from this list", "remove me from this conversation",
  "remove me from the list", "take me off", "take me off this list", "take me off the list", "stop", "stop emailing me",
  "stop sending me emails", "stop sending me email", "opt out", "opt-out", "optout", "leave this conversation",
  // French
  "désabonner", "désabonnez-moi", "me désabonner", "se désabonner", "désabonnement", "désinscrire", "désinscrivez-moi",
  "me désinscrire", "désinscription", "retirez-moi", "stop merci",
  // German
  "abmelden", "abbestellen", "austragen", "abmeldung",
  // Spanish, Portuguese, Italian, Dutch, Scandinavian, Polish
  "darme de baja", "dar de baja", "baja", "cancelar suscripción", "descadastrar", "cancelar inscrição",
  "cancellami", "disiscrivimi", "cancella iscrizione", "afmelden", "uitschrijven", "avsluta prenumeration",
  "avregistrera", "afmeld", "avmeld", "wypisz mnie",
];

// Courtesy words around the request ("please remove me", "abmelden, danke") do not make it a message.
// For every language REQUESTS knows; Swedish, Danish and Norwegian share a few, "tak(k)" and "vänligen/venligst/vennligst".
const POLITE_BEFORE = [
  "please", "pls", "plz", "kindly", "bitte", "merci de", "s'il vous plaît", "svp", "por favor", "per favore", "per piacere",
  "alstublieft", "graag", "proszę", "snälla", "vänligen", "venligst", "vennligst",
];
const POLITE_AFTER = [
  "please", "pls", "plz", "thanks", "thank you", "thx", "bitte", "danke", "merci", "svp", "s'il vous plaît", "gracias",
  "obrigado", "obrigada", "grazie", "bedankt", "alstublieft", "graag", "tack", "tak", "takk", "venligst", "vennligst",
  "vänligen", "dziękuję",
];
const POLITE_PREFIX = new RegExp(`^(${POLITE_BEFORE.join("|")})[\\s,]+`);
const POLITE_SUFFIX = new RegExp(`[\\s,]+(${POLITE_AFTER.join("|")})$`);

const KNOWN = new Set(REQUESTS);

/** Longer than this, a text is a message, whatever words it holds. */
const MAX_LENGTH = 80;

function normalise(text: string): string {
  let phrase = text
    .normalize("NFC")
    .toLowerCase()
    .replace(/[\s\u00a0]+/g, " ")
    .trim()
    .replace(/[\s.!?。！…]+$/u, "")
    .replace(/^[\s"'«“]+|[\s"'»”]+$/gu, "");
  for (let i = 0; i < 2; i++) phrase = phrase.replace(POLITE_PREFIX, "").replace(POLITE_SUFFIX, "").replace(/[\s.,!?]+$/, "");
  return phrase;
}

/** True when `text`, as a whole, is a request to be taken off the conversation. */
export function isUnsubscribeRequest(text: string): boolean {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed.length > MAX_LENGTH) return false;
  return KNOWN.has(normalise(trimmed));
}

/** The subject without reply and forward prefixes ("Re:", "AW:", "Fwd:", "[list]" …). */
function bareSubject(subject: string): string {
  let rest = subject.trim();
  for (let i = 0; i < 10; i++) {
    const next = rest.replace(/^(\[[^\]]{0,40}\]\s*|(re|aw|sv|vs|antw|wg|fw|fwd|tr|rv|r|ref)\s*(\[\d+\])?\s*[:：]\s*)/i, "");
    if (next === rest) break;
    rest = next;
  }
  return rest;
}

/**
 * The request a reply makes, or undefined: its trimmed text, or its subject when nothing was
 * written (a client's "unsubscribe" button sends an empty body). Never with attachments.
 */
export function unsubscribeRequest(reply: { text: string; subject: string; attachments: number; conversationSubject: string }): string | undefined {
  if (reply.attachments > 0) return undefined;
  if (reply.text.trim()) return isUnsubscribeRequest(reply.text) ? reply.text.trim() : undefined;
  const subject = bareSubject(reply.subject);
  // A conversation someone titled "Stop" is answered with "Re: Stop": that subject asks nothing.
  if (normalise(subject) === normalise(bareSubject(reply.conversationSubject))) return undefined;
  return isUnsubscribeRequest(subject) ? subject : undefined;
}
