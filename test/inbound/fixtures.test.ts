// Realistic inbound mail, one .eml per scenario (test/fixtures/eml/), run through what the SMTP
// transaction does with it: parse, classify, trim. Each row of FIXTURES says what a person reading
// the message would expect. Where Postern does not meet that yet, the expectation is kept as
// `it.fails` with a note naming the gap, so that fixing it turns the test red and the row is updated.

import { readFileSync, readdirSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/config.js";
import { classifyMessage, type Classification } from "../../src/inbound/classify.js";
import { readCalendar } from "../../src/inbound/calendar-ics.js";
import { parseMessage, type ParsedMessage } from "../../src/inbound/parse.js";
import { trim } from "../../src/inbound/trim/trim.js";

const FIXTURE_DIR = new URL("../fixtures/eml/", import.meta.url);
const config = buildConfig({ gateway: { domain: "example.test", name: "Acme" } }, "test");

interface Result {
  readonly message: ParsedMessage;
  readonly classification: Classification;
  readonly trimmed: string;
}

interface KnownGap {
  /** What should hold, and why it does not yet. */
  readonly name: string;
  readonly check: (result: Result) => void;
}

interface Expectation {
  readonly file: string;
  readonly kind: "human" | "automatic" | "loop";
  /** A delivery status notification: envelope sender is "" (null return path). */
  readonly dsn?: { readonly status: string; readonly action: "failed" | "delayed" };
  /** Matched against the classification reason of automatic mail. */
  readonly reason?: RegExp;
  readonly subject?: string;
  readonly fromName?: string;
  /** Decoded in message.text (charsets, transfer encodings, HTML-to-text). */
  readonly text?: readonly string[];
  /** The author's own words, present after trimming. */
  readonly kept?: readonly string[];
  /** Quoted text, quote headers, separators and signatures, absent after trimming. */
  readonly dropped?: readonly string[];
  readonly attachments?: readonly { filename: string; contentType: string; inline: boolean; contentId?: string }[];
  readonly noMessageId?: boolean;
  /** A calendar answer (iMIP): what parse.ts hands calendar-reply.ts, read back with its reader. */
  readonly calendar?: { readonly method: "REPLY" | "COUNTER"; readonly partstat: string; readonly start: number; readonly end: number };
  /** The classification the row states is right but not what classifyMessage answers today. */
  readonly kindGap?: string;
  readonly gaps?: readonly KnownGap[];
}

const FIXTURES: readonly Expectation[] = [
  // ---- Replies from common clients ------------------------------------------------------------
  {
    file: "reply_gmail_web.eml",
    kind: "human",
    kept: ["Thanks for sending the draft over.", "could we move the renewal date to the first of April?", "Best,\nBob"],
    dropped: ["On Mon, 3 Mar 2025 at 10:02, Alice via Acme", "wrote:", "Please find the draft renewal terms below."],
  },
  {
    file: "reply_gmail_web_wrapped_header.eml",
    kind: "human",
    kept: ["I'll have IT create the accounts by Wednesday", "Priya"],
    dropped: ["On Mon, Mar 3, 2025 at 10:02 AM", "Customer Success <success@example.test> wrote:", "the badge photos, and a contact for the building manager"],
  },
  {
    file: "reply_gmail_fr.eml",
    kind: "human",
    fromName: "Élodie Bernard",
    kept: ["Nous validons le devis", "commande dès aujourd’hui.", "Cordialement,\nÉlodie"],
    dropped: ["Le lun. 3 mars 2025 à 10:02", "a écrit :", "Voici le devis révisé pour les 40 licences."],
  },
  {
    file: "reply_gmail_de.eml",
    kind: "human",
    fromName: "Jürgen Weber",
    kept: ["danke für die schnelle Antwort.", "der Hausmeister ist ab 8 Uhr da.", "Viele Grüße\nJürgen"],
    dropped: ["Am Mo., 3. März 2025 um 10:02 Uhr schrieb", "support@example.test>:", "wir könnten den Techniker am Donnerstag"],
  },
  {
    file: "reply_gmail_es.eml",
    kind: "human",
    subject: "Re: Revisión trimestral",
    kept: ["confirmamos la reunión del miércoles a las 16:00", "Saludos,\nLucía"],
    dropped: ["El lun, 3 mar 2025 a las 10:02", "escribió:", "¿Te viene bien que hagamos la revisión trimestral"],
  },
  {
    file: "reply_outlook_desktop.eml",
    kind: "human",
    kept: ["The invoice is approved.", "Kind regards,\nDana Whitfield\nAccounts Payable | Customer Ltd"],
    dropped: ["________________________________", "From: Alice via Acme", "Sent: Monday, March 3, 2025 10:02 AM", "Subject: Invoice 2025-0142", "for the February retainer is attached"],
  },
  {
    file: "reply_outlook_web.eml",
    kind: "human",
    kept: ["Hannah will be the admin for our team", "Thanks,\nMarcus"],
    dropped: ["________________________________", "From: Alice via Acme", "Cc: Reporting Team", "Who on your side should get administrator rights?"],
  },
  {
    file: "reply_outlook_web_german.eml",
    kind: "human",
    subject: "AW: Schulungstermine im April",
    text: ["Mit freundlichen Grüßen"],
    kept: ["der 8. April passt uns am besten", "Mit freundlichen Grüßen\nSabine Hoffmann"],
    dropped: ["Von: Alice via Acme", "Gesendet: Montag, 3. März 2025 11:02", "Betreff: Schulungstermine", "für die Schulung können wir Ihnen"],
  },
  {
    file: "reply_outlook_original_message.eml",
    kind: "human",
    kept: ["Part numbers are HX-220 and HX-224", "Leeds depot as usual.", "Tom"],
    dropped: ["-----Original Message-----", "From: Alice via Acme", "needs new filter housings"],
  },
  {
    file: "reply_outlook_ios.eml",
    kind: "human",
    kept: ["Friday works. Park in bay 7 and ask for me at the gate.", "Nadia"],
    dropped: ["Get Outlook for iOS", "From: Alice via Acme", "Our surveyor could come on Friday at 2pm."],
  },
  {
    file: "reply_outlook_ios_german.eml",
    kind: "human",
    kept: ["Donnerstag um 15 Uhr passt gut, ich bringe den Schlüssel für den Technikraum mit.", "Nina"],
    dropped: ["Outlook für iOS beziehen", "Von: Alice via Acme", "Gesendet: Montag", "würde Ihnen Donnerstag um 15 Uhr"],
  },
  {
    file: "reply_exchange_x_auto_response_suppress.eml",
    // Outlook/Exchange sets X-Auto-Response-Suppress on ordinary mail: a person wrote this.
    kind: "human",
    kept: ["Two questions: why did ticket volume double", "Regards,\nGeorge Adeyemi\nHead of IT Operations"],
    dropped: ["From: Alice via Acme", "Sent: 03 March 2025 10:02", "we met all response-time targets"],
  },
  {
    file: "reply_apple_mail_iphone.eml",
    kind: "human",
    kept: ["Thursday morning is fine, someone will be at reception from 8."],
    dropped: ["Sent from my iPhone", "On 3 Mar 2025, at 10:02, Alice via Acme", "The courier can deliver the replacement unit"],
  },
  {
    file: "reply_thunderbird_bottom_posted.eml",
    kind: "human",
    fromName: "Chloé Martin",
    kept: ["Hello Alice,", "I posted the original this morning and the scan is attached to the order in your portal.", "Best regards,\nChloé"],
    // format=flowed: the soft-broken quoted paragraph is joined at its quote depth, without a stray "> ".
    text: ["> Could you send us the signed delivery note for order 7731? Our auditors need it before the end of the week."],
    dropped: ["On 03/03/2025 11:02, Alice via Acme wrote:", "Could you send us the signed delivery note", "Our auditors"],
  },
  {
    file: "reply_yahoo_web.eml",
    kind: "human",
    kept: ["Thursday the 13th works best for our team. Shall we say 2pm, in the large meeting room?", "Ken"],
    dropped: ["On Monday, 3 March 2025 at 10:02:15 GMT, Alice via Acme", "Would Tuesday 11th or Thursday 13th suit you"],
  },
  {
    file: "reply_mutt_bottom_posted_signature.eml",
    kind: "human",
    kept: ["Please keep it until the 15th; we still run the nightly load tests", "Cheers,\nRaj"],
    dropped: ["On Mon, Mar 03, 2025 at 10:02:15AM +0000, Alice via Acme wrote:", "Is the staging server still needed", "-- ", "Infrastructure, Customer Ltd", "+44 20 7946 0321"],
  },
  {
    file: "reply_fastmail_top_posted_alternative.eml",
    kind: "human",
    kept: ["Yes please, go ahead and book the larger room.", "two\nof them joining after lunch.", "Sofia"],
    dropped: ["On Mon, 3 Mar 2025, at 10:02, Alice via Acme wrote:", "The meeting room for 20 people is free on the 12th."],
  },
  {
    file: "reply_inline_interleaved.eml",
    kind: "human",
    // An inline reply keeps the questions it answers as context; the attribution and the
    // unanswered tail of the quote (Alice's sign-off) go.
    kept: [
      "> 1. How many seats do you need on the new plan?\n\nTwelve for now, possibly fifteen from June.",
      "No, please use our new office: 4 Harbour Street, Leith.",
      "> 3. Do you want us to migrate the archive as well?\n\nYes, everything from 2023 onwards.",
      // format=flowed: the wrapped quoted question reads as the author's client showed it.
      "> 2. Should the invoice go to the same billing address, or has anything changed since your last renewal?",
    ],
    dropped: ["On 03/03/2025 10:02, Alice via Acme wrote:", "> Thanks,", "Customer Success, Acme"],
  },
  {
    file: "reply_proton_mail.eml",
    kind: "human",
    kept: ["Tuesday at 3pm works for me. I'll send the dial-in details in the morning.", "Nina"],
    dropped: ["Sent with Proton Mail secure email.", "On Monday, March 3rd, 2025 at 10:02 AM, Alice via Acme", "Could we have a short call about the data export"],
  },
  {
    file: "reply_samsung_email_html_only.eml",
    // text/html only: message.text comes from mailparser's HTML-to-text conversion.
    kind: "human",
    text: ["-------- Original message --------"],
    kept: ["I can drop the spare keys at your front desk tomorrow before noon.", "Amir"],
    dropped: ["Sent from my Galaxy", "-------- Original message --------", "Date: 03/03/2025", "Our caretaker needs a second set of keys"],
  },

  // ---- New messages, forwards, MIME structure, charsets ----------------------------------------
  {
    file: "new_message_html_only.eml",
    kind: "human",
    text: ["Could you update the invoice address on our account", "12 Canal Wharf"],
    kept: ["We moved offices last month.", "Our account number is AC-30418.", "Helen Park\nOffice Manager"],
  },
  {
    file: "new_message_with_pdf_attachment.eml",
    kind: "human",
    kept: ["Please find our signed purchase order PO-55812 attached.", "Thanks,\nBob"],
    attachments: [{ filename: "PO-55812 signed.pdf", contentType: "application/pdf", inline: false }],
  },
  {
    file: "attachment_raw_utf8_filename.eml",
    kind: "human",
    subject: "請求書",
    kept: ["請求書を添付します。"],
    // UTF-8 bytes in filename="…" with no RFC 2231/2047 encoding: mailparser reads them as Latin-1.
    attachments: [{ filename: "請求書.pdf", contentType: "application/pdf", inline: false }],
  },
  {
    file: "new_message_inline_image_gmail.eml",
    kind: "human",
    kept: ["Exporting the monthly report to Excel fails", "It worked fine last week."],
    attachments: [{ filename: "export-error.png", contentType: "image/png", inline: true, contentId: "<ii_m7t3x9a10>" }],
  },
  {
    file: "forward_gmail.eml",
    kind: "human",
    // What the author typed above a forward is the post; the forwarded message goes.
    kept: ["Forwarding the supplier's dispatch confirmation below.", "Thanks,\nBob"],
    dropped: ["---------- Forwarded message ---------", "From: Carol Supplier", "Order 7731 is confirmed for dispatch"],
  },
  {
    file: "forward_gmail_nothing_typed.eml",
    kind: "human",
    // Nothing typed: the forwarded body is the content, without the marker and its header fields.
    kept: ["The electricity meter reading for unit 4 on 28 February was 48213 kWh.", "Facilities Desk"],
    dropped: ["---------- Forwarded message ---------", "From: Facilities Desk", "Subject: Meter reading for February"],
  },
  {
    file: "new_message_no_message_id.eml",
    kind: "human",
    noMessageId: true,
    kept: ["The password reset link you sent me on Friday has expired", "Frank Oduya"],
  },
  {
    file: "new_message_windows1252.eml",
    kind: "human",
    text: ["la commande du café et des viennoiseries : 240 € TTC", "“livraison par l’entrée de service”", "sur le bon – le hall sera fermé."],
    kept: ["240 € TTC, livraison à 8h30.", "Marie Dubois"],
  },
  {
    file: "new_message_iso8859_1.eml",
    kind: "human",
    subject: "Bestätigung der Lieferadresse",
    text: ["Schloßstraße 14", "nicht an das Büro. Die Öffnungszeiten", "Freundliche Grüße"],
    kept: ["Freundliche Grüße\nKlaus Brandt"],
  },
  {
    file: "subject_rfc2047_encoded_words.eml",
    kind: "human",
    // UTF-8 Q, ISO-8859-1 B and UTF-8 B encoded words in one folded subject.
    subject: "Réservation du café pour le séminaire - Grüße aus Zürich",
    fromName: "Zoë Müller",
    text: ["je voudrais réserver le café pour notre séminaire du 20 mars"],
    kept: ["Grüße aus Zürich,\nZoë Müller"],
  },
  {
    file: "japanese_iso2022jp.eml",
    kind: "human",
    subject: "会議の日程について",
    fromName: "田中",
    text: ["来週の火曜日は空いていますか？", "よろしくお願いします。"],
    kept: ["来週の火曜日は空いていますか？\nよろしくお願いします。"],
  },

  // ---- Forwards to an inbox (the opening post keeps the forwarded message: test/app/forwards-to-an-inbox.test.ts)
  {
    file: "forward_outlook_desktop.eml",
    kind: "human",
    text: ["From: Peter Novak <peter.novak@customer.test>", "Sent: Monday, March 3, 2025 5:12 PM", "The pallet for order 8812 arrived with two boxes crushed."],
    // As a reply, the forwarded message is cut like a quote.
    kept: ["Team, this customer phoned about it too. Can someone arrange a collection?"],
    dropped: ["The pallet for order 8812 arrived"],
  },
  {
    file: "forward_apple_mail.eml",
    kind: "human",
    text: ["Begin forwarded message:", "> From: Hanna Berg <hanna.berg@customer.test>", "> From April, please send invoices to finance@customer.test instead of me."],
    kept: ["Passing this on for accounts."],
    dropped: ["From April, please send invoices"],
  },
  {
    file: "forward_attached_rfc822.eml",
    kind: "human",
    kept: ["The customer's claim is attached as sent. Over to the warranty desk."],
    attachments: [{ filename: "Warranty claim 5521.eml", contentType: "message/rfc822", inline: false }],
  },
  {
    file: "reply_unsubscribe_only.eml",
    kind: "human",
    // The whole reply is "Unsubscribe": the reply handler takes it as leaving (test/app/unsubscribe-replies.test.ts).
    kept: ["Unsubscribe"],
    dropped: ["Here are the plans for the quarterly newsletter."],
  },

  // ---- Mis-declared charsets, recovered (charset-repair.ts) ---------------------------------------
  {
    // Labelled Big5, written in UTF-8: read as UTF-8.
    file: "charset_big5_label_utf8_body.eml",
    kind: "human",
    text: ["您好，", "我們的訂單 7731 什麼時候發貨？請告訴我預計的到貨日期。"],
    kept: ["我們的訂單 7731 什麼時候發貨？"],
  },
  {
    // Quoted-printable with raw 8-bit UTF-8 lines: "一" once came out as a NUL.
    file: "charset_qp_raw_8bit_utf8.eml",
    kind: "human",
    text: ["München, Straße 1 — thank you.", "請把發票地址改一下：東京都千代田区一丁目 1 番地。", "Café — naïve — 一"],
    kept: ["Café — naïve — 一"],
  },
  {
    // An ISO-8859-1 encoded word and a windows-1252 name holding UTF-8 bytes; a NUL and BEL in the subject and body.
    file: "subject_wrong_charset_and_nul.eml",
    kind: "human",
    subject: "Rückerstattung für Bestellung 7731 / Ref 42",
    fromName: "Jürgen Weiß",
    text: ["Guten Tag,\n", "bitte erstatten Sie den Betrag für Bestellung 7731.\n"],
  },

  // ---- Group-forwarded mail to an inbox (group-forward.ts; through the gateway in test/app/group-forwarded-mail.test.ts)
  {
    // A Google Group at the inbox's own address: classify.ts alone sees list mail; apply.ts makes it Carla's.
    file: "group_forward_google_x_original_from.eml",
    kind: "automatic",
    reason: /Precedence: list/,
    text: ["I asked for a login link three times this morning and none arrived."],
  },
  { file: "group_forward_reply_to_only.eml", kind: "human", text: ["Does the spring price list already include the new filter sizes?"] },
  { file: "group_forward_loop_own_copy.eml", kind: "loop", reason: /sent by Postern itself/ },

  // ---- Automatic mail ---------------------------------------------------------------------------
  { file: "auto_reply_auto_submitted_helpdesk.eml", kind: "automatic", reason: /Auto-Submitted: auto-replied/ },
  { file: "auto_reply_x_autoreply.eml", kind: "automatic", reason: /x-autoreply/ },
  { file: "precedence_bulk_newsletter.eml", kind: "automatic", reason: /Precedence: bulk/ },
  { file: "precedence_list_mailman.eml", kind: "automatic", reason: /Precedence: list/ },
  // Exchange sends Auto-Submitted: auto-generated with its "Automatic reply:" out-of-office notes.
  { file: "auto_reply_outlook_ooo.eml", kind: "automatic", reason: /Auto-Submitted: auto-generated/, subject: "Automatic reply: Invoice 2025-0142" },
  // No RFC 3834 header (an Outlook rule's reply): only the subject gives it away.
  {
    file: "auto_reply_outlook_abwesenheitsnotiz.eml",
    kind: "automatic",
    reason: /out-of-office subject/,
    text: ["Ich bin bis einschließlich 7. März nicht im Büro"],
  },
  {
    file: "auto_reply_exchange2003_out_of_office_autoreply.eml",
    kind: "automatic",
    // Exchange 2003 / Outlook 2003 write "Out of Office AutoReply: <subject>" and no Auto-Submitted.
    reason: /out-of-office subject/,
  },
  { file: "read_receipt_outlook.eml", kind: "automatic", reason: /delivery or read report/ },

  // ---- Delivery status notifications (envelope sender "") ---------------------------------------
  { file: "bounce_dsn_hard.eml", kind: "automatic", dsn: { status: "5.1.1", action: "failed" } },
  // Sent to a copy's Reply-To or From instead of its VERP address (test/app/misdirected-bounces.test.ts).
  { file: "bounce_postfix_to_reply_address.eml", kind: "automatic", dsn: { status: "5.1.1", action: "failed" } },
  {
    file: "bounce_exchange_to_from_address.eml",
    kind: "automatic",
    subject: "Undeliverable: Contract",
    dsn: { status: "5.2.2", action: "failed" },
  },
  {
    file: "bounce_postfix_user_unknown.eml",
    kind: "automatic",
    dsn: { status: "5.1.1", action: "failed" },
    text: ["X-Postfix; host mx.customer.test[192.0.2.25] said: 550 5.1.1"],
  },
  {
    file: "bounce_exim_mail_delivery_failed.eml",
    kind: "automatic",
    subject: "Mail delivery failed: returning message to sender",
    // Exim reports a generic 5.0.0 and puts the real code in the diagnostic.
    dsn: { status: "5.0.0", action: "failed" },
    text: ["Diagnostic-Code: smtp; 550 5.1.1 <sam.lee@customer.test>"],
  },
  {
    file: "bounce_exchange_recipient_not_found.eml",
    kind: "automatic",
    subject: "Undeliverable: Price list 2025",
    dsn: { status: "5.1.10", action: "failed" },
    text: ["550 5.1.10 RESOLVER.ADR.RecipientNotFound"],
  },
  {
    file: "bounce_gmail_address_not_found.eml",
    kind: "automatic",
    subject: "Delivery Status Notification (Failure)",
    dsn: { status: "5.1.1", action: "failed" },
    text: ["550-5.1.1 The email account that you tried to reach does not exist."],
  },
  {
    file: "bounce_postfix_delayed.eml",
    kind: "automatic",
    subject: "Delayed Mail (still being retried)",
    dsn: { status: "4.4.1", action: "delayed" },
  },

  // ---- Calendar answers (iMIP REPLY, COUNTER) to an appointment's invitation ------------------
  // Human mail by every rule classify.ts knows (calendars send no Auto-Submitted): the reply
  // handler finds the text/calendar part first and records it as an RSVP instead of a post.
  {
    file: "calendar_reply_google_accepted.eml",
    kind: "human",
    subject: "Accepted: Budget review @ Mon 10 Mar 2025 2pm - 3:30pm (CET) (bob@gmail.test)",
    fromName: "Bob Example",
    calendar: { method: "REPLY", partstat: "ACCEPTED", start: Date.UTC(2025, 2, 10, 13, 0), end: Date.UTC(2025, 2, 10, 14, 30) },
  },
  {
    file: "calendar_reply_outlook_declined.eml",
    kind: "human",
    subject: "Declined: Budget review",
    fromName: "Carol Jones",
    calendar: { method: "REPLY", partstat: "DECLINED", start: Date.UTC(2025, 2, 10, 13, 0), end: Date.UTC(2025, 2, 10, 14, 30) },
  },
  {
    file: "calendar_reply_apple_tentative.eml",
    kind: "human",
    subject: "Invitation: Budget review (Tentative)",
    fromName: "Dan Smith",
    calendar: { method: "REPLY", partstat: "TENTATIVE", start: Date.UTC(2025, 2, 10, 13, 0), end: Date.UTC(2025, 2, 10, 14, 30) },
  },
  {
    // Outlook's "Propose new time": Windows zone name, resolved through the message's own VTIMEZONE.
    file: "calendar_counter_outlook_new_time.eml",
    kind: "human",
    subject: "New Time Proposed: Budget review",
    calendar: { method: "COUNTER", partstat: "TENTATIVE", start: Date.UTC(2025, 2, 11, 9, 0), end: Date.UTC(2025, 2, 11, 10, 30) },
  },

  // ---- HTML quote blocks and signatures: the expected posts are in test/inbound/content.test.ts ----
  { file: "html_gmail_reply_quote_signature.eml", kind: "human", subject: "Re: Rollout plan" },
  { file: "html_apple_mail_blockquote_cite.eml", kind: "human", subject: "Re: Badge photos" },
  { file: "html_apple_mail_forward.eml", kind: "human", subject: "Fwd: Delivery window for order 5521" },
  { file: "html_outlook_divrplyfwdmsg.eml", kind: "human", subject: "Re: Access to the reporting dashboard" },
  { file: "html_outlook_reply_html_only.eml", kind: "human", subject: "RE: Invoice 2025-0151", attachments: [{ filename: "Remittance 2025-0151.pdf", contentType: "application/pdf", inline: false }] },
  { file: "html_thunderbird_moz_cite_prefix.eml", kind: "human", subject: "Re: Signed contract", fromName: "Chloé Martin" },
  { file: "html_yahoo_quoted.eml", kind: "human", subject: "Re: Training room" },
  { file: "html_samsung_html_only_mixed.eml", kind: "human", subject: "RE: Meter reading" },
  {
    file: "html_gmail_html_only_mixed_inline_image.eml",
    kind: "human",
    subject: "Dashboard shows the wrong totals",
    attachments: [{ filename: "totals.png", contentType: "image/png", inline: true, contentId: "<ii_m8a1b2c3d4>" }],
  },

  // ---- Poison messages ------------------------------------------------------------------------
  {
    // An attachment whose Content-Type header is empty: mailparser gives `false` for its type, which
    // once reached the attachment insert and made every retry a 451.
    file: "poison_empty_content_type.eml",
    kind: "human",
    subject: "Invoice attached",
    text: ["Please see the attached invoice."],
    attachments: [{ filename: "invoice.bin", contentType: "application/octet-stream", inline: false }],
  },
];

async function run(expectation: Expectation): Promise<Result> {
  const raw = readFileSync(new URL(expectation.file, FIXTURE_DIR));
  const message = await parseMessage(raw);
  const envelopeFrom = expectation.dsn ? "" : message.from.address;
  return { message, classification: classifyMessage(config, message, envelopeFrom), trimmed: trim(message.text) };
}

describe("inbound .eml fixtures", () => {
  it("has one row per fixture file, and at least 32 fixtures", () => {
    const files = readdirSync(FIXTURE_DIR).filter((name) => name.endsWith(".eml")).sort();
    const rows = FIXTURES.map((row) => row.file);
    expect(new Set(rows).size).toBe(rows.length);
    expect([...rows].sort()).toEqual(files);
    expect(files.length).toBeGreaterThanOrEqual(32);
  });

  for (const expectation of FIXTURES) {
    describe(expectation.file, () => {
      let result: Result;
      beforeAll(async () => {
        result = await run(expectation);
      });

      const classifies = expectation.kindGap ? it.fails : it;
      classifies(`is ${expectation.kind}${expectation.kindGap ? ` (gap: ${expectation.kindGap})` : ""}`, () => {
        expect(result.classification.kind).toBe(expectation.kind);
        if (expectation.reason) {
          expect(result.classification.kind === "human" ? "" : result.classification.reason).toMatch(expectation.reason);
        }
      });

      if (expectation.subject !== undefined || expectation.fromName !== undefined) {
        it("decodes the subject and sender name", () => {
          if (expectation.subject !== undefined) expect(result.message.subject).toBe(expectation.subject);
          if (expectation.fromName !== undefined) expect(result.message.from.name).toBe(expectation.fromName);
        });
      }

      if (expectation.text) {
        it("decodes the body text", () => {
          const decoded = expectation.dsn ? (result.message.deliveryStatus ?? "") : result.message.text;
          for (const fragment of expectation.text ?? []) expect(decoded).toContain(fragment);
        });
      }

      if (expectation.dsn) {
        const { status, action } = expectation.dsn;
        it(`carries a delivery status (${action}, ${status})`, () => {
          expect(result.message.contentType).toMatch(/^multipart\/report/);
          expect(result.message.deliveryStatus).toBeDefined();
          expect(result.message.deliveryStatus).toMatch(new RegExp(`^Status:\\s*${status.replace(/\./g, "\\.")}\\s*$`, "m"));
          expect(result.message.deliveryStatus).toMatch(new RegExp(`^Action:\\s*${action}\\s*$`, "im"));
          if (result.classification.kind !== "human") expect(result.classification.reason).toMatch(/empty return path/);
        });
      }

      if (expectation.kept || expectation.dropped) {
        it("trims to the author's own words", () => {
          expect(result.trimmed).not.toBe("");
          for (const fragment of expectation.kept ?? []) expect(result.trimmed).toContain(fragment);
          for (const fragment of expectation.dropped ?? []) expect(result.trimmed).not.toContain(fragment);
        });
      }

      if (expectation.attachments) {
        it("keeps the attachments", () => {
          expect(
            result.message.attachments.map((a) => ({
              filename: a.filename,
              contentType: a.contentType,
              inline: a.inline,
              ...(a.contentId && expectation.attachments?.some((e) => e.contentId) ? { contentId: a.contentId } : {}),
            })),
          ).toEqual(expectation.attachments);
          for (const attachment of result.message.attachments) expect(attachment.content.length).toBeGreaterThan(0);
        });
      }

      if (expectation.noMessageId) {
        it("has no Message-ID and deduplicates on a digest of the raw message", () => {
          expect(result.message.messageId).toBeUndefined();
          expect(result.message.dedupeKey).toMatch(/^<sha256\.[0-9a-f]{64}@postern\.invalid>$/);
        });
      }

      if (expectation.calendar) {
        const expected = expectation.calendar;
        it(`carries a calendar ${expected.method} (${expected.partstat})`, () => {
          const reply = readCalendar(result.message.calendar ?? "");
          expect(reply?.method).toBe(expected.method);
          expect(reply?.event.find((p) => p.name === "UID")?.value).toBe("h7mbxq2k4zv6nwt3rdjyc5lf2gpeuaso@example.test");
          expect(reply?.event.find((p) => p.name === "ATTENDEE")?.params.get("PARTSTAT")).toBe(expected.partstat);
          expect([reply?.time("DTSTART"), reply?.time("DTEND")]).toEqual([expected.start, expected.end]);
        });
      }

      for (const gap of expectation.gaps ?? []) {
        // Known gap: this expectation is right and fails today. When it starts passing, move it
        // into the row's ordinary expectations.
        it.fails(`gap: ${gap.name}`, () => gap.check(result));
      }
    });
  }
});
