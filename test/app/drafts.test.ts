import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConversation } from "../../src/domain/conversations.commands.js";
import { findParticipant } from "../../src/domain/conversations.repo.js";
import { editDraft, sendDraft } from "../../src/domain/drafts.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

/** The worker polls every 200ms in tests: a few rounds are enough to see that nothing goes out. */
const SEVERAL_POLLS_MS = 1500;

describe("a draft over real SMTP", () => {
  let t: TestGateway;

  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@example.test", name: "Alice Example", role: "staff" });
      await addUser(ctx, { email: "bob@example.test", name: "Bob Builder" });
    });
  });
  afterEach(() => t.dispose());

  it("sends nothing while it is a draft, refuses mail to its tokens, and goes out as last edited once sent", async () => {
    const { conversation } = await t.write((ctx) =>
      createConversation(ctx, { from: "alice@example.test", to: ["bob@example.test", "carol@else.test"], subject: "Offsite", body: "First idea.", draft: true }),
    );
    await t.write((ctx) => editDraft(ctx, conversation.id, { subject: "Offsite in May", body: "Second idea: the lake." }));
    const bobToken = await t.read(async ({ tx }) => {
      const bob = await tx.db.query.users.findFirst({ where: (u, { eq }) => eq(u.email, "bob@example.test") });
      return (await findParticipant(tx, conversation.id, bob?.id ?? 0))?.replyToken;
    });
    const refused = await smtpError(t.send({ from: "bob@example.test", to: `reply+${bobToken}@example.test`, subject: "Guess", text: "Found it?" }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toMatch(/5\.1\.1/);
    expect(refused?.response).not.toContain("Offsite");

    await new Promise((resolve) => setTimeout(resolve, SEVERAL_POLLS_MS));
    expect(t.sink.messages).toEqual([]);

    await t.write((ctx) => sendDraft(ctx, conversation.id));
    const copies = await t.sink.waitFor(2);
    expect(copies.map((m) => m.envelope.rcptTo[0]).sort()).toEqual(["bob@example.test", "carol@else.test"]);
    for (const copy of copies) {
      expect(copy.parsed.subject).toBe("Offsite in May");
      expect(copy.parsed.text).toContain("Second idea: the lake.");
      expect(copy.parsed.text).not.toContain("First idea.");
    }
    // Now Bob's token works: his answer reaches Alice.
    const reply = await t.send({ from: "bob@example.test", to: `reply+${bobToken}@example.test`, subject: "Re: Offsite in May", text: "Count me in." });
    expect(reply.response).toMatch(/^250 /);
    const answers = (await t.sink.waitFor(4)).slice(2);
    expect(answers.map((m) => m.envelope.rcptTo[0]).sort()).toEqual(["alice@example.test", "carol@else.test"]);
    expect(answers[0]?.parsed.text).toContain("Count me in.");
  });
});
