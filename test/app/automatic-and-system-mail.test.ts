import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { listDeliveries } from "../../src/domain/deliveries.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { deliveries, posts } from "../../schema/schema.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url), "utf8");

describe("automatic mail, loops, bounces and postmaster", () => {
  let t: TestGateway;
  let replyAddress: string;

  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "sam@staff.test", name: "Sam Staff", role: "admin" });
      await createConversation(ctx, { from: "sam@staff.test", to: ["dana@client.test"], subject: "Contract", body: "Draft attached." });
    });
    replyAddress = (await t.sink.waitFor(1))[0]!.parsed.replyTo!.value[0]!.address!;
  });
  afterEach(() => t.dispose());

  const postCount = () => t.read(async ({ tx }) => (await tx.db.select().from(posts)).length);
  const mailLog = () => t.read(({ tx }) => listMailLog(tx));

  it.each([
    ["Auto-Submitted: auto-replied", { "Auto-Submitted": "auto-replied" }, "Re: Contract"],
    ["X-Autoreply", { "X-Autoreply": "yes" }, "Re: Contract"],
    ["Precedence: bulk", { Precedence: "bulk" }, "Re: Contract"],
    ["an out-of-office subject", {}, "Out of Office: Contract"],
    ["a German auto-reply subject", {}, "Abwesenheitsnotiz: Contract"],
  ])("accepts and ignores an auto-reply marked by %s: never posted, never answered", async (_label, headers, subject) => {
    const info = await t.send({ from: "dana@client.test", to: replyAddress, subject, text: "I am away until Monday.", headers });
    expect(info.response).toMatch(/^250 .*not posted/);
    expect(await postCount()).toBe(1);
    expect((await mailLog())[0]).toMatchObject({ outcome: "ignored" });
  });

  it("posts ordinary Outlook mail even though it carries X-Auto-Response-Suppress", async () => {
    await t.send({ from: "dana@client.test", to: replyAddress, subject: "Re: Contract", text: "Looks good.", headers: { "X-Auto-Response-Suppress": "All" } });
    expect(await postCount()).toBe(2);
  });

  it("drops its own mail coming back (loop guard)", async () => {
    const [copy] = t.sink.messages;
    const info = await t.send({ envelope: { from: "dana@client.test", to: [replyAddress] }, raw: copy!.raw.toString().replace(/^To: .*$/m, "To: dana@client.test") });
    expect(info.response).toMatch(/^250 .*loop/);
    expect(await postCount()).toBe(1);
  });

  it("marks a delivery bounced when a DSN arrives at its VERP address", async () => {
    const [copy] = t.sink.messages;
    const bounceAddress = copy!.envelope.mailFrom;
    const info = await t.send({ envelope: { from: "", to: [bounceAddress] }, raw: fixture("bounce_dsn_hard.eml").replace("BOUNCE_ADDRESS", bounceAddress) });
    expect(info.response).toMatch(/^250 .*Delivery report recorded/);
    const [delivery] = await t.read(({ tx }) => tx.db.select().from(deliveries));
    expect(delivery).toMatchObject({ status: "bounced" });
    expect(delivery!.lastError).toMatch(/5\.1\.1/);
    expect((await mailLog())[0]).toMatchObject({ outcome: "bounce" });
    expect(await postCount()).toBe(1);
  });

  it("a bounce report delivered twice is recorded once", async () => {
    const [copy] = t.sink.messages;
    const bounceAddress = copy!.envelope.mailFrom;
    const report = { envelope: { from: "", to: [bounceAddress] }, raw: fixture("bounce_dsn_hard.eml").replace("BOUNCE_ADDRESS", bounceAddress) };
    const first = await t.send(report);
    expect(first.response).toMatch(/^250 .*Delivery report recorded/);
    const [bounced] = await t.read(({ tx }) => tx.db.select().from(deliveries));
    const again = await t.send(report);
    expect(again.response).toMatch(/^250 .*Already received: already received as mail log entry \d+ \(bounce\)/);

    const log = await mailLog();
    expect(log.filter((m) => m.outcome === "bounce")).toHaveLength(1);
    expect(log.map((m) => m.outcome).slice(0, 2)).toEqual(["duplicate", "bounce"]);
    // The repeat changed nothing about the delivery it reports on.
    const [delivery] = await t.read(({ tx }) => tx.db.select().from(deliveries));
    expect(delivery).toEqual(bounced);
    expect(delivery).toMatchObject({ status: "bounced" });
    expect(await postCount()).toBe(1);
  });

  it("forwards mail to postmaster@ to the admins, with the original attached", async () => {
    await t.send({ from: "someone@isp.test", to: "postmaster@example.test", subject: "Your server", text: "FYI: a problem." });
    const [, forwarded] = await t.sink.waitFor(2);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(forwarded!.parsed.headers.get("auto-submitted")).toBe("auto-generated");
    expect(forwarded!.parsed.attachments.some((a) => a.contentType === "message/rfc822")).toBe(true);
  });

  it("forwards automatic mail to postmaster@ and abuse@ too (a DSN, an abuse feedback report), but never Postern's own mail coming back", async () => {
    const report = await t.send({
      from: "feedback@isp.test",
      to: "abuse@example.test",
      subject: "Abuse report",
      text: "This is an email abuse report.",
      headers: { "Auto-Submitted": "auto-generated" },
    });
    expect(report.response).toMatch(/^250 .*forwarded to Sam Staff/);
    const [, forwarded] = await t.sink.waitFor(2);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    expect(forwarded!.parsed.subject).toBe("Fwd: Abuse report");

    const loop = await t.send({ from: "conversations@example.test", to: "postmaster@example.test", subject: "Echo", text: "mine" });
    expect(loop.response).not.toMatch(/forwarded/);
    expect((await mailLog())[0]).toMatchObject({ outcome: "ignored" });
  });

  it("postmaster mail delivered twice with the same Message-ID is forwarded to the admins once", async () => {
    const mail = { from: "someone@isp.test", to: "postmaster@example.test", subject: "Your server", text: "FYI: a problem.", messageId: "<pm-1@isp.test>" };
    const first = await t.send(mail);
    expect(first.response).toMatch(/^250 .*forwarded to Sam Staff/);
    const again = await t.send(mail);
    expect(again.response).toMatch(/^250 .*Already received: already received as mail log entry \d+ \(accepted\)/);

    const [, forwarded] = await t.sink.waitFor(2);
    expect(forwarded!.envelope.rcptTo).toEqual(["sam@staff.test"]);
    // Give a second forward, had one been queued, the time to reach the relay.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(t.sink.messages).toHaveLength(2);
    const queued = await t.read(({ tx }) => listDeliveries(tx, { limit: 10 }));
    expect(queued.filter((d) => d.to === "sam@staff.test")).toHaveLength(1);
    expect((await mailLog()).map((m) => m.outcome).slice(0, 2)).toEqual(["duplicate", "accepted"]);
  });
});

describe("charsets", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "yuki@staff.test", name: "Yuki", role: "staff" });
    });
    await t.write(async (ctx) => {
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "yuki@staff.test");
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
