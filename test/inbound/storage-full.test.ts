import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listMailLog } from "../../src/domain/mail-log.repo.js";
import { smtpError, startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { ENGINE } from "../helpers/postgres.js";

// SQLite only: the full disk is the inbound connection's max_page_count pinned at the database's size.
describe.skipIf(ENGINE === "postgres")("a full disk", () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway({ limits: { max_temporary_failures: 2 } });
    await t.write(async (ctx) => {
      const { addUser } = await import("../../src/domain/users.service.js");
      const { addGroup, addGroupMember } = await import("../../src/domain/groups.service.js");
      await addUser(ctx, { email: "alice@team.test", name: "Alice", role: "staff" });
      await addGroup(ctx, { name: "support", inbox: "support@example.test" });
      await addGroupMember(ctx, "support", "alice@team.test");
    });
  });
  afterEach(() => t.dispose());

  /** `room` more pages than the database has now: enough for a refusal's mail-log entry, not for the message. */
  const limitPages = (room: number) =>
    t.write(async ({ tx }) => {
      const [row] = (await tx.db.all(sql.raw("PRAGMA page_count"))) as { page_count: number }[];
      await tx.db.run(sql.raw(`PRAGMA max_page_count = ${row!.page_count + room}`));
    });

  it("disk full: inbound answers 451 4.3.0 however often the message is retried, and accepts it once there is space", async () => {
    await limitPages(12);
    const mail = {
      from: "carol@customer.test",
      to: "support@example.test",
      subject: "While the disk is full",
      text: `Order 1234.\n${"A line of text that takes up room in the database.\n".repeat(1000)}`,
      messageId: "<disk-full@customer.test>",
    };
    // More tries than limits.max_temporary_failures: a full disk is not the message's fault, so never 554.
    for (let i = 0; i < 4; i++) {
      const error = await smtpError(t.send(mail));
      expect(error?.responseCode).toBe(451);
      expect(error?.response).toMatch(/4\.3\.0 Postern's storage is full, so this message was not stored; please try again later\./);
    }
    // More 451s than the limit were recorded with the message's Message-ID (the last may not have
    // fitted), yet none counted towards repeated_failure.
    const refused = (await t.read(({ tx }) => listMailLog(tx))).filter((m) => m.smtpCode === 451);
    expect(refused.length).toBeGreaterThan(2);
    for (const entry of refused) {
      expect(entry).toMatchObject({ messageId: "<disk-full@customer.test>", reason: "storage_full: Postern's storage is full, so this message was not stored; please try again later." });
    }
    await limitPages(1_000_000);
    const accepted = await t.send(mail);
    expect(accepted.response).toMatch(/^250 2\.0\.0 Accepted/);
    const posts = await t.read(({ tx }) => tx.rows((db, tt) => db.select().from(tt.posts)));
    expect(posts.map((p) => p.sourceMessageId)).toEqual(["<disk-full@customer.test>"]);
    const log = await t.read(({ tx }) => listMailLog(tx));
    expect(log.some((m) => m.outcome === "accepted")).toBe(true);
  });
});
