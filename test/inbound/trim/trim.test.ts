import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { trim } from "../../../src/inbound/trim/trim.js";

const lines = (...parts: string[]): string => parts.join("\n");

const REPLY = "Sounds good, see you there.";

describe("trim: quote headers", () => {
  const headers: [client: string, header: string][] = [
    ["Gmail (en)", "On Tue, Mar 4, 2025 at 9:12 AM Bob Marsh <bob@example.com> wrote:"],
    ["Apple Mail (en)", "On 4 Mar 2025, at 09:12, Bob Marsh <bob@example.com> wrote:"],
    ["Thunderbird (en)", "On 3/4/25 9:12 AM, Bob Marsh wrote:"],
    ["Gmail, no date", "Bob Marsh <bob@example.com> wrote:"],
    ["Zoho", "---- On Tue, 04 Mar 2025 09:12:00 +0100 Bob Marsh <bob@example.com> wrote ----"],
    ["Gmail (fr)", "Le mar. 4 mars 2025 à 09:12, Bob Marsh <bob@example.com> a écrit :"],
    ["Gmail (de)", "Am Di., 4. März 2025 um 09:12 Uhr schrieb Bob Marsh <bob@example.com>:"],
    ["Thunderbird (de)", "Am 04.03.2025 um 09:12 schrieb Bob Marsh:"],
    ["Gmail (es)", "El mar, 4 mar 2025 a las 9:12, Bob Marsh (<bob@example.com>) escribió:"],
    ["Gmail (it)", "Il giorno mar 4 mar 2025 alle ore 09:12 Bob Marsh <bob@example.com> ha scritto:"],
    ["Gmail (pt)", "Em ter., 4 de mar. de 2025 às 09:12, Bob Marsh <bob@example.com> escreveu:"],
    ["Gmail (nl)", "Op di 4 mrt 2025 om 09:12 schreef Bob Marsh <bob@example.com>:"],
    ["Apple Mail (nl)", "Op 4 mrt. 2025 om 09:12 heeft Bob Marsh <bob@example.com> het volgende geschreven:"],
    ["Gmail (da)", "Den tir. 4. mar. 2025 kl. 09.12 skrev Bob Marsh <bob@example.com>:"],
    ["Gmail (sv)", "Den tis 4 mars 2025 kl 09:12 skrev Bob Marsh <bob@example.com>:"],
    ["Gmail (no)", "tir. 4. mar. 2025 kl. 09:12 skrev Bob Marsh <bob@example.com>:"],
    ["Gmail (fi)", "ti 4. maalisk. 2025 klo 9.12 Bob Marsh <bob@example.com> kirjoitti:"],
    ["Gmail (pl)", "wt., 4 mar 2025 o 09:12 Bob Marsh <bob@example.com> napisał(a):"],
    ["Gmail (ru)", "вт, 4 мар. 2025 г. в 09:12, Bob Marsh <bob@example.com>:"],
    ["Android (ru)", "4 марта 2025 г. 9:12 пользователь Bob Marsh <bob@example.com> написал:"],
    ["Gmail (uk)", "вт, 4 бер. 2025 р. о 09:12 Bob Marsh <bob@example.com> пише:"],
    ["Gmail (hu)", "Bob Marsh <bob@example.com> ezt írta (időpont: 2025. márc. 4., K, 9:12):"],
    ["Apple Mail (zh)", "在 2025年3月4日，上午9:12，Bob Marsh <bob@example.com> 写道："],
    ["Apple Mail (ja)", "2025/03/04 9:12、Bob Marsh <bob@example.com> のメッセージ:"],
    ["Old Gmail", "2025-03-04 9:12 GMT+01:00 Bob Marsh <bob@example.com>:"],
    ["Mail.ru", "Вторник, 4 марта 2025, 9:12 +03:00 от Bob Marsh <bob@example.com>:"],
  ];

  it.each(headers)("removes the quoted message under a %s header", (_client, header) => {
    const input = lines(REPLY, "", header, "", "> Are we still on for lunch?", "> Bob");
    expect(trim(input)).toBe(REPLY);
  });

  it.each(headers)("removes an unquoted previous message under a %s header", (_client, header) => {
    const input = lines(REPLY, "", header, "", "Are we still on for lunch?", "Bob");
    expect(trim(input)).toBe(REPLY);
  });

  it("reads a Gmail header wrapped over two lines", () => {
    const input = lines(
      REPLY,
      "",
      "On Tue, Mar 4, 2025 at 9:12 AM Roberta Marsh-Whitaker via Planning <",
      "planning@lists.example.com> wrote:",
      "",
      "> Are we still on for lunch?",
    );
    expect(trim(input)).toBe(REPLY);
  });

  it("reads an Apple Mail header wrapped over three lines", () => {
    const input = lines(REPLY, "", "On Mar 4, 2025,", "at 09:12,", "Bob Marsh <bob@example.com> wrote:", "", "> Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("reads a French header whose verb landed on its own line", () => {
    const input = lines(REPLY, "Le 4 mars 2025 09:12, \"Bob Marsh\"", "<bob@example.com>", "a écrit :", "", "> Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("fixture: Gmail reply with a wrapped header keeps the sign-off", () => {
    expectFixture("gmail-reply-wrapped-header");
  });
});

describe("trim: Outlook header blocks and separators", () => {
  const blocks: [language: string, block: string[]][] = [
    ["English", ["From: Bob Marsh <bob@example.com>", "Sent: Tuesday, March 4, 2025 9:12 AM", "To: Ann Lee <ann@example.com>", "Subject: Lunch"]],
    ["French", ["De : Bob Marsh <bob@example.com>", "Envoyé : mardi 4 mars 2025 09:12", "À : Ann Lee", "Objet : Déjeuner"]],
    ["French, no-break spaces", ["De\u00a0: Bob Marsh", "Envoyé le\u00a0: mardi 4 mars 2025 09:12", "À\u00a0: Ann Lee", "Objet\u00a0: Déjeuner"]],
    ["German", ["Von: Bob Marsh <bob@example.com>", "Gesendet: Dienstag, 4. März 2025 09:12", "An: Ann Lee", "Betreff: Mittagessen"]],
    ["Spanish", ["De: Bob Marsh", "Enviado el: martes, 4 de marzo de 2025 9:12", "Para: Ann Lee", "Asunto: Almuerzo"]],
    ["Italian", ["Da: Bob Marsh", "Inviato: martedì 4 marzo 2025 09:12", "A: Ann Lee", "Oggetto: Pranzo"]],
    ["Portuguese", ["De: Bob Marsh", "Enviado: terça-feira, 4 de março de 2025 09:12", "Para: Ann Lee", "Assunto: Almoço"]],
    ["Dutch", ["Van: Bob Marsh", "Verzonden: dinsdag 4 maart 2025 09:12", "Aan: Ann Lee", "Onderwerp: Lunch"]],
    ["Danish", ["Fra: Bob Marsh", "Sendt: 4. marts 2025 09:12", "Til: Ann Lee", "Emne: Frokost"]],
    ["Swedish", ["Från: Bob Marsh", "Skickat: den 4 mars 2025 09:12", "Till: Ann Lee", "Ämne: Lunch"]],
    ["Norwegian", ["Fra: Bob Marsh", "Sendt: tirsdag 4. mars 2025 09:12", "Til: Ann Lee", "Emne: Lunsj"]],
    ["Finnish", ["Lähettäjä: Bob Marsh", "Lähetetty: tiistai 4. maaliskuuta 2025 9.12", "Vastaanottaja: Ann Lee", "Aihe: Lounas"]],
    ["Polish", ["Od: Bob Marsh", "Wysłano: wtorek, 4 marca 2025 09:12", "Do: Ann Lee", "Temat: Lunch"]],
    ["Russian", ["От: Bob Marsh", "Отправлено: 4 марта 2025 г. 9:12", "Кому: Ann Lee", "Тема: Обед"]],
    ["Japanese", ["差出人: Bob Marsh", "送信日時: 2025年3月4日 9:12", "宛先: Ann Lee", "件名: ランチ"]],
    ["Chinese", ["发件人: Bob Marsh", "发送时间: 2025年3月4日 9:12", "收件人: Ann Lee", "主题: 午餐"]],
    ["Chinese, full-width colons", ["发件人：Bob Marsh", "发送时间：2025年3月4日 9:12", "收件人：Ann Lee", "主题：午餐"]],
    ["Outlook bold markers", ["*From:* Bob Marsh", "*Sent:* Tuesday, March 4, 2025", "*To:* Ann Lee", "*Subject:* Lunch"]],
  ];

  it.each(blocks)("removes a %s header block and the message under it", (_language, block) => {
    const input = lines(REPLY, "", ...block, "", "Are we still on for lunch?", "", "Bob");
    expect(trim(input)).toBe(REPLY);
  });

  it("removes the underscore line Outlook puts above the block", () => {
    const input = lines(REPLY, "________________________________", "From: Bob", "Sent: Tuesday", "To: Ann", "Subject: Lunch", "", "Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("reads a header block whose sender wrapped onto a second line", () => {
    const input = lines(REPLY, "", "From: Roberta Marsh-Whitaker", "<roberta@example.com>", "Sent: Tuesday", "To: Ann", "Subject: Lunch", "", "Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  const separators = [
    "-----Original Message-----",
    "----- Original Message -----",
    "-------- Original Message --------",
    "-----Ursprüngliche Nachricht-----",
    "-------- Message d'origine --------",
    "-----Mensaje original-----",
    "-----Messaggio originale-----",
    "-----Oorspronkelijk bericht-----",
    "-------- Oprindelig besked --------",
    "---------- Forwarded message ---------",
    "-------- Forwarded Message --------",
    "Begin forwarded message:",
  ];

  it.each(separators)("cuts at %s", (separator) => {
    const input = lines(REPLY, "", separator, "From: Bob Marsh", "Subject: Lunch", "", "Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("fixture: Outlook reply keeps the signature block typed above the header", () => {
    expectFixture("outlook-reply-with-header-block");
  });

  it("fixture: a forward with nothing typed keeps the forwarded text", () => {
    expectFixture("forward-with-nothing-typed");
  });

  it("does not take the author's own To:/Subject: lines for a header block", () => {
    const input = lines("Draft for the invitation:", "", "To: all staff", "Subject: Summer party", "", "Please join us on Friday.");
    expect(trim(input)).toBe(input);
  });
});

describe("trim: signatures", () => {
  it("cuts at the RFC 3676 '-- ' delimiter", () => {
    expect(trim(lines(REPLY, "", "-- ", "Ann Lee", "Example Corp"))).toBe(REPLY);
  });

  it("cuts at '--' without the trailing space, even right under the text", () => {
    expect(trim(lines(REPLY, "--", "Ann Lee"))).toBe(REPLY);
  });

  const tags = [
    "Sent from my iPhone",
    "Sent from my Galaxy S24 Ultra",
    "Sent from Outlook for Android<https://aka.ms/AAb9ysg>",
    "Sent from Mail for Windows",
    "Get Outlook for iOS<https://aka.ms/o0ukef>",
    "Envoyé de mon iPhone",
    "Von meinem iPhone gesendet",
    "Gesendet von Outlook für Android",
    "Enviado desde mi iPhone",
    "Enviado do meu iPhone",
    "Inviato da iPhone",
    "Verzonden vanaf mijn iPhone",
    "Sendt fra min iPhone",
    "Skickat från min iPhone",
    "Lähetetty iPhonesta",
    "Wysłane z mojego iPhone'a",
    "Отправлено с iPhone",
    "iPhoneから送信",
    "发自我的 iPhone",
  ];

  it.each(tags)("removes the client tag %s and what follows it", (tag) => {
    expect(trim(lines(REPLY, "", tag, "", "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "> Lunch?"))).toBe(REPLY);
  });

  it.each(["Sent from the office, the parcel should arrive on Monday.", "Sent from Paris with love", "Sent by FedEx on Friday."])(
    "keeps the sentence %s, which merely starts like a client tag",
    (sentence) => {
      const input = lines(sentence, "Ann");
      expect(trim(input)).toBe(input);
    },
  );

  it("keeps sign-offs", () => {
    const input = lines("Works for me.", "", "Thanks,", "Carol");
    expect(trim(input)).toBe(input);
  });

  it("keeps a sign-off and drops the signature under the delimiter", () => {
    expect(trim(lines("Works for me.", "", "Best regards,", "Carol", "", "-- ", "Carol Diaz | Example Corp"))).toBe(
      lines("Works for me.", "", "Best regards,", "Carol"),
    );
  });

  it("cuts at a rule line followed by a short footer", () => {
    expect(trim(lines(REPLY, "", "____________________", "riverside-list mailing list", "https://lists.example.org/riverside"))).toBe(REPLY);
  });
});

describe("trim: quoted blocks", () => {
  it("removes a quoted block at the end", () => {
    expect(trim(lines(REPLY, "", "> Lunch?", "> Bob"))).toBe(REPLY);
  });

  it("keeps a quote the author answers below (bottom-posting without a header)", () => {
    const input = lines("> Lunch on Friday?", "", "Yes, 12:30 at the usual place.");
    expect(trim(input)).toBe(input);
  });

  it("fixture: inline reply keeps the author's answers and the questions they answer", () => {
    expectFixture("inline-reply");
  });

  it("drops a full quote under a header when the reply is typed below it", () => {
    const input = lines("On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "> Lunch on Friday?", "> Bob", "", "Yes, 12:30.");
    expect(trim(input)).toBe("Yes, 12:30.");
  });

  it("treats unprefixed overflow lines inside a quote as part of it", () => {
    const input = lines(
      REPLY,
      "",
      "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:",
      "> This line was too long for the client and it wrapped the end of",
      "it onto a line without a prefix.",
      ">",
      "> Bob",
    );
    expect(trim(input)).toBe(REPLY);
  });

  it("removes Supercite-style initials quotes at the end", () => {
    expect(trim(lines(REPLY, "", "BM> Lunch?", "BM> Bob"))).toBe(REPLY);
  });

  it("returns an empty string for a reply with nothing typed", () => {
    const input = lines("", "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "", "> Lunch on Friday?", "> Bob");
    expect(trim(input)).toBe("");
  });

  it("returns an empty string when only the quoted thread is left", () => {
    expect(trim(lines("> On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", ">", "> Lunch?"))).toBe("");
  });

  it("returns an empty string for a reply that is only a signature", () => {
    expect(trim(lines("", "Sent from my iPhone", ""))).toBe("");
    expect(trim("")).toBe("");
    expect(trim("  \n\t\n")).toBe("");
  });
});

describe("trim: the author's text is kept", () => {
  it("keeps lines that start with 'On' but are not headers", () => {
    const input = lines("On the whole I agree.", "On Friday I wrote the draft, not the final version.", "On average it takes 3 days.");
    expect(trim(input)).toBe(input);
  });

  it("keeps 'someone wrote:' without a date or address", () => {
    const input = lines("My manager wrote:", "\"Ship it on Monday.\"", "", "So we ship on Monday.");
    expect(trim(input)).toBe(input);
  });

  it("keeps dates and times typed in the text", () => {
    const input = lines("Possible slots:", "2025-03-04 14:30", "04.03.2025 16:00", "Mar 5, 2025 at 9:00 AM");
    expect(trim(input)).toBe(input);
  });

  it("keeps lists made with double dashes", () => {
    const input = lines("Open points:", "-- budget", "-- venue", "-- catering");
    expect(trim(input)).toBe(input);
  });

  it("keeps a table whose header is underlined", () => {
    const input = lines("Item        Price", "-----------------", "Chairs      120", "Tables      300", "", "Total is 420.");
    expect(trim(input)).toBe(input);
  });

  it("keeps rule-like lines inside fenced code", () => {
    const input = lines("The config:", "", "```", "-----", "# comment", "-- ", "```", "", "That's all.");
    expect(trim(input)).toBe(input);
  });

  it("keeps short inline answers typed directly under short quoted questions", () => {
    const input = lines("See my answers.", "", "> Lunch?", "Yes.", "> Where?", "The usual place.");
    expect(trim(input)).toBe(input);
  });

  it("keeps a Markdown break between two parts of the reply", () => {
    const input = lines("Part one.", "", "---", "", "Part two, still the author's.");
    expect(trim(input)).toBe(input);
  });

  it("keeps prose that uses a quote-header verb", () => {
    const input = lines("Hallo,", "", "Am Montag, 5. Mai schrieb ich dir:", "Das Treffen ist um 10 Uhr.", "", "Gruß", "Anna");
    expect(trim(input)).toBe(input);
  });

  it("keeps indentation and blank lines inside the reply", () => {
    const input = lines("Steps:", "", "    1. build", "    2. test", "", "", "Done.");
    expect(trim(input)).toBe(input);
  });
});

describe("trim: line endings", () => {
  it("accepts CRLF and returns LF", () => {
    const input = ["Works for me.", "", "Thanks,", "Carol", "", "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "> Lunch?"].join("\r\n");
    expect(trim(input)).toBe(lines("Works for me.", "", "Thanks,", "Carol"));
  });

  it("accepts bare CR", () => {
    expect(trim(["Works for me.", "-- ", "Carol"].join("\r"))).toBe("Works for me.");
  });
});

describe("trim: pathological bodies return promptly and correctly", () => {
  const MB = 1024 * 1024;
  const GENEROUS = 20_000;

  it(
    "a 1 MB line without a newline",
    () => {
      const body = "word ".repeat(MB / 5);
      expect(trim(body)).toBe(body.trimEnd());
    },
    GENEROUS,
  );

  it(
    "a 1 MB line of spaces",
    () => {
      expect(trim(" ".repeat(MB))).toBe("");
    },
    GENEROUS,
  );

  it(
    "100k short lines",
    () => {
      const body = "a short line\n".repeat(100_000);
      expect(trim(body)).toBe(body.trimEnd());
    },
    GENEROUS,
  );

  it(
    "1 MB of '>' lines is kept as the author's quote",
    () => {
      const body = ">\n".repeat(MB / 2);
      expect(trim(body)).toBe(body.trimEnd());
    },
    GENEROUS,
  );

  it(
    "1 MB of quoted text under a reply is removed",
    () => {
      const body = "Thanks!\n\n" + "> quoted text of the previous message\n".repeat(MB / 38);
      expect(trim(body)).toBe("Thanks!");
    },
    GENEROUS,
  );

  it(
    "a long line ending like a header is not a header",
    () => {
      const body = `${"x".repeat(MB)} wrote:`;
      expect(trim(body)).toBe(body);
    },
    GENEROUS,
  );

  it(
    "many lines that each look like the end of a header",
    () => {
      const body = "Note 1:\n".repeat(MB / 8);
      expect(trim(body)).toBe(body.trimEnd());
    },
    GENEROUS,
  );

  it(
    "deeply nested quote markers",
    () => {
      const body = `Reply\n\n${">".repeat(MB)} On Tue, Mar 4, 2025 Bob <bob@example.com> wrote:`;
      expect(trim(body)).toBe("Reply");
    },
    GENEROUS,
  );
});

const FIXTURES = fileURLToPath(new URL("../../fixtures/trim/", import.meta.url));

function expectFixture(name: string): void {
  const input = readFileSync(`${FIXTURES}${name}.txt`, "utf8");
  const expected = readFileSync(`${FIXTURES}${name}.expected.txt`, "utf8");
  expect(trim(input)).toBe(expected.trimEnd());
}

describe("trim: an attribution without a date", () => {
  it("is a reply header when the quoted message follows at once (\"On Sun, Carol wrote:\")", () => {
    expect(trim("Fine by me.\n\nOn Sun, Carol wrote:\n> Shall we meet?")).toBe("Fine by me.");
    expect(trim("Thanks!\n\nOn Sunday, Carol Smith wrote:\n\n> Hi\n> there")).toBe("Thanks!");
  });

  it("is prose anywhere else", () => {
    expect(trim("I agree.\nOn reflection, Bob wrote:\nthe plan is good.")).toBe("I agree.\nOn reflection, Bob wrote:\nthe plan is good.");
    expect(trim("On reflection, Bob wrote: the report is fine.")).toBe("On reflection, Bob wrote: the report is fine.");
  });
});

describe("trim: fixtures", () => {
  it("every fixture has its expected output", () => {
    const names = readdirSync(FIXTURES).filter((f) => f.endsWith(".txt") && !f.endsWith(".expected.txt"));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expectFixture(name.replace(/\.txt$/, ""));
  });
});

describe("trim: sign-off tags in every language, and prose that only looks like one", () => {
  it.each([
    "Von Outlook für iOS gesendet",
    "Outlook für iOS beziehen<https://aka.ms/o0ukef>",
    "Sent with Proton Mail secure email.",
    "Odesláno z iPhonu",
    "נשלח מה-iPhone שלי",
    "iPhone'umdan gönderildi",
    "iPhone에서 보냄",
    "Trimis de pe iPhone-ul meu",
    "Στάλθηκε από το iPhone μου",
    "iOS 版 Outlook を入手",
  ])("removes %s", (tag) => {
    expect(trim(lines(REPLY, "", tag, "", "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "> Lunch?"))).toBe(REPLY);
  });

  it.each([
    "Sent the Android build to QA this morning.",
    "Get the Android app from the store, then log in.",
    "Wir müssen die Galaxy-Geräte beziehen",
    "Ich habe es gestern von meinem iPhone gesendet",
  ])("keeps %s and what follows it", (sentence) => {
    const input = lines(sentence, "", "More of my own text.", "Ann");
    expect(trim(input)).toBe(input);
  });
});

describe("trim: bidi marks and wrapped attributions", () => {
  it("reads a Hebrew Gmail attribution wrapped in direction marks", () => {
    const header = "\u202bבתאריך יום ג׳, 4 במרץ 2025 ב-9:12 מאת \u202aBob Marsh\u202c\u200f <\u202abob@example.com\u202c\u200f>:\u202c";
    expect(trim(lines("מתאים לי.", "", header, "", "> נפגש?"))).toBe("מתאים לי.");
  });

  it("reads an attribution wrapped after the sender's address", () => {
    const input = lines(REPLY, "", "Roberta Marsh <roberta@example.com>, 4 Mar 2025", "Sal, 09:12 tarihinde şunu yazdı:", "", "> Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("keeps the author's sentence with an address typed right above a reply header", () => {
    const input = lines("Write to <help@example.com>, they answer fast.", "On Tue, Mar 4, 2025 at 9:12 AM Bob <bob@example.com> wrote:", "> Lunch?");
    expect(trim(input)).toBe("Write to <help@example.com>, they answer fast.");
  });
});

describe("trim: BlackBerry's bare marker line", () => {
  it("cuts at '  Original Message  ' followed by header fields", () => {
    const input = lines(REPLY, "", "  Original Message  ", "From: Bob Marsh", "Sent: Tuesday, March 4, 2025 09:12", "To: Ann", "Subject: Lunch", "", "Lunch?");
    expect(trim(input)).toBe(REPLY);
  });

  it("keeps the words 'Original message' on a line of their own in prose", () => {
    const input = lines("Which one did you sign?", "", "Original message", "", "or the copy?");
    expect(trim(input)).toBe(input);
  });
});
