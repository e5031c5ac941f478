// Target: every message of a conversation lands in one thread in every participant's mailbox, under
// the rules Gmail, Outlook and JWZ clients (Thunderbird, Apple Mail, mutt, notmuch) thread by
// (test/helpers/threading-clients.ts), and two conversations never merge.
//
// Over real SMTP: Ann writes to the support inbox from Gmail with her own Message-ID; Bob answers
// from Outlook (Thread-Index extended as Outlook does), Cal from Thunderbird; each reply copies the
// threading headers of the copy it answers, as clients do. Cal also writes an internal note, which
// Bob's public answer follows. A second customer, Dee, writes to the inbox with the same subject.
// Each mailbox is what the person sent (under their client's Message-ID) and the copies they got.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listPosts } from "../../src/domain/posts.repo.js";
import { addressIn, ALICE, BOB, SUPPORT, replyToOf, startDesk } from "../helpers/desk.js";
import { rawHeader, type TestGateway } from "../helpers/gateway.js";
import type { SinkMessage } from "../helpers/smtp-sink.js";
import { gmailThreads, jwzThreads, mailboxMessage, outlookReplyIndex, outlookThreads, type MailboxMessage } from "../helpers/threading-clients.js";

const ANN = "ann@gmail.test";
const CAL = ALICE; // the desk's first member answers from Thunderbird
const DEE = "dee@other.test";
const SUBJECT = "Order 1234 is late";

type Client = "gmail" | "outlook" | "thunderbird";

interface Sent {
  readonly person: string;
  readonly conversation: number;
  readonly raw: string;
}

let t: TestGateway;
const sent: Sent[] = [];
let counter = 0;

/** A message as `client` writes it: a new one, or a reply copying the threading headers of `answering`. */
function compose(client: Client, from: string, to: string, text: string, answering?: SinkMessage, subject = SUBJECT): { raw: string; messageId: string } {
  const host = { gmail: "mail.gmail.test", outlook: "outlook.test", thunderbird: "thunderbird.test" }[client];
  const messageId = `<${client}-${++counter}-${from.split("@")[0]}@${host}>`;
  const head = [`From: ${from}`, `To: ${to}`, `Message-ID: ${messageId}`, "Date: Wed, 15 Jan 2025 09:30:00 +0000", "MIME-Version: 1.0"];
  if (answering) {
    const parentId = answering.parsed.messageId!;
    const references = [...(rawHeader(answering.raw, "References")?.match(/<[^<>\s]+>/g) ?? []), parentId];
    head.push(`Subject: ${client === "outlook" ? "RE" : "Re"}: ${SUBJECT}`, `In-Reply-To: ${parentId}`, `References: ${references.join("\r\n ")}`);
    if (client === "outlook") {
      // Outlook extends the index of the message it answers, or starts one when it has none.
      const index = rawHeader(answering.raw, "Thread-Index");
      head.push(`Thread-Index: ${outlookReplyIndex(index, Date.now())}`, `Thread-Topic: ${rawHeader(answering.raw, "Thread-Topic") ?? SUBJECT}`);
    }
  } else {
    head.push(`Subject: ${subject}`);
    if (client === "outlook") throw new Error("this test starts conversations from Gmail only");
  }
  const raw = [...head, "Content-Type: text/plain; charset=utf-8", "", text, ""].join("\r\n");
  return { raw, messageId };
}

/** Sends as a client would, keeps the message in the sender's Sent folder, and waits for the copies. */
async function send(client: Client, person: string, conversation: number, to: string, text: string, copies: number, answering?: SinkMessage): Promise<SinkMessage[]> {
  const before = t.sink.messages.length;
  const { raw } = compose(client, person, to, text, answering);
  await t.send({ envelope: { from: person, to: [to] }, raw });
  sent.push({ person, conversation, raw });
  const arrived = (await t.sink.waitFor(before + copies)).slice(before);
  expect(arrived.every((m) => m.parsed.text?.includes(text))).toBe(true);
  return arrived;
}

const copyTo = (copies: readonly SinkMessage[], person: string) => {
  const found = copies.find((m) => m.envelope.rcptTo.includes(person));
  if (!found) throw new Error(`no copy to ${person}`);
  return found;
};

/** The conversation a received copy belongs to, by its List-Id (its ground truth). */
function conversationOf(message: SinkMessage): number {
  const id = /<conversation-(\d+)\./.exec(rawHeader(message.raw, "List-Id") ?? "")?.[1];
  if (!id) throw new Error("a copy without List-Id");
  return Number(id);
}

/** One person's mailbox: their Sent folder and their Inbox, each message tagged with its conversation. */
async function mailboxOf(person: string): Promise<{ messages: MailboxMessage[]; conversation: Map<string, number>; raw: string[] }> {
  const messages: MailboxMessage[] = [];
  const conversation = new Map<string, number>();
  const raw: string[] = [];
  for (const [i, message] of sent.entries()) {
    if (message.person !== person) continue;
    const key = `${person} sent #${i}`;
    messages.push(await mailboxMessage(key, message.raw));
    conversation.set(key, message.conversation);
    raw.push(message.raw);
  }
  for (const [i, message] of t.sink.messages.entries()) {
    if (!message.envelope.rcptTo.includes(person)) continue;
    const key = `${person} received #${i}`;
    messages.push(await mailboxMessage(key, message.raw));
    conversation.set(key, conversationOf(message));
    raw.push(message.raw.toString("latin1"));
  }
  return { messages, conversation, raw };
}

const RULES = { gmail: gmailThreads, outlook: outlookThreads, jwz: jwzThreads };

describe("threading in every participant's mail client", () => {
  beforeAll(async () => {
    t = await startDesk();
    // Ann (Gmail) opens the conversation: Bob and Cal get copies.
    const first = await send("gmail", ANN, 1, SUPPORT, "P1 My order 1234 has not arrived.", 2);
    // Bob answers from Outlook.
    const second = await send("outlook", BOB, 1, replyToOf(copyTo(first, BOB)), "P2 We are looking into it.", 2, copyTo(first, BOB));
    // Ann answers Bob's copy from Gmail.
    const third = await send("gmail", ANN, 1, replyToOf(copyTo(second, ANN)), "P3 Thank you, any news?", 2, copyTo(second, ANN));
    // Cal answers Ann's copy from Thunderbird.
    await send("thunderbird", CAL, 1, replyToOf(copyTo(third, CAL)), "P4 It ships today.", 2, copyTo(third, CAL));
    // Cal writes an internal note on Bob's post; only Bob gets it.
    const note = await send("thunderbird", CAL, 1, addressIn(copyTo(second, CAL), "note")!, "N5 Internal: refund approved.", 1, copyTo(second, CAL));
    // Bob answers publicly, his Outlook threading on the note (to the public reply address its footer names).
    const sixth = await send("outlook", BOB, 1, addressIn(copyTo(note, BOB), "reply")!, "P6 Your refund is on its way.", 2, copyTo(note, BOB));
    // Ann answers that from Gmail.
    await send("gmail", ANN, 1, replyToOf(copyTo(sixth, ANN)), "P7 Great, thanks.", 2, copyTo(sixth, ANN));
    // Another customer, the same subject: another conversation.
    const other = await send("gmail", DEE, 2, SUPPORT, "Q1 My order is late too.", 2);
    await send("outlook", BOB, 2, replyToOf(copyTo(other, BOB)), "Q2 We will check.", 2, copyTo(other, BOB));
  });
  afterAll(() => t.dispose());

  for (const person of [ANN, BOB, CAL, DEE]) {
    for (const [rule, threads] of Object.entries(RULES)) {
      it(`${person}'s mailbox under ${rule}'s rule: each conversation is one thread, and the two never merge`, async () => {
        const { messages, conversation } = await mailboxOf(person);
        const groups = threads(messages);
        for (const id of new Set(conversation.values())) {
          const members = messages.filter((m) => conversation.get(m.key) === id).map((m) => m.key);
          const holding = groups.filter((group) => group.some((key) => members.includes(key)));
          expect(holding, `conversation ${id} in ${person}'s mailbox`).toHaveLength(1);
          expect([...holding[0]!].sort(), `conversation ${id} in ${person}'s mailbox`).toEqual([...members].sort());
        }
      });
    }
  }

  it("the mailboxes hold what the scenario says: sent and received, both conversations for the desk", async () => {
    const counts = async (person: string) => {
      const { messages, conversation } = await mailboxOf(person);
      return [1, 2].map((id) => messages.filter((m) => conversation.get(m.key) === id).length);
    };
    expect(await counts(ANN)).toEqual([6, 0]); // sent P1 P3 P7, received P2 P4 P6 (never the note)
    expect(await counts(BOB)).toEqual([7, 2]); // sent P2 P6, received P1 P3 P4 N5 P7; sent Q2, received Q1
    expect(await counts(CAL)).toEqual([7, 2]); // sent P4 N5, received P1 P2 P3 P6 P7; received Q1 Q2
    expect(await counts(DEE)).toEqual([0, 2]); // sent Q1, received Q2
  });

  it("never shows Ann a note's ids nor a member's own Message-IDs", async () => {
    const posts = await t.read(({ tx }) => listPosts(tx, 1));
    const note = posts.find((p) => p.note)!;
    const memberSources = posts.filter((p) => p.sourceMessageId && !p.sourceMessageId.includes("gmail")).map((p) => p.sourceMessageId!);
    expect(memberSources.length).toBeGreaterThan(0);
    const { raw } = await mailboxOf(ANN);
    const received = raw.filter((message) => !message.startsWith(`From: ${ANN}`)).join("\n");
    for (const id of [note.messageId, note.sourceMessageId!, ...memberSources]) expect(received).not.toContain(id);
  });

  it("gives every copy of a post one Thread-Index under the conversation's root, and Ann's own Message-ID in the References of the copies", async () => {
    const copies = t.sink.messages.filter((m) => conversationOf(m) === 1);
    const indexes = copies.map((m) => Buffer.from(rawHeader(m.raw, "Thread-Index")!, "base64"));
    const root = indexes[0]!.subarray(0, 22);
    expect(indexes.every((index) => index.subarray(0, 22).equals(root))).toBe(true);
    expect(new Set(copies.map((m) => rawHeader(m.raw, "Thread-Topic")))).toEqual(new Set([SUBJECT]));
    const annFirst = (await t.read(({ tx }) => listPosts(tx, 1)))[0]!.sourceMessageId!;
    expect(annFirst).toMatch(/gmail/);
    for (const copy of copies) expect(rawHeader(copy.raw, "References"), copy.parsed.text).toContain(annFirst);
  });
});
