import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildConfig } from "../../../src/config/config.js";
import { silentLogger } from "../../../src/log.js";
import { DeliveryWorker } from "../../../src/outbound/delivery-worker.js";
import { createTransport } from "../../../src/outbound/transports/create-transport.js";
import { FileTransport } from "../../../src/outbound/transports/file-transport.js";
import { SmtpTransport } from "../../../src/outbound/transports/smtp-transport.js";
import { TransportThread } from "../../../src/outbound/transports/transport-thread.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { DOMAIN, getDelivery, seedDirectConversation, T0 } from "../../helpers/seed.js";

let t: TestStore;
beforeEach(async () => {
  t = await createTestStore();
});
afterEach(() => t.dispose());

describe("file transport", () => {
  it("writes each delivery as a parseable .eml named by time and delivery, creating the folder", async () => {
    const dir = join(t.dir, "outbox", "nested");
    const config = buildConfig({ gateway: { domain: DOMAIN }, outbound: { transport: "file", dir } });
    const transport = createTransport(config);
    expect(transport).toBeInstanceOf(FileTransport);
    const { delivery, post } = await seedDirectConversation(t, { subject: "週末の予定" });
    const worker = new DeliveryWorker({ store: await t.openAnother(), config, logger: silentLogger(), transport, now: () => T0 });

    await worker.pollOnce();
    await transport.close();

    const files = readdirSync(dir);
    // Only the final file: the temporary one was renamed into place.
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}Z-d${delivery.id}\\.eml$`));
    const mail = await simpleParser(readFileSync(join(dir, files[0] ?? "")));
    expect(mail.subject).toBe("週末の予定");
    expect(mail.messageId).toBe(post.messageId);
    expect(mail.to && !Array.isArray(mail.to) && mail.to.value[0]?.address).toBe("bob@elsewhere.test");
    expect(await getDelivery(t, delivery.id)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("names the file with the injected clock and a random suffix when there is no delivery id", async () => {
    const dir = join(t.dir, "plain");
    const transport = new FileTransport(dir, () => T0);
    const { response } = await transport.send({ envelope: { from: "a@b", to: ["c@d"] }, raw: Buffer.from("Subject: x\r\n\r\nx\r\n") });
    const [file] = readdirSync(dir);
    expect(file).toMatch(/^2025-01-15T09-30-00\.000Z-[0-9a-f]{12}\.eml$/);
    expect(response).toBe(`written ${join(dir, file ?? "")}`);
  });

  it("reports a folder it cannot write to as a send error", async () => {
    const blocker = join(t.dir, "not-a-folder");
    writeFileSync(blocker, "");
    await expect(
      new FileTransport(join(blocker, "outbox")).send({ envelope: { from: "a@b", to: ["c@d"] }, raw: Buffer.from("x") }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/ENOTDIR|EEXIST/) });
  });
});

describe("createTransport", () => {
  it("builds a pooled SMTP transport in a thread of its own for transport = smtp", async () => {
    const transport = createTransport(buildConfig({ gateway: { domain: DOMAIN }, outbound: { transport: "smtp", port: 2 } }));
    expect(transport).toBeInstanceOf(TransportThread);
    await transport.close();
  });

  it("keeps the SMTP transport in the calling thread with transport_thread = false", async () => {
    const transport = createTransport(buildConfig({ gateway: { domain: DOMAIN }, outbound: { transport: "smtp", port: 2, transport_thread: false } }));
    expect(transport).toBeInstanceOf(SmtpTransport);
    await transport.close();
  });
});
