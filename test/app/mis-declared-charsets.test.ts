// Issue 12: mis-declared charsets, recovered where a careful reader could (src/inbound/charset-repair.ts),
// sent through the gateway as real SMTP clients send them: the stored post and the subject read as
// their author wrote them, with no NUL or other control character.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findConversation } from "../../src/domain/conversations.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { findUserByEmail } from "../../src/domain/users.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/eml/${name}`, import.meta.url));
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

describe("mail whose charset label is wrong", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", name: "Alice Agent", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });
  });
  afterEach(() => t.dispose());

  async function post(file: string, from: string) {
    const info = await t.send({ envelope: { from, to: ["support@example.test"] }, raw: fixture(file) });
    expect(info.response).toMatch(/^250 2\.0\.0 Accepted: new inbox conversation for support/);
    const [first] = await t.read(({ tx }) => listPosts(tx, 1));
    const [copy] = await t.sink.waitFor(1);
    return { body: first!.body, copy: copy! };
  }

  it("quoted-printable with raw 8-bit UTF-8: stored and re-sent intact, never a NUL", async () => {
    const { body, copy } = await post("charset_qp_raw_8bit_utf8.eml", "yuki@customer.test");
    expect(body).toContain("München, Straße 1 — thank you.");
    expect(body).toContain("請把發票地址改一下：東京都千代田区一丁目 1 番地。");
    expect(body).toContain("Café — naïve — 一");
    expect(body).not.toMatch(CONTROL);
    expect(copy.parsed.text).toContain("東京都千代田区一丁目");
  });

  it("labelled Big5, written in UTF-8: read as UTF-8", async () => {
    const { body, copy } = await post("charset_big5_label_utf8_body.eml", "wei.chen@customer.test");
    expect(body).toContain("我們的訂單 7731 什麼時候發貨？請告訴我預計的到貨日期。");
    expect(copy.parsed.text).toContain("我們的訂單 7731");
  });

  it("a subject and a name in encoded words with the wrong charset and a NUL: recovered and cleaned", async () => {
    const { body, copy } = await post("subject_wrong_charset_and_nul.eml", "juergen@customer.test");
    const conversation = await t.read(({ tx }) => findConversation(tx, 1));
    expect(conversation?.subject).toBe("Rückerstattung für Bestellung 7731 / Ref 42");
    expect(await t.read(({ tx }) => findUserByEmail(tx, "juergen@customer.test"))).toMatchObject({ name: "Jürgen Weiß" });
    expect(body).toContain("bitte erstatten Sie den Betrag für Bestellung 7731.");
    expect(body).not.toMatch(CONTROL);
    expect(copy.parsed.subject).toBe("Rückerstattung für Bestellung 7731 / Ref 42");
    expect(copy.parsed.from?.value[0]?.name).toBe("Jürgen Weiß via support");
  });
});
