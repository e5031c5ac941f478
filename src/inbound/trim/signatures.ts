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

// Tags in every language the clients ship: a verb of sending with its preposition at the start
// ("Sent from", "Envoyé de", "Trimis de pe", "נשלח מה-", "发自"), or, where the language puts the verb
// last, the line opening with the device or app and ending in the verb ("iPhoneから送信",
// "iPhone'umdan gönderildi", "Von Outlook für iOS gesendet"), and in both cases the name of a phone,
// tablet or mail app. Outlook Mobile's "Get Outlook for iOS" needs Outlook and iOS/Android. So
// "Sent the Android build to QA" (no preposition), "Sent from the office" (no device) or "Get the
// Android app first" (not Outlook) stay the author's text.
const DEVICE_OR_APP = /iPhon|iPad|iPod|Galaxy|Android|BlackBerry|Outlook|Yahoo|Proton ?Mail|Samsung|Huawei|Xiaomi|Pixel|Mail for Windows|TypeApp|BlueMail|Spark|AOL/iu;
const DEVICE_FIRST = /^(?:Von |iPhon|iPad|iPod|Galaxy|Android|BlackBerry|Outlook|Yahoo|Samsung|Huawei|Xiaomi|Pixel)/u;
const SENT_FIRST = new RegExp(
  "^(?:" +
    [
      "Sent (?:from|with|via|using|by)", "Envoyé (?:de|depuis|avec|à partir)", "Enviado (?:desde|do|de|con|pelo|a partir)",
      "Inviato (?:da|dal|con)", "(?:Verstuurd|Verzonden) (?:vanaf|van|met|vanuit|via)", "Skickat (?:från|med)",
      "Sendt (?:fra|med)", "Lähetetty", "Wysłane (?:z|ze)", "Odesláno (?:z|ze)", "(?:Отправлено|Надіслано) (?:с|из|з|із)",
      "Trimis (?:de|din|cu)", "(?:أُرسلت|أرسلت|مُرسل|مرسل|تم الإرسال) من", "נשלח מ\\S*", "Στάλθηκε από",
      "Gesendet (?:von|mit|vom)", "发自", "發自", "从", "從",
    ].join("|") +
    ")\\s",
  "u",
);
const SENT_LAST = /(?:gesendet|送信|发送|傳送|보냄|gönderildi|küldve)\.?$/u;
const OUTLOOK_MOBILE = /Outlook/u;
const MOBILE_SYSTEM = /iOS|Android/u;
const GET_FIRST = /^(?:Get|Obtenir|Obtener|Obter o|Scarica|Ottieni|Skaffa|Hent|Få|Hanki|Pobierz|Stáhněte si|Загрузите|Отримати|الحصول على|קבל את|Λήψη του|Obțineți|获取|獲取)\s/u;
const GET_LAST = /(?:herunterladen|beziehen|downloaden|を入手|받기|edinin|letöltése)$/u;
// Without a trailing link ("Get Outlook for iOS<https://aka.ms/…>") a tag is a few words.
const MAX_TAG_WORDS = 10;
const MAX_PLAIN_TAG_LENGTH = 80;

const TRAILING_LINK = /<https?:[^<>\s]{1,200}>$/;

// Called for nearly every line of the author's text, which is almost never a tag: the tests that
// read only the line's start (or look for one word) come first and turn most lines away, before the
// case-insensitive device-name scan and the word count, which read the whole line.
function isMultilingualTag(trimmed: string): boolean {
  const text = trimmed.endsWith(">") ? trimmed.replace(TRAILING_LINK, "").trimEnd() : trimmed;
  if (text.length === 0 || text.length > MAX_PLAIN_TAG_LENGTH) return false;
  const worded =
    SENT_FIRST.test(text) ||
    (DEVICE_FIRST.test(text) && SENT_LAST.test(text)) ||
    (OUTLOOK_MOBILE.test(text) && MOBILE_SYSTEM.test(text) && (GET_FIRST.test(text) || GET_LAST.test(text)));
  return worded && DEVICE_OR_APP.test(text) && text.split(/\s+/).length <= MAX_TAG_WORDS;
}

export function isClientSignatureTag(line: string): boolean {
  if (line.length > MAX_TAG_LENGTH * 2) return false;
  const trimmed = line.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TAG_LENGTH) return false;
  if (couldBeTag(line) && CLIENT_TAGS.some((tag) => tag.test(trimmed))) return true;
  return isMultilingualTag(trimmed);
}
