import { afterEach, describe, expect, it } from "vitest";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { addGroup, addGroupMember } from "../../src/domain/groups.service.js";
import { addUser } from "../../src/domain/users.service.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { rawClient } from "../helpers/raw-smtp.js";

/** A raw SMTP client from a chosen loopback address, past the greeting. */
async function session(port: number, localAddress: string) {
  const client = await rawClient(port, localAddress);
  await client.reply();
  return { command: (line: string) => client.command(line), close: () => client.end() };
}

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

describe("XCLIENT and XFORWARD from a front MTA (auth.trusted_hosts)", () => {
  it("believe the client address a trusted host passes on, and no one else's", async () => {
    t = await startTestGateway({ auth: { trusted_hosts: ["127.0.0.1"] } });
    await t.write(async (ctx) => {
      await addUser(ctx, { email: "alice@team.test", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });

    const front = await session(t.gateway.port, "127.0.0.1");
    expect(await front.command("EHLO mx.front.test")).toMatch(/XCLIENT/);
    // Postfix's XCLIENT: the server answers with a new greeting, and the client says EHLO again.
    expect(await front.command("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]")).toMatch(/^220/);
    await front.command("EHLO mx.front.test");
    expect(await front.command("MAIL FROM:<carol@customer.test>")).toMatch(/^250/);
    expect(await front.command("RCPT TO:<support@example.test>")).toMatch(/^250/);
    expect(await front.command("DATA")).toMatch(/^354/);
    expect(await front.command("From: carol@customer.test\r\nTo: support@example.test\r\nSubject: Via the front\r\nMessage-ID: <x1@customer.test>\r\n\r\nHello.\r\n.")).toMatch(/^250/);
    front.close();
    const [entry] = await t.read(({ tx }) => listMailLog(tx));
    expect(entry?.remoteAddress).toBe("192.0.2.7");

    const stranger = await session(t.gateway.port, "127.0.0.2");
    expect(await stranger.command("EHLO somewhere.test")).not.toMatch(/XCLIENT/);
    expect(await stranger.command("XCLIENT ADDR=192.0.2.99")).toMatch(/^5\d\d/);
    stranger.close();
  });

  it("are not offered at all without trusted hosts", async () => {
    t = await startTestGateway();
    const client = await session(t.gateway.port, "127.0.0.1");
    expect(await client.command("EHLO mx.front.test")).not.toMatch(/XCLIENT|XFORWARD/);
    expect(await client.command("XCLIENT ADDR=192.0.2.7")).toMatch(/^5\d\d/);
    client.close();
  });
});
