// Lines that clients put above a quoted or forwarded message instead of (or before) a header block.

const MARKER_PHRASES = [
  // Outlook, Outlook.com, Yahoo, Thunderbird, Lotus: "-----Original Message-----" and translations
  "Original Message", "Original-Nachricht", "Ursprüngliche Nachricht", "Message d'origine", "Message original",
  "Mensaje original", "Mensagem original", "Messaggio originale", "Oorspronkelijk bericht", "Origineel bericht",
  "Oprindelig besked", "Oprindelig meddelelse", "Opprinnelig melding", "Ursprungligt meddelande",
  "Originalmeddelande", "Alkuperäinen viesti", "Wiadomość oryginalna", "Oryginalna wiadomość", "Původní zpráva",
  "Eredeti üzenet", "Orijinal mesaj", "Исходное сообщение", "Оригинальное сообщение", "Вихідне повідомлення",
  "原始邮件", "原始郵件", "元のメッセージ", "원본 메시지", "Ursprungligt meddelande", "Özgün İleti", "Mesaj original",
  "Αρχικό μήνυμα", "الرسالة الأصلية", "הודעה מקורית",
  // Gmail, Thunderbird: "---------- Forwarded message ---------" and translations
  "Forwarded message", "Weitergeleitete Nachricht", "Message transféré", "Mensaje reenviado",
  "Mensagem encaminhada", "Messaggio inoltrato", "Doorgestuurd bericht", "Videresendt meddelelse",
  "Videresendt melding", "Vidarebefordrat meddelande", "Välitetty viesti", "Przekazana wiadomość",
  "Wiadomość przekazana", "Přeposlaná zpráva", "Továbbított üzenet", "Пересылаемое сообщение",
  "Пересланное сообщение", "转发的邮件", "轉寄的郵件", "転送されたメッセージ", "Пересланий лист",
  "Переслане повідомлення", "Yönlendirilmiş ileti", "İletilen Mesaj", "転送メッセージ", "转发的消息", "전달된 메시지",
  "Továbbított levél", "Mesaj redirecționat", "Προωθημένο μήνυμα", "الرسالة المعاد توجيهها", "הודעה שהועברה",
];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The phrase between runs of dashes, possibly bolded by an HTML-to-text step ("*-------- Original Message --------*").
const DASHED_MARKER = new RegExp(
  `^[ \\t*_]{0,4}-{2,}[ \\t]?(?:${MARKER_PHRASES.map(escape).join("|")})[ \\t]?-{2,}[ \\t*_]{0,4}:?$`,
  "iu",
);

// Apple Mail and iOS: "Begin forwarded message:" and translations.
const FORWARD_INTROS = [
  "Begin forwarded message", "Début du message réexpédié", "Anfang der weitergeleiteten Nachricht",
  "Inicio del mensaje reenviado", "Início da mensagem reencaminhada", "Inizio messaggio inoltrato",
  "Begin doorgestuurd bericht", "Videresendt besked", "Videresendt melding", "Vidarebefordrat mejl",
  "Välitetty viesti alkaa", "Początek przekazywanej wiadomości", "Начало переадресованного сообщения",
  "转发的邮件", "転送されたメッセージ", "Comienzo del mensaje reenviado", "Começo da mensagem encaminhada",
  "Začátek přeposílané zprávy", "Початок листа, що пересилається", "İleti başlangıcı", "以下为转发的邮件",
  "以下為轉寄的郵件", "전달된 메일", "بداية الرسالة المُعاد توجيهها", "بداية الرسالة المعاد توجيهها",
  "תחילת הודעה שהועברה", "Αρχή προωθημένου μηνύματος", "Továbbított levél kezdete", "Început mesaj redirecționat",
];
const FORWARD_INTRO = new RegExp(`^[ \\t]*(?:${FORWARD_INTROS.map(escape).join("|")}) ?[:：]$`, "iu");
const INTRO_FIRST_CHARACTERS = new Set(
  FORWARD_INTROS.flatMap((intro) => [intro.toLowerCase().charCodeAt(0), intro.toUpperCase().charCodeAt(0)]),
);
const MAX_INTRO_LENGTH = Math.max(...FORWARD_INTROS.map((intro) => intro.length)) + 8;

/** Cheap test before the regex: short, ends in ":", starts like one of the intros. */
function couldBeForwardIntro(line: string): boolean {
  if (line.length > MAX_INTRO_LENGTH) return false;
  let last = line.length - 1;
  while (last >= 0 && (line.charCodeAt(last) === 0x20 || line.charCodeAt(last) === 0x09)) last--;
  if (line.charCodeAt(last) !== 0x3a && line.charCodeAt(last) !== 0xff1a) return false; // ":" or "："
  let first = 0;
  while (line.charCodeAt(first) === 0x20 || line.charCodeAt(first) === 0x09) first++;
  return INTRO_FIRST_CHARACTERS.has(line.charCodeAt(first));
}

// BlackBerry writes the phrase alone, padded with spaces ("  Original Message  "); such a line counts
// only when the header fields follow it at once.
const BARE_MARKER = new Set(MARKER_PHRASES.map((phrase) => phrase.toLowerCase()));

export function isBareMessageMarker(line: string): boolean {
  return line.length <= 60 && BARE_MARKER.has(line.trim().toLowerCase());
}

export function isMessageSeparator(line: string): boolean {
  if (line.includes("--")) return DASHED_MARKER.test(line.trimEnd());
  return couldBeForwardIntro(line) && FORWARD_INTRO.test(line.trimEnd());
}
