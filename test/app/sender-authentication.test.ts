// SPEC §3 over SMTP: sender authentication decides whether mail without a reply token may join a
// conversation through its threading headers, and under [auth] mode = "enforce" whether a message
// whose From domain fails DMARC is taken at all. Every gateway here gets a fake DNS; none is real.

import { afterEach, describe, expect, it } from "vitest";
import { listConversationSummaries } from "../../src/domain/conversations.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { listPosts } from "../../src/domain/posts.repo.js";
import { addUser } from "../../src/domain/users.service.js";
import type { DnsResolver } from "../../src/inbound/authenticate.js";
import { dmarcPassDns } from "../helpers/dns.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

/** A gateway where Dana (a stranger at client.test) opened a conversation with support@, Mia's group. */
async function gatewayWithInboxConversation(overrides: Parameters<typeof startTestGateway>[0], resolver?: DnsResolver): Promise<TestGateway> {
  const gateway = await startTestGateway(overrides, resolver ? { resolver } : {});
  t = gateway;
  await gateway.write(async (ctx) => {
    await addUser(ctx, { email: "mia@team.test", name: "Mia Member", role: "member" });
    await addGroup(ctx, { name: "support", inbox: "support@example.test" });
    await addGroupMember(ctx, "support", "mia@team.test");
  });
  const opened = await gateway.send({ from: "dana@client.test", to: "support@example.test", subject: "Broken invoice", text: "Invoice 42 is wrong.", messageId: "<dana-1@client.test>" });
  expect(opened.response).toMatch(/new inbox conversation/);
  return gateway;
}

const conversationCount = async (g: TestGateway) => (await g.read(({ tx }) => listConversationSummaries(tx))).length;
const postBodies = async (g: TestGateway) => (await g.read(({ tx }) => listPosts(tx, 1))).map((p) => p.body);

/** Someone writing as Dana, without her token, answering her own (public enough) Message-ID. */
const forged = (to: string, n: number) => ({
  from: "Dana <dana@client.test>",
  to,
  subject: "Re: Broken invoice",
  text: `Please send the refund to account ${n}.`,
  inReplyTo: "<dana-1@client.test>",
  references: "<dana-1@client.test>",
  messageId: `<forged-${n}@attacker.test>`,
});

describe('mail without a token, [auth] thread_without_token = "authenticated" (the default)', () => {
  it("refuses a participant's From that is not authenticated, at conversations@ and at the inbox: no posting as someone else through threading", async () => {
    const g = await gatewayWithInboxConversation({});
    for (const [n, to] of [[1, "conversations@example.test"], [2, "support@example.test"]] as const) {
      const error = await smtpError(g.send(forged(to, n)));
      expect(error?.responseCode).toBe(550);
      expect(error?.response).toMatch(/5\.7\.1 This message answers the conversation "Broken invoice"/);
      expect(error?.response).toMatch(/reply to the copy of the conversation you received, whose reply address is your own/);
    }
    // Nothing was posted, and the inbox did not start a second conversation instead.
    expect(await postBodies(g)).toEqual(["Invoice 42 is wrong."]);
    expect(await conversationCount(g)).toBe(1);
    const [last] = await g.read(({ tx }) => listMailLog(tx, { limit: 1 }));
    expect(last).toMatchObject({ outcome: "rejected", smtpCode: 550, authResults: "spf=none dkim=none dmarc=none (client.test)" });
    expect(last!.reason).toMatch(/^sender_unauthenticated: /);
  });

  it("posts the same replies when the From domain passes DMARC", async () => {
    const g = await gatewayWithInboxConversation({}, dmarcPassDns(["client.test"]));
    const first = await g.send(forged("conversations@example.test", 1));
    expect(first.response).toMatch(/reply posted to conversation 1/);
    const second = await g.send(forged("support@example.test", 2));
    expect(second.response).toMatch(/reply posted to conversation 1/);
    expect(await postBodies(g)).toEqual(["Invoice 42 is wrong.", "Please send the refund to account 1.", "Please send the refund to account 2."]);
    const [last] = await g.read(({ tx }) => listMailLog(tx, { limit: 1 }));
    expect(last?.authResults).toBe("spf=pass dkim=none dmarc=pass (client.test)");
  });

  it('"participant" keeps the old rule: the unauthenticated participant From is posted', async () => {
    const g = await gatewayWithInboxConversation({ auth: { thread_without_token: "participant" } });
    const accepted = await g.send(forged("support@example.test", 1));
    expect(accepted.response).toMatch(/reply posted to conversation 1/);
  });
});

describe('[auth] mode = "enforce"', () => {
  // client.test publishes p=reject and authorizes only 192.0.2.77: mail from the test client fails DMARC.
  const failingDns = dmarcPassDns(["client.test"], "192.0.2.77");

  it("refuses a new inbox message whose From domain fails DMARC with 550 5.7.1, and logs the verdicts", async () => {
    const g = await startTestGateway({ auth: { mode: "enforce" } }, { resolver: failingDns });
    t = g;
    await g.write((ctx) => addGroup(ctx, { name: "support", inbox: "support@example.test" }));
    const error = await smtpError(g.send({ from: "dana@client.test", to: "support@example.test", subject: "Hello", text: "Hi.", messageId: "<dana-2@client.test>" }));
    expect(error?.responseCode).toBe(550);
    expect(error?.response).toMatch(/5\.7\.1 The domain of your From address \(client\.test\) failed DMARC authentication/);
    expect(await conversationCount(g)).toBe(0);
    const [entry] = await g.read(({ tx }) => listMailLog(tx, { limit: 1 }));
    expect(entry).toMatchObject({ outcome: "rejected", smtpCode: 550, authResults: "spf=fail dkim=none dmarc=fail (client.test)" });
    expect(entry!.reason).toMatch(/^sender_unauthenticated: /);

    // postmaster@ still takes it: a report of abuse must get through.
    const report = await g.send({ from: "dana@client.test", to: "postmaster@example.test", subject: "Abuse", text: "Look." });
    expect(report.response).toMatch(/^250/);
  });

  it("takes the same message under the default mode (log), recording the failed verdicts", async () => {
    const g = await startTestGateway({}, { resolver: failingDns });
    t = g;
    await g.write((ctx) => addGroup(ctx, { name: "support", inbox: "support@example.test" }));
    const accepted = await g.send({ from: "dana@client.test", to: "support@example.test", subject: "Hello", text: "Hi." });
    expect(accepted.response).toMatch(/new inbox conversation/);
    const [entry] = await g.read(({ tx }) => listMailLog(tx, { limit: 1 }));
    expect(entry?.authResults).toBe("spf=fail dkim=none dmarc=fail (client.test)");
  });
});
