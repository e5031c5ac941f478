import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { addUser } from "../../src/domain/users.service.js";
import { listInboundMessages } from "../../src/domain/mail-log.repo.js";
import { deliveries, posts } from "../../schema/schema.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

describe("automatic mail, loops, bounces and postmaster", () => {
  let t: TestGateway;
  let replyAddress: string;

  beforeEach(async () => {
    t = await startTestGateway();
    t.write((ctx) => {
      addUser(ctx.db, ctx.config, { email: "sam@staff.test", name: "Sam Staff", role: "admin" }, ctx.now);
      createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test"], subject: "Contract", body: "Draft attached." });
    });
    replyAddress = (await t.sink.waitFor(1))[0]!.parsed.replyTo!.value[0]!.address!;
  });
  afterEach(() => t.dispose());

  const postCount = () => t.gateway.database.db.select().from(posts).all().length;

  it.each([
    ["Auto-Submitted: auto-replied", { "Auto-Submitted": "auto-replied" }, "Re: Contract"],
    ["X-Autoreply", { "X-Autoreply": "yes" }, "Re: Contract"],
    ["Precedence: bulk", { Precedence: "bulk" }, "Re: Contract"],
    ["an out-of-office subject", {}, "Out of Office: Contract"],
    ["a German auto-reply subject", {}, "Abwesenheitsnotiz: Contract"],
  ])("accepts and ignores an auto-reply marked by %s: never posted, never answered", async (_label, headers, subject) => {
    const info = await t.send({ from: "dana@client.test", to: replyAddress, subject, text: "I am away until Monday.", headers });
    expect(info.response).toMatch(/^250 .*not posted/);
    expect(postCount()).toBe(1);
    expect(listInboundMessages(t.gateway.database.db)[0]).toMatchObject({ outcome: "ignored" });
  });

  it("posts ordinary Outlook mail even though it carries X-Auto-Response-Suppress", async () => {
    await t.send({ from: "dana@client.test", to: replyAddress, subject: "Re: Contract", text: "Looks good.", headers: { "X-Auto-Response-Suppress": "All" } });
    expect(postCount()).toBe(2);
  });

  it("drops its own mail coming back (loop guard)", async () => {
    const [copy] = t.sink.messages;
    const info = await t.send({ envelope: { from: "dana@client.test", to: [replyAddress] }, raw: copy!.raw.toString().replace(/^To: .*$/m, "To: dana@client.test") });
    expect(info.response).toMatch(/^250 .*loop/);
    expect(postCount()).toBe(1);
  });

  it("marks a delivery bounced when a DSN arrives at its VERP address", async () => {
    const [copy] = t.sink.messages;
    const bounceAddress = copy!.envelope.mailFrom;
    const info = await t.send({ envelope: { from: "", to: [bounceAddress] }, raw: fixture("bounce_dsn_hard.eml").replace("BOUNCE_ADDRESS", bounceAddress) });
    expect(info.response).toMatch(/^250 .*Delivery report recorded/);
    const [delivery] = t.gateway.database.db.select().from(deliveries).all();
    expect(delivery).toMatchObject({ status: "bounced" });
    expect(delivery!.lastError).toMatch(/5\.1\.1/);
    expect(listInboundMessages(t.gateway.database.db)[0]).toMatchObject({ outcome: "bounce" });
    expect(postCount()).toBe(1);
  });

  it("forwards mail to postmaster@ to the admins, with the original attached", async () => {
    await t.send({ from: "someone@isp.test", to: "postmaster@example.test", subject: "Your server", text: "FYI: a problem." });
    const [, forwarded] = await t.sink.waitFor(2);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(forwarded!.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(forwarded!.parsed.attachments.some((a) => a.contentType === "message/rfc822")).toBe(true);
  });
});

describe("charsets", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    t.write(({ db, config, now }) => {
      addUser(db, config, { email: "yuki@staff.test", name: "Yuki", role: "staff" }, now);
    });
    const { addGroup, addGroupMember } = await import("../../src/domain/groups.service.js");
    t.write(({ db, config, now }) => {
      addGroup(db, config, { name: "support", inbox: "support@example.test" }, now);
      addGroupMember(db, "support", "yuki@staff.test", now);
    });
  });
  afterEach(() => t.dispose());

  it("round-trips a Japanese ISO-2022-JP message with an RFC 2047 subject and sender name", async () => {
    await t.send({ envelope: { from: "tanaka@jp.test", to: ["support@example.test"] }, raw: readFileSync(new URL("../fixtures/eml/japanese_iso2022jp.eml", import.meta.url)) });
    const [copy] = await t.sink.waitFor(1);
    expect(copy!.parsed.subject).toBe("会議の日程について");
    expect(copy!.parsed.from?.value[0]?.name).toBe("田中 via support");
    expect(copy!.parsed.text).toContain("来週の火曜日は空いていますか？\nよろしくお願いします。");
    expect(copy!.parsed.html).toContain("来週の火曜日は空いていますか？");
  });

  it("round-trips UTF-8 headers and body", async () => {
    await t.send({ from: '"Zoë Ångström" <zoe@se.test>', to: "support@example.test", subject: "Größe — ça va? 😀", text: "Привет, мир. Ünïcödé ✓" });
    const [copy] = await t.sink.waitFor(1);
    expect(copy!.parsed.subject).toBe("Größe — ça va? 😀");
    expect(copy!.parsed.from?.value[0]?.name).toBe("Zoë Ångström via support");
    expect(copy!.parsed.text).toContain("Привет, мир. Ünïcödé ✓");
  });
});
