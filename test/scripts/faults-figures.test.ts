import { describe, expect, it } from "vitest";
import type { Snapshot } from "../../scripts/faults/database.js";
import { countFigures, table, violations } from "../../scripts/faults/figures.js";
import type { Attempt } from "../../scripts/faults/load.js";
import type { Receipt } from "../../scripts/faults/sink.js";

const attempt = (n: number, outcome: Attempt["outcome"] = "accepted"): Attempt => ({
  marker: `fault-drill-crash-1-${n}`,
  messageId: `<fault-drill-crash-1-${n}@customer.test>`,
  outcome,
  reply: outcome === "accepted" ? "250 2.0.0 Accepted" : "451 4.3.0 try later",
  at: n,
});
const receipt = (post: number, rcpt: string): Receipt => ({ messageId: `<post-${post}@faults.test>`, rcpt, marker: undefined, at: 0 });

/** Posts 1 and 2 from messages 1 and 2, each to two members; post 9 is system mail without a source. */
const snapshot: Snapshot = {
  posts: [
    { id: 1, sourceMessageId: "<fault-drill-crash-1-1@customer.test>", messageId: "<post-1@faults.test>" },
    { id: 2, sourceMessageId: "fault-drill-crash-1-2@customer.test", messageId: "<post-2@faults.test>" },
    { id: 9, sourceMessageId: null, messageId: "<post-9@faults.test>" },
  ],
  deliveries: [
    { id: 1, postId: 1, kind: "post", status: "sent", toAddress: "a@team.test", attempts: 1, postMessageId: "<post-1@faults.test>" },
    { id: 2, postId: 1, kind: "post", status: "sent", toAddress: "b@team.test", attempts: 2, postMessageId: "<post-1@faults.test>" },
    { id: 3, postId: 2, kind: "post", status: "sent", toAddress: "a@team.test", attempts: 1, postMessageId: "<post-2@faults.test>" },
    { id: 4, postId: 2, kind: "post", status: "queued", toAddress: "b@team.test", attempts: 0, postMessageId: "<post-2@faults.test>" },
    { id: 5, postId: 9, kind: "post", status: "failed", toAddress: "a@team.test", attempts: 1, postMessageId: "<post-9@faults.test>" },
  ],
};

describe("fault drill figures", () => {
  it("counts answers, finds a 250 without its post, unsent deliveries and duplicates per delivery", () => {
    const attempts = [attempt(1), attempt(2), attempt(3), attempt(4, "temporary"), attempt(5, "no_answer")];
    const receipts = [receipt(1, "a@team.test"), receipt(1, "B@team.test"), receipt(1, "b@team.test"), receipt(1, "b@team.test"), receipt(2, "a@team.test"), receipt(9, "a@team.test")];
    const figures = countFigures(attempts, snapshot, receipts);
    expect(figures).toMatchObject({ sent: 5, accepted: 3, temporary: 1, permanent: 0, noAnswer: 1 });
    // Message 3 was answered 250 and has no post; brackets around a stored Message-ID do not matter.
    expect(figures.acceptedWithoutPost).toEqual(["fault-drill-crash-1-3"]);
    // Post 9 has no inbound source: not the drill's, so its failed delivery and its copy are not counted.
    expect(figures.deliveries).toBe(4);
    expect(figures.notSent).toEqual({ queued: 1 });
    expect(figures.sentButNotReceived).toEqual([]);
    expect(figures.copiesReceived).toBe(5);
    expect([figures.duplicates, figures.duplicatedDeliveries]).toEqual([2, 1]);
    expect(violations(figures, 2)).toEqual([
      "1 message(s) answered 250 have no post: fault-drill-crash-1-3",
      "deliveries not sent: 1 queued",
    ]);
    expect(violations(figures, 1)).toContain("2 duplicate copies, more than the 1 deliveries in flight at the kills");
  });

  it("reports a delivery recorded sent whose copy the sink never received", () => {
    const figures = countFigures([attempt(1)], snapshot, [receipt(1, "a@team.test")]);
    expect(figures.sentButNotReceived).toEqual([2, 3]);
    expect(violations(figures)).toContain("2 deliveries recorded sent never reached the sink (ids 2, 3)");
  });

  it("holds when every 250 has its post and every delivery one copy", () => {
    const sentOnly: Snapshot = { posts: snapshot.posts, deliveries: snapshot.deliveries.filter((d) => d.postId === 1) };
    const figures = countFigures([attempt(1), attempt(9, "no_answer")], sentOnly, [receipt(1, "a@team.test"), receipt(1, "b@team.test")]);
    expect(violations(figures, 0)).toEqual([]);
    expect(table(["drill", "figure"], [["duplicates", "0"]])).toBe("drill       figure\n----------  ------\nduplicates       0");
  });
});
