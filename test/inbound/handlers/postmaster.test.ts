// handlePostmaster, called directly: postmaster@ and abuse@ (RFC 5321 §4.5.1, RFC 2142) are
// forwarded to every active admin, one forward delivery each pointing at the mail-log entry.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listPosts } from "../../../src/domain/posts.repo.js";
import { findUserByEmail, updateUser } from "../../../src/domain/users.repo.js";
import { handlePostmaster } from "../../../src/inbound/handlers/postmaster.js";
import { createTestStore, type TestStore } from "../../helpers/database.js";
import { allDeliveries, buildMime, DOMAIN, prepareInbound, runInbound, seedUser, T0 } from "../../helpers/seed.js";

const POSTMASTER = `postmaster@${DOMAIN}`;
const T1 = T0 + 60_000;

let t: TestStore;

beforeEach(async () => {
  t = await createTestStore();
});

afterEach(async () => {
  await t.dispose();
});

const complaint = (to = POSTMASTER) =>
  buildMime({ from: "Remote Admin <admin@remote.test>", to, subject: "Your server sends us spam", body: "Please look into it." });

async function send(address = POSTMASTER) {
  const inbound = await prepareInbound(t.config, complaint(address), address);
  return runInbound(t, inbound, async (ctx) => ({ outcome: await handlePostmaster(ctx, address), inboundId: ctx.inboundId }), T1);
}

describe("handlePostmaster", () => {
  it("queues one forward delivery per active admin, none for others, and names the admins in the reason", async () => {
    const ada = await seedUser(t, "ada@team.test", "Ada Admin", "admin");
    const abe = await seedUser(t, "abe@team.test", null, "admin");
    await seedUser(t, "sam@team.test", "Sam Staff", "staff");
    await seedUser(t, "mia@team.test", "Mia Member");
    const gone = await seedUser(t, "old@team.test", "Old Admin", "admin");
    await t.write(({ tx }) => updateUser(tx, gone.id, { status: "suspended" }));

    const { outcome, inboundId } = await send();

    expect(outcome).toEqual({ outcome: "accepted", reason: `mail to ${POSTMASTER} forwarded to Ada Admin, abe` });
    const rows = await allDeliveries(t);
    expect(rows.map((d) => [d.kind, d.recipientId, d.toAddress, d.inboundId, d.postId, d.conversationId, d.status, d.createdAt])).toEqual([
      ["forward", ada.id, "ada@team.test", inboundId, null, null, "queued", T1],
      ["forward", abe.id, "abe@team.test", inboundId, null, null, "queued", T1],
    ]);
    // Each forward has its own VERP bounce token.
    expect(new Set(rows.map((d) => d.bounceToken)).size).toBe(2);
  });

  it("forwards abuse@ the same way, naming that address", async () => {
    await seedUser(t, "ada@team.test", "Ada Admin", "admin");
    const { outcome } = await send(`abuse@${DOMAIN}`);
    expect(outcome.reason).toBe(`mail to abuse@${DOMAIN} forwarded to Ada Admin`);
    expect(await allDeliveries(t)).toHaveLength(1);
  });

  it("with no active admin, accepts the message and keeps it in the mail log, saying so", async () => {
    await seedUser(t, "sam@team.test", "Sam Staff", "staff");
    const { outcome } = await send();
    expect(outcome).toEqual({ outcome: "accepted", reason: `mail to ${POSTMASTER} kept in the mail log: there is no admin to forward it to` });
    expect(await allDeliveries(t)).toEqual([]);
  });

  it("creates no conversation and stages no user for the sender", async () => {
    await seedUser(t, "ada@team.test", "Ada Admin", "admin");
    await send();
    expect(await t.read(({ tx }) => tx.db.query.conversations.findMany())).toEqual([]);
    expect(await t.read(({ tx }) => findUserByEmail(tx, "admin@remote.test"))).toBeUndefined();
    expect(await t.read(({ tx }) => listPosts(tx, 1))).toEqual([]);
  });
});
