import { sql, type SQL } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import type * as schema from "../../schema/schema.js";

/**
 * The drizzle handle repositories build queries with. Only `*.repo.ts` files use it; services
 * and everything above them see domain records and the Store.
 */
export type Db = BetterSQLite3Database<typeof schema>;

/** A query prepared once per connection: `.get`, `.all` and `.run` take the placeholder values. */
export interface PreparedQuery {
  get(values?: Record<string, unknown>): unknown;
  all(values?: Record<string, unknown>): unknown;
  run(values?: Record<string, unknown>): unknown;
}

type Params = Record<string, unknown>;

/** What a repository works with: one connection, inside a transaction or a read. */
export interface Tx {
  readonly db: Db;
  /** The first row of a prepared query, built on first use and kept for this connection. */
  one<Q extends PreparedQuery>(build: (db: Db) => Q, values?: Params): ReturnType<Q["get"]>;
  /** Every row of a prepared query. */
  all<Q extends PreparedQuery>(build: (db: Db) => Q, values?: Params): ReturnType<Q["all"]>;
  /** Runs a prepared write; answers how many rows it changed. */
  run<Q extends PreparedQuery>(build: (db: Db) => Q, values?: Params): number;
  /**
   * Runs part of the work in a nested savepoint: when it throws, only that part rolls back and
   * the error reaches the caller, while the rest of the transaction stays.
   */
  savepoint<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * Storage behind one interface: SQLite (embedded default, group commit) today. Every write goes
 * through `transaction`, which resolves only once its COMMIT has returned.
 */
export interface Store {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Reads outside any write transaction, never interleaved with one on the same connection. */
  read<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A placeholder usable in `update().set()`, whose types accept no bare placeholder (inserts and
 * where clauses do). Values pass to the driver as they are: only for text and number columns.
 */
export function setParam(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}
