// The attribution line a client writes above the message being replied to ("On … wrote:"), per
// client and language. Each pattern is matched against one candidate header with its lines joined
// and whitespace collapsed, so a header wrapped over 2-3 lines reads like a single line.
// Patterns use bounded quantifiers and a single unbounded-free path: no catastrophic backtracking.

export interface ReplyHeaderPattern {
  readonly pattern: RegExp;
  /** Extra evidence that this is an attribution and not a sentence that happens to end the same way. */
  readonly isPlausible: (header: string) => boolean;
  /** True for a pattern that does not need a terminator, so a following line may still complete the header. */
  readonly open?: boolean;
}

// Any script's digits: Apple Mail writes Arabic dates in Arabic-Indic numerals ("٤ مارس ٢٠٢٥").
const hasDigit = (s: string): boolean => /\p{Nd}/u.test(s);
const hasAddress = (s: string): boolean => /[^\s@]@[^\s@]/.test(s);
const hasTime = (s: string): boolean => /\d{1,2}[:.h]\d{2}/.test(s);
const hasNumericDate = (s: string): boolean => /\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}/.test(s);
const hasDigitOrAddress = (s: string): boolean => hasDigit(s) || hasAddress(s);

// Verbs that end the attribution line, by language. Each is specific enough that, with a date or an
// address on the same header, it does not occur at the end of ordinary prose.
const WROTE_AT_END = [
  "a écrit", // fr: Gmail, Apple Mail, Thunderbird
  "escribió", // es
  "escribio",
  "ha escrit", // ca
  "escreveu", // pt
  "ha scritto", // it
  "scrisse",
  "napisał\\(a\\)", // pl: Onet, Interia, WP
  "napisała",
  "napisał",
  "pisze", // pl: Thunderbird
  "kirjoitti", // fi
  "írta", // hu
  "napsal\\(a\\)", // cs
  "napsala",
  "napsal",
  "yazdı", // tr
  "έγραψε", // el
  "написал\\(а\\)", // ru
  "написала",
  "написал",
  "написав\\(ла\\)", // uk
  "написав",
  "пише",
  "пишет", // ru: Thunderbird
  "написал\\(-а\\)", // ru: Yahoo
  "napisał\\(-a\\)", // pl: Yahoo
  "şunu yazdı", // tr: Gmail, Yahoo
  "şunları yazdı", // tr: Apple Mail
  "כתב/ה", // he: Apple Mail, Yahoo
  "כתבה",
  "כתב", // he: Thunderbird
  "a scris", // ro
  "napisao", // hr, sr
].join("|");

const ADDRESS_IN_BRACKETS = "<\\s?[^\\s<>@]{1,100}@[^\\s<>]{1,200}\\s?>";

export const REPLY_HEADER_PATTERNS: readonly ReplyHeaderPattern[] = [
  // Gmail, Apple Mail, Thunderbird, Outlook (en): "On Tue, Mar 1, 2011 at 6:02 PM, Jane <jane@x.org> wrote:".
  // Zoho wraps it in dashes: "---- On Tue, 22 Dec 2015 14:17:36 +0530 Jane wrote ----"; some clients drop the colon.
  { pattern: /^(?:-{2,} ?)?On .{1,600}\bwrote(?: ?:| -{2,})?$/i, isPlausible: hasDigit },
  // "Jane Doe <jane@x.org> wrote:" (Gmail without a date), Eudora "At 6/16/2016 08:32 PM, you wrote:".
  {
    pattern: /^.{1,600}\bwrote ?:$/i,
    isPlausible: (s) => hasAddress(s) || (hasNumericDate(s) && hasTime(s)),
  },
  // Romance, Slavic, Finnic, Hungarian, Turkish, Greek: "Le 4 janv. 2016 19:03, Neil <n@x> a écrit :".
  // Gmail hu puts the date after the verb: "Jane <j@x> ezt írta (időpont: 2025. márc. 4., K, 9:12):".
  {
    pattern: new RegExp(`(?:^| )(?:${WROTE_AT_END})(?: \\([^()]{1,120}\\))? ?:$`, "iu"),
    isPlausible: hasDigitOrAddress,
  },
  // de "Am 25.06.2015 um 10:55 schrieb Jane:", Gmail de "Jane <j@x> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:",
  // nl "Op 12 december 2016 19:05 schreef Jane <j@x>:", da/no/sv "Den 8. jun. 2015 kl. 21.21 skrev Jane <j@x>:".
  // The verb is mid-sentence and common in prose ("Am Montag schrieb ich dir:"), so ask for an
  // address, or the usual opening word and a time of day.
  {
    pattern: /(?:^| )(?:schrieb|schreef|skrev)(?: .{1,300})? ?:$/iu,
    isPlausible: (s) => hasAddress(s) || (/^(?:Am|Op|Den|På) /i.test(s) && hasTime(s)),
  },
  // Apple Mail nl: "Op 2 feb. 2015 om 05:28 heeft Jane <j@x> het volgende geschreven:";
  // Yahoo de: "Am Dienstag, 4. März 2025 um 09:12:15 MEZ hat Jane <j@x> Folgendes geschrieben:".
  { pattern: /(?:^| )(?:geschreven|geschrieben) ?:$/i, isPlausible: hasDigitOrAddress },
  // Verb first, date last: fi (Apple Mail, Thunderbird) "Jane <j@x> kirjoitti 4.3.2025 kello 9.12:",
  // pl (Apple Mail) "Wiadomość napisana przez Jane <j@x> w dniu 4 mar 2025, o godz. 09:12:",
  // ar (Apple Mail, Thunderbird, Yahoo) "في 4 مارس 2025، الساعة 9:12 ص، كتب Jane <j@x>:".
  {
    pattern: /(?: kirjoitti |^Wiadomość napisana przez |(?:^|[ ،,])كتب ).{1,300}:$/u,
    isPlausible: hasDigitOrAddress,
  },
  // zh (Apple Mail, Foxmail) "在 2016年11月8日，下午2:23，Jane <j@x> 写道：", ja "… のメッセージ:", ko "… 작성:".
  // ja (Apple Mail since macOS 13) "… のメール:", ko (Thunderbird) "… 이(가) 쓴 글:".
  { pattern: /(?:写道|寫道|のメッセージ|のメール|書きました|작성|쓴 글)\s?[:：]$/u, isPlausible: hasDigitOrAddress },
  // Gmail ru "ср, 30 апр. 2025 г. в 15:19, Jane <j@x>:", Yandex / Mail.ru "30.09.2017, 18.30, "Jane" <j@x>:":
  // no verb at all, only a date and an address followed by a colon.
  { pattern: new RegExp(`${ADDRESS_IN_BRACKETS} ?:$`), isPlausible: hasTime },
  // Old Gmail: "2014-03-20 8:48 GMT+01:00 Jane <j@x>:", sometimes cut after the name.
  { pattern: /^\d{4}[-/.]\d{1,2}[-/.]\d{1,2} \d{1,2}:\d{2} GMT[+-]\d/, isPlausible: () => true, open: true },
  // Older Gmail: "2013/7/20 Jane via Discourse <j@x>".
  {
    pattern: new RegExp(`^\\d{4}[-/.]\\d{1,2}[-/.]\\d{1,2} .{1,300}${ADDRESS_IN_BRACKETS}$`),
    isPlausible: () => true,
  },
];

/**
 * Every pattern above needs one of these somewhere in the header: its verb, an address, or old
 * Gmail's "GMT". A line window without any of them is skipped before joining and matching.
 */
const HEADER_KEYWORD = new RegExp(
  `wrote|${WROTE_AT_END}|schrieb|schreef|skrev|geschreven|geschrieben|kirjoitti|napisana|كتب|写道|寫道|のメッセージ|のメール|書きました|작성|쓴 글|@|GMT`,
  "iu",
);

export function hasReplyHeaderKeyword(line: string): boolean {
  return HEADER_KEYWORD.test(line);
}

export interface ReplyHeaderMatch {
  readonly open: boolean;
}

/** Tests one candidate attribution (lines already joined, whitespace collapsed). */
export function matchReplyHeader(header: string): ReplyHeaderMatch | undefined {
  for (const { pattern, isPlausible, open } of REPLY_HEADER_PATTERNS) {
    if (pattern.test(header) && isPlausible(header)) return { open: open ?? false };
  }
  return undefined;
}
