import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { rawClient, type RawClient } from "../helpers/raw-smtp.js";

/** Connects and says EHLO before any greeting could have been read. */
async function talkFirst(port: number): Promise<RawClient> {
  const client = await rawClient(port);
  client.write("EHLO early.test\r\n");
  return client;
}

describe("smtp.greeting_delay", () => {
  let t: TestGateway | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.end();
    await t?.dispose();
    t = undefined;
  });

  it("greets at once with 0: a client talking straight after connecting is served, not refused", async () => {
    t = await startTestGateway({ smtp: { greeting_delay: "0ms" } });
    const client = await talkFirst(t.gateway.port);
    clients.push(client);
    expect(await client.reply()).toMatch(/^220 /);
    expect(await client.reply()).toMatch(/^250/);
  });

  it("keeps the early-talker refusal with the default delay", async () => {
    t = await startTestGateway();
    expect(t.config.smtp.greeting_delay).toBe(100);
    const client = await talkFirst(t.gateway.port);
    clients.push(client);
    expect(await client.reply()).toMatch(/^421 .*You talk too soon/);
  });

  it("honours a delay longer than the library's: talking after 150 ms of 1 s is still too soon", async () => {
    t = await startTestGateway({ smtp: { greeting_delay: "1s" } });
    const early = await rawClient(t.gateway.port);
    clients.push(early);
    await new Promise((resolve) => setTimeout(resolve, 150));
    early.write("EHLO early.test\r\n");
    expect(await early.reply()).toMatch(/^421 .*You talk too soon/);

    const patient = await rawClient(t.gateway.port);
    clients.push(patient);
    expect(await patient.reply()).toMatch(/^220 /);
    expect(await patient.command("EHLO patient.test")).toMatch(/^250/);
  });

  it("leaves other smtp-server instances in the process at the library's own delay", async () => {
    t = await startTestGateway({ smtp: { greeting_delay: "0ms" } });
    const bare = new SMTPServer({ authOptional: true, disabledCommands: ["AUTH", "STARTTLS"], logger: false });
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
    try {
      const client = await talkFirst((bare.server.address() as AddressInfo).port);
      clients.push(client);
      expect(await client.reply()).toMatch(/^421 .*You talk too soon/);
    } finally {
      await new Promise<void>((resolve) => bare.close(() => resolve()));
    }
  });
});
