import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listConversationSummaries } from "../../src/domain/conversations.repo.js";
import { addUser, setUserSettings } from "../../src/domain/users.service.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

describe("writing to a member's alias (USERNAME@DOMAIN)", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@home.test", name: "Alice", username: "alice" });
      await addUser(ctx, { email: "quiet@home.test", username: "quiet" });
      await setUserSettings(ctx.tx, "quiet@home.test", { messagesEnabled: false });
    });
  });
  afterEach(() => t.dispose());

  it("starts a direct conversation with that member, without disclosing their address", async () => {
    const info = await t.send({ from: '"Bob" <bob@else.test>', to: "ALICE@example.test", subject: "Coffee?", text: "Free on Friday?" });
    // The 250 reply goes back to the sender: it names the alias, never the member's own address.
    expect(info.response).toMatch(/new direct conversation with alice@example\.test/);
    expect(info.response).not.toContain("home.test");
    const [copy] = await t.sink.waitFor(1);
    expect(copy!.envelope.rcptTo).toEqual(["alice@home.test"]);
    expect(copy!.parsed.from?.value[0]).toEqual({ address: "conversations@example.test", name: "Bob via Acme" });
    const [summary] = await t.read(({ tx }) => listConversationSummaries(tx));
    expect([summary!.conversation.kind, summary!.participants]).toEqual(["direct", 2]);

    // Bob answers Alice's reply through his own token: the conversation goes on.
    await t.send({ from: "alice@home.test", to: copy!.parsed.replyTo!.value[0]!.address!, subject: "Re: Coffee?", text: "Yes!" });
    const [, toBob] = await t.sink.waitFor(2);
    expect(toBob!.envelope.rcptTo).toEqual(["bob@else.test"]);
    expect(toBob!.raw.toString()).not.toContain("alice@home.test");
  });

  it("refuses, saying why, when the member does not accept new conversations", async () => {
    const error = await smtpError(t.send({ from: "bob@else.test", to: "quiet@example.test", subject: "Hi", text: "Hello" }));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/5\.2\.1 quiet@example\.test does not accept new conversations/);
    expect(error?.response).not.toContain("home.test");
  });
});
