import Database from "better-sqlite3";

/** One post as the drills check it: which inbound message made it, and the Message-ID of its copies. */
export interface PostRow {
  readonly id: number;
  readonly sourceMessageId: string | null;
  readonly messageId: string;
}

export interface DeliveryRow {
  readonly id: number;
  readonly postId: number | null;
  readonly kind: string;
  readonly status: string;
  readonly toAddress: string;
  readonly attempts: number;
  /** The Message-ID of the post's copies; null for system mail. */
  readonly postMessageId: string | null;
}

export interface Snapshot {
  readonly posts: PostRow[];
  readonly deliveries: DeliveryRow[];
}

/**
 * The gateway's database opened read-only, as an admin would look at it; closed again at once, so
 * the drill never holds a connection the gateway could wait for.
 */
function readOnly<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    return read(db);
  } finally {
    db.close();
  }
}

export function snapshot(path: string): Snapshot {
  return readOnly(path, (db) => ({
    posts: db.prepare("SELECT id, source_message_id AS sourceMessageId, message_id AS messageId FROM posts WHERE state = 'sent'").all() as PostRow[],
    deliveries: db
      .prepare(
        `SELECT d.id, d.post_id AS postId, d.kind, d.status, d.to_address AS toAddress, d.attempts, p.message_id AS postMessageId
           FROM deliveries d LEFT JOIN posts p ON p.id = d.post_id`,
      )
      .all() as DeliveryRow[],
  }));
}

/** Deliveries claimed and not yet recorded as done: the copies a kill at this moment may send twice. */
export function inFlight(path: string): number {
  return readOnly(path, (db) => (db.prepare("SELECT count(*) AS n FROM deliveries WHERE status = 'sending'").get() as { n: number }).n);
}

/** Deliveries still to be made (queued, or claimed and not finished). */
export function outstanding(path: string): number {
  return readOnly(path, (db) => (db.prepare("SELECT count(*) AS n FROM deliveries WHERE status IN ('queued', 'sending')").get() as { n: number }).n);
}
