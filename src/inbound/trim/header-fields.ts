// Field names of the header block Outlook (and Outlook-like webmails: Hotmail, Yahoo, GMX, Zimbra,
// Foxmail) writes above a quoted or forwarded message, in the languages their UIs ship in:
//   From: Jane <jane@x.org> / Sent: Monday, 5 June 2017 12:22 / To: … / Subject: …

export type HeaderFieldKind = "from" | "sent" | "to" | "cc" | "subject" | "replyTo";

const FIELD_NAMES: Readonly<Record<HeaderFieldKind, readonly string[]>> = {
  from: [
    "From", "De", "Von", "Van", "Da", "Fra", "Från", "Od", "Lähettäjä", "Feladó", "Kimden", "Afzender",
    "От", "Від", "Από", "发件人", "發件人", "寄件者", "差出人", "보낸 사람", "보낸사람", "De la", "من", "מאת",
  ],
  sent: [
    "Sent", "Date", "Datum", "Gesendet", "Envoyé", "Envoyé le", "Enviado", "Enviado el", "Enviada", "Inviato",
    "Data", "Verzonden", "Verstuurd", "Sendt", "Skickat", "Wysłano", "Wysłane", "Lähetetty", "Päivämäärä",
    "Dato", "Elküldve", "Dátum", "Gönderildi", "Tarih", "Odesláno", "Message du",
    "Отправлено", "Дата", "Надіслано", "Στάλθηκε", "发送时间", "發送時間", "日期", "送信日時", "日付", "보낸 날짜",
    "Fecha", "Ημερομηνία", "Dată", "Trimis", "날짜", "تم الإرسال", "التاريخ", "נשלח", "תאריך",
  ],
  to: [
    "To", "À", "A", "An", "Aan", "Para", "Til", "Till", "Do", "Komu", "Vastaanottaja", "Címzett", "Kime",
    "Кому", "Προς", "收件人", "收件者", "宛先", "받는 사람", "Pour", "Către", "إلى", "אל",
  ],
  cc: [
    "Cc", "Bcc", "Kopie", "Copie à", "Cópia", "Kopio", "Kopia", "Kopi", "DW", "Bilgi", "Másolat", "Másolatot kap",
    "Копия", "Копія", "Κοιν.", "抄送", "副本", "참조", "نسخة", "עותק",
  ],
  subject: [
    "Subject", "Objet", "Betreff", "Asunto", "Assunto", "Oggetto", "Onderwerp", "Emne", "Ämne", "Temat",
    "Aihe", "Tárgy", "Konu", "Sujet", "Předmět", "Тема", "Θέμα", "主题", "主旨", "件名", "제목", "Subiect", "الموضوع",
    "נושא",
  ],
  // BlackBerry writes "Reply To" without the hyphen.
  replyTo: ["Reply-To", "Reply To", "Antwort an", "Répondre à", "Responder a", "Rispondi a", "Risposta"],
};

const KIND_BY_NAME = new Map<string, HeaderFieldKind>();
for (const [kind, names] of Object.entries(FIELD_NAMES) as [HeaderFieldKind, readonly string[]][]) {
  for (const name of names) KIND_BY_NAME.set(name.toLowerCase(), kind);
}

// The field name and its colon always sit within the first few dozen characters.
const FIELD_WINDOW = 40;
const MAX_NAME_LENGTH = Math.max(...[...KIND_BY_NAME.keys()].map((name) => name.length));
const NAME_FIRST_CHARACTERS = new Set([...KIND_BY_NAME.keys()].flatMap((name) => [name[0], name[0]?.toUpperCase()]));

const isNameEdge = (code: number): boolean => code === 0x2a || code === 0x20 || code === 0x09 || code === 0xa0 || code === 0x202f;

/**
 * Outlook's plain-text part may keep the bold markers ("*From:* Jane"); French clients put a space
 * before the colon, often a no-break space ("De\u00a0: Jane"); Chinese clients may use a full-width
 * colon. Reads the name before the first colon and looks it up: no regex over the field list.
 */
export function headerFieldKind(line: string): HeaderFieldKind | undefined {
  let colon = line.indexOf(":");
  if (colon < 0 || colon > FIELD_WINDOW) colon = line.indexOf("：");
  if (colon <= 0 || colon > FIELD_WINDOW) return undefined;
  let start = 0;
  let end = colon;
  while (start < end && isNameEdge(line.charCodeAt(start))) start++;
  while (end > start && isNameEdge(line.charCodeAt(end - 1))) end--;
  if (end - start > MAX_NAME_LENGTH || !NAME_FIRST_CHARACTERS.has(line[start])) return undefined;
  return KIND_BY_NAME.get(line.slice(start, end).toLowerCase());
}
