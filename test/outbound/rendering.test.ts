// Copies as a person sees them: Postern's real renderer writes each copy, headless Chromium opens
// its HTML part (scripts off, as in a mail client), and the test reads what is on the screen.
// Screenshots are written under a temporary folder, whose path is printed.

import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildConfig, type Config } from "../../src/config/config.js";
import { createPost, publishPost, type AttachmentInput } from "../../src/domain/posts.service.js";
import type { Conversation, User } from "../../src/domain/records.js";
import { readContent } from "../../src/inbound/content.js";
import { parseMessage } from "../../src/inbound/parse.js";
import { compose, draftDelivery } from "../../src/outbound/render.js";
import { createTestStore, type TestStore } from "../helpers/database.js";
import { deliveryOf, DOMAIN, seedConversation, seedUser, T0 } from "../helpers/seed.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
const SHOTS = mkdtempSync(join(tmpdir(), "postern-rendering-"));

let browser: Browser;
let t: TestStore;
let config: Config;
let alice: User;
let bob: User;
let conversation: Conversation;

beforeAll(async () => {
  if (!CHROMIUM) return;
  browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  console.info(`rendering screenshots: ${SHOTS}`);
});
afterAll(async () => browser?.close());

beforeEach(async () => {
  t = await createTestStore();
  config = buildConfig({ gateway: { domain: DOMAIN, name: "Postern" } });
  alice = await seedUser(t, "alice@team.test", "Alice Agent", "staff");
  bob = await seedUser(t, "bob@customer.test", "Bob Customer");
  const carol = await seedUser(t, "carol@customer.test", "Carol Customer");
  ({ conversation } = await seedConversation(t, alice, [bob, carol], { subject: "Rollout plan", body: "Shall we plan the rollout?" }));
});
afterEach(() => t.dispose());

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url));

/** Bob's message posted as the inbound path posts it, and Alice's copy of it as Postern sends it. */
async function aliceCopyOf(post: { body: string; html: string | null; attachments?: readonly AttachmentInput[] }): Promise<ParsedMail> {
  const published = await t.write(async (ctx) => {
    const draft = await createPost(ctx, conversation, { author: bob, body: post.body, rawBody: post.body, html: post.html, attachments: post.attachments ?? [] });
    return publishPost(ctx, conversation, draft);
  }, T0 + 1000);
  const delivery = await t.read((ctx) => deliveryOf(ctx, published.id, alice.id));
  const rendered = await compose(await t.read(({ tx }) => draftDelivery(tx, config, delivery)));
  return simpleParser(rendered.raw);
}

async function fromFixture(name: string): Promise<ParsedMail> {
  const message = await parseMessage(fixture(name));
  const { reply } = readContent(message);
  return aliceCopyOf({ body: reply.text, html: reply.html, attachments: message.attachments });
}

interface Screen {
  readonly text: string;
  readonly links: { href: string; text: string }[];
  readonly images: { loaded: boolean; width: number }[];
  readonly bold: string[];
  readonly items: string[];
}

/** The copy's HTML part on screen; cid: images resolved from the copy's own parts, as a mail client does. */
async function show(mail: ParsedMail, name: string): Promise<Screen> {
  let html = typeof mail.html === "string" ? mail.html : "";
  for (const part of mail.attachments) {
    if (!part.cid) continue;
    html = html.split(`cid:${part.cid}`).join(`data:${part.contentType};base64,${part.content.toString("base64")}`);
  }
  const page = await browser.newPage();
  try {
    await page.setJavaScriptEnabled(false);
    await page.setViewport({ width: 800, height: 600 });
    await page.setContent(html, { waitUntil: "load" });
    const path = join(SHOTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.info(`screenshot: ${path}`);
    return await page.evaluate(() => ({
      text: document.body.innerText,
      links: [...document.querySelectorAll("a")].map((a) => ({ href: a.getAttribute("href") ?? "", text: a.innerText })),
      images: [...document.querySelectorAll("img")].map((img) => ({ loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth })),
      bold: [...document.querySelectorAll("b, strong")].map((b) => (b as HTMLElement).innerText),
      items: [...document.querySelectorAll("li")].map((li) => li.innerText),
    }));
  } finally {
    await page.close();
  }
}

describe.skipIf(!CHROMIUM)("copies rendered in headless Chromium", () => {
  it("a plain-text post: its words, its bare URL a link", async () => {
    const mail = await aliceCopyOf({ body: "The plan is at https://plans.customer.test/rollout?site=leeds for now.\n\nBob", html: null });
    const screen = await show(mail, "plain-text");
    expect(screen.text).toContain("The plan is at https://plans.customer.test/rollout?site=leeds for now.");
    expect(screen.links).toContainEqual({ href: "https://plans.customer.test/rollout?site=leeds", text: "https://plans.customer.test/rollout?site=leeds" });
    expect(mail.text).toContain("The plan is at https://plans.customer.test/rollout?site=leeds for now.");
  });

  it("an HTML post: its links, bold and list kept, the quote and the Gmail signature gone", async () => {
    const mail = await fromFixture("html_gmail_reply_quote_signature.eml");
    const screen = await show(mail, "html-post");
    expect(screen.text).toContain("The new dates work for us.");
    expect(screen.bold).toContain("new dates");
    expect(screen.items).toEqual(["Leeds on Monday", "York on Tuesday"]);
    expect(screen.links).toContainEqual({ href: "https://plans.customer.test/rollout", text: "https://plans.customer.test/rollout" });
    for (const gone of ["wrote:", "Could you confirm the rollout dates", "Head of Operations", "+44 113"]) {
      expect(screen.text).not.toContain(gone);
      expect(mail.text).not.toContain(gone);
    }
  });

  it("a post with an inline image: the image shows where the author put it", async () => {
    const mail = await fromFixture("html_gmail_html_only_mixed_inline_image.eml");
    const screen = await show(mail, "inline-image");
    expect(screen.text).toContain("Since the update the dashboard shows twice the real totals:");
    expect(screen.images).toEqual([{ loaded: true, width: 1 }]);
    expect(mail.text).toContain("Could you take a look?");
  });

  it("a Japanese post: the characters as written", async () => {
    const body = "お世話になっております。\n明日の打ち合わせは15時からでお願いします。詳細は https://example.jp/会議 をご覧ください。\n\n山田";
    const mail = await aliceCopyOf({ body, html: null });
    const screen = await show(mail, "japanese");
    expect(screen.text).toContain("明日の打ち合わせは15時からでお願いします。");
    expect(screen.text).toContain("山田");
    expect(screen.links.map((link) => decodeURI(link.href))).toContain("https://example.jp/会議");
  });
});

describe.skipIf(CHROMIUM)("copies rendered in headless Chromium", () => {
  it.skip("needs a chromium binary (/usr/bin/chromium; Debian: apt-get install chromium)", () => {});
});
