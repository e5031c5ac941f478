// Signatures: the RFC 3676 "-- " delimiter, and the one-line tags mobile and desktop clients append.

/** "-- " (RFC 3676), or "--" once a client or list software has stripped the trailing space. */
export function isSignatureDelimiter(line: string): boolean {
  return line.startsWith("--") && /^--[ \t]*$/.test(line);
}

// Each entry names the client or language it comes from. The object of "from/with/via" must look
// like a device or an app (a possessive, or capitalised names only) so that "Sent from the office,
// …" or "Sent from Paris with love" stays text.
const APP_NAME = "(?:[A-Z0-9]|i[A-Z])[\\w.-]*(?: (?:(?:[A-Z0-9]|i[A-Z])[\\w.-]*|for|on))*";
const CLIENT_TAGS: readonly RegExp[] = [
  // iOS, Android, BlackBerry (en)
  /^[Ss]ent from my \S/,
  // Outlook Mobile, Mail for Windows, Yahoo Mail on Android, TypeApp, Airmail, Spark, with an optional link
  new RegExp(`^[Ss]ent (?:from|with|via|using) ${APP_NAME} ?(?:<[^<>]*>)?\\.?$`),
  /^Get (?:\[?Outlook|Outlook) for (?:iOS|Android)/,
  // fr
  /^Envoyé (?:de|depuis|à partir de|avec|via) (?:mon |ma |[A-Zi])/,
  /^Obtenir Outlook pour (?:iOS|Android)/,
  // de (Apple Mail, Outlook, K-9, GMX/WEB.DE apps)
  /^Von meine[mr] .{1,60} gesendet\.?$/,
  /^Gesendet (?:von|mit|vom|via) (?:meine[mr] |der |[A-Zi])/,
  /^Diese Nachricht wurde von meinem .{1,80} gesendet\.?$/,
  // es, pt, it
  /^Enviado (?:desde|con|do|de|pelo|a partir do) (?:mi |meu |minha |o meu |[A-Zi])/,
  /^Inviato (?:da|dal|con) (?:il mio |[A-Zi])/,
  // nl, da/no, sv, fi, pl
  /^(?:Verzonden|Verstuurd) (?:vanaf|van|met|via) (?:mijn |[A-Zi])/,
  /^Sendt fra (?:min |[A-Zi])/,
  /^Skickat från (?:min |[A-Zi])/,
  /^Lähetetty (?:iPhonesta|iPadista|Android|[A-Z])/,
  /^Wysłane z (?:mojego |[A-Zi])/,
  // ru, uk
  /^(?:Отправлено|Надіслано) (?:с|из|з) /,
  // zh (traditional and simplified), ja
  /^(?:從|从)我的 ?.{1,30}(?:傳送|发送)$/u,
  /^(?:發自|发自)我的 ?.{1,30}$/u,
  /^.{1,30}から送信$/u,
  // "(sent from a phone)", "<<sent by galaxy>>"
  /^[(<]{1,2}sent (?:from|by|via) .{1,40}[)>]{1,2}$/i,
];

// Tags are one short line; a trailing link ("Sent from Outlook Mobile<https://…>") may follow.
const MAX_TAG_LENGTH = 120;

// Every tag above starts with one of these, or (Japanese) ends in "送信": a cheap first test.
const FIRST_CHARACTERS = new Set([..."SsGEOVDIWLОН從从發发(<"].map((c) => c.charCodeAt(0)));
const JAPANESE_SENT = "送信";

function couldBeTag(line: string): boolean {
  let first = 0;
  while (line.charCodeAt(first) === 0x20 || line.charCodeAt(first) === 0x09) first++;
  if (FIRST_CHARACTERS.has(line.charCodeAt(first))) return true;
  let last = line.length;
  while (last > 0 && (line.charCodeAt(last - 1) === 0x20 || line.charCodeAt(last - 1) === 0x09)) last--;
  return line.startsWith(JAPANESE_SENT, last - JAPANESE_SENT.length);
}

export function isClientSignatureTag(line: string): boolean {
  if (line.length > MAX_TAG_LENGTH * 2 || !couldBeTag(line)) return false;
  const trimmed = line.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_TAG_LENGTH && CLIENT_TAGS.some((tag) => tag.test(trimmed));
}
