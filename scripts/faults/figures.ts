import type { Snapshot } from "./database.js";
import type { Attempt } from "./load.js";
import type { Receipt } from "./sink.js";

/** What a drill proves, counted from what the clients were told, the database, and the sink. */
export interface Figures {
  readonly sent: number;
  readonly accepted: number;
  readonly temporary: number;
  readonly permanent: number;
  readonly noAnswer: number;
  /** Messages answered 250 that have no post: lost mail. Must be empty. */
  readonly acceptedWithoutPost: string[];
  /** Deliveries of those posts (and of any other post) in the database. */
  readonly deliveries: number;
  /** Deliveries not sent (queued, sending, failed, …), by status. Must be empty. */
  readonly notSent: Record<string, number>;
  /** Deliveries recorded sent of which the sink has no copy: copies lost on the way. Must be empty. */
  readonly sentButNotReceived: number[];
  /** Copies the sink received of drill posts. */
  readonly copiesReceived: number;
  /** Copies beyond the first per delivery (same Message-ID to the same recipient). */
  readonly duplicates: number;
  /** Deliveries that got more than one copy. */
  readonly duplicatedDeliveries: number;
}

/** Post and recipient: one delivery, one copy expected. */
const deliveryKey = (messageId: string, rcpt: string) => `${messageId} ${rcpt.toLowerCase()}`;
const bare = (messageId: string | null) => (messageId ?? "").replace(/^<|>$/g, "");

export function countFigures(attempts: readonly Attempt[], snapshot: Snapshot, receipts: readonly Receipt[]): Figures {
  const bySource = new Set(snapshot.posts.map((p) => bare(p.sourceMessageId)));
  const accepted = attempts.filter((a) => a.outcome === "accepted");
  const drillPosts = new Map(snapshot.posts.filter((p) => p.sourceMessageId !== null).map((p) => [p.id, p]));
  const deliveries = snapshot.deliveries.filter((d) => d.postId !== null && drillPosts.has(d.postId));

  const copies = new Map<string, number>();
  for (const r of receipts) copies.set(deliveryKey(r.messageId, r.rcpt), (copies.get(deliveryKey(r.messageId, r.rcpt)) ?? 0) + 1);
  const postMessageIds = new Set(deliveries.map((d) => d.postMessageId ?? ""));

  const notSent: Record<string, number> = {};
  const sentButNotReceived: number[] = [];
  for (const d of deliveries) {
    if (d.status !== "sent") notSent[d.status] = (notSent[d.status] ?? 0) + 1;
    else if (!copies.has(deliveryKey(d.postMessageId ?? "", d.toAddress))) sentButNotReceived.push(d.id);
  }
  let copiesReceived = 0;
  let duplicates = 0;
  let duplicatedDeliveries = 0;
  for (const [key, n] of copies) {
    if (!postMessageIds.has(key.slice(0, key.indexOf(" ")))) continue;
    copiesReceived += n;
    duplicates += n - 1;
    if (n > 1) duplicatedDeliveries++;
  }
  return {
    sent: attempts.length,
    accepted: accepted.length,
    temporary: attempts.filter((a) => a.outcome === "temporary").length,
    permanent: attempts.filter((a) => a.outcome === "permanent").length,
    noAnswer: attempts.filter((a) => a.outcome === "no_answer").length,
    acceptedWithoutPost: accepted.filter((a) => !bySource.has(bare(a.messageId))).map((a) => a.marker),
    deliveries: deliveries.length,
    notSent,
    sentButNotReceived,
    copiesReceived,
    duplicates,
    duplicatedDeliveries,
  };
}

/** The failures a drill reports, in sentences; empty when everything held. */
export function violations(figures: Figures, duplicateBound?: number): string[] {
  const found: string[] = [];
  if (figures.acceptedWithoutPost.length) {
    found.push(`${figures.acceptedWithoutPost.length} message(s) answered 250 have no post: ${figures.acceptedWithoutPost.slice(0, 5).join(", ")}`);
  }
  const notSent = Object.entries(figures.notSent);
  if (notSent.length) found.push(`deliveries not sent: ${notSent.map(([status, n]) => `${n} ${status}`).join(", ")}`);
  if (figures.sentButNotReceived.length) {
    found.push(`${figures.sentButNotReceived.length} deliveries recorded sent never reached the sink (ids ${figures.sentButNotReceived.slice(0, 5).join(", ")})`);
  }
  if (duplicateBound !== undefined && figures.duplicates > duplicateBound) {
    found.push(`${figures.duplicates} duplicate copies, more than the ${duplicateBound} deliveries in flight at the kills`);
  }
  return found;
}

/** A plain text table: the first column left-aligned, the rest right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
